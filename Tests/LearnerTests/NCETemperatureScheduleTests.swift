import ConceptModel
import Foundation
import Testing
import ConceptTestSupport
import SeededRandom
import TensorKernels
@testable import Learner

/// The InfoNCE temperature schedule (`nce_tau_start`, `nce_tau_steps`; docs/method-options.md): the formula, its
/// validation and metadata, that the loss uses the step's temperature, and that the trainer sets it step by step.
@Suite struct NCETemperatureScheduleTests {
    static func scheduled(start: Scalar = 0.2, end: Scalar = 0.05, steps: Int = 100) -> ModelConfig {
        var c = ModelConfig()
        c.nceTau = end; c.nceTauStart = start; c.nceTauSteps = steps
        return c
    }

    @Test func offIsTheConfiguredTemperatureAtEveryStep() {
        var c = ModelConfig()
        c.nceTau = 0.11
        for step in [1, 2, 500, 1 << 40] { #expect(c.nceTemperature(step: step) == 0.11) }
    }

    @Test func itFallsGeometricallyFromTheStartToNceTauThenStays() {
        let c = Self.scheduled()
        #expect(c.nceTemperature(step: 1) == 0.2)
        #expect(abs(c.nceTemperature(step: 51) - 0.1) < 1e-6, "half way: the geometric mean of 0.2 and 0.05")
        #expect(abs(c.nceTemperature(step: 26) - 0.2 * pow(0.25, 0.25)) < 1e-6)
        #expect(abs(c.nceTemperature(step: 101) - 0.05) < 1e-7)
        for step in [102, 10_000, 1 << 40] { #expect(c.nceTemperature(step: step) == 0.05) }
        var previous = c.nceTemperature(step: 1)
        for step in 2...101 {
            let t = c.nceTemperature(step: step)
            #expect(t < previous)
            previous = t
        }
        // A start below nce_tau rises the same way.
        let rising = Self.scheduled(start: 0.05, end: 0.2)
        #expect(rising.nceTemperature(step: 1) == 0.05 && abs(rising.nceTemperature(step: 101) - 0.2) < 1e-7)
    }

    @Test func aStartWithoutStepsOrNegativeValuesAreRefused() {
        var c = ModelConfig()
        c.nceTauStart = 0.2
        #expect(throws: ModelError.self) { try c.validate() }
        c.nceTauSteps = -1
        #expect(throws: ModelError.self) { try c.validate() }
        c.nceTauStart = -0.2; c.nceTauSteps = 10
        #expect(throws: ModelError.self) { try c.validate() }
        #expect(throws: ModelError.self) { try ModelConfig(metadata: ["nce_tau_start": "0.2"]) }
        #expect(throws: ModelError.self) { try ModelConfig(metadata: ["nce_tau_start": "0.2", "nce_tau_steps": "ten"]) }
    }

    @Test func metadataRoundTripsAndStaysSilentWhenOff() throws {
        let c = Self.scheduled(steps: 400)
        #expect(try ModelConfig(metadata: c.metadata) == c)
        #expect(c.metadata["nce_tau_start"] == "0.2" && c.metadata["nce_tau_steps"] == "400")
        let off = ModelConfig().metadata
        #expect(off["nce_tau_start"] == nil && off["nce_tau_steps"] == nil, "configuration hashes of existing snapshots do not change")
        var paper = c
        paper.apply(method: ModelConfig.Method.paper)
        #expect(paper.nceTauStart == 0 && paper.nceTauSteps == 0, "method = paper switches it off")
    }

    @Test func theLossUsesTheLearnersTemperature() throws {
        var base = try reducedTinyConfig(frames: 2, side: 16, concepts: 4)
        base.apply(method: .conceptd)
        var rng = SeededGenerator(seed: 5)
        let frames = try randomFrames(2, base, &rng)
        var hot = base
        hot.nceTau = 0.3
        let expected = try ConceptLearner(config: hot, seed: 1).forward(frames: frames, staticIndex: [0, 1], useLocal: true).losses
        let learner = try ConceptLearner(config: base, seed: 1)
        #expect(learner.nceTemperature == base.nceTau)
        let before = try learner.forward(frames: frames, staticIndex: [0, 1], useLocal: true).losses
        learner.nceTemperature = 0.3
        let after = try learner.forward(frames: frames, staticIndex: [0, 1], useLocal: true).losses
        #expect(after.nce == expected.nce && after.nceStatic == expected.nceStatic)
        #expect(after.nce != before.nce && after.nceStatic != before.nceStatic)
        #expect(after.aln == before.aln, "the swapped prediction's temperature is tau, not nce_tau")
        let scheduled = try ConceptLearner(config: { var c = base; c.nceTauStart = 0.3; c.nceTauSteps = 10; return c }(), seed: 1)
        #expect(scheduled.nceTemperature == 0.3, "a fresh learner starts at the first step's temperature")
    }

    @Test func theTrainerSetsTheTemperatureOfEachStep() throws {
        var config = try reducedTinyConfig(frames: 2, side: 16, concepts: 4)
        config.apply(method: .conceptd)
        config.nceTauStart = 0.2; config.nceTauSteps = 3
        let trainer = try Trainer(config: config, batchSize: 2, warmupSteps: 0, seed: 3, store: nil)
        var rng = SeededGenerator(seed: 9)
        var used: [Scalar] = []
        for _ in 0..<5 {
            _ = try trainer.step(frames: randomFrames(2, config, &rng))
            used.append(trainer.learner.nceTemperature)
        }
        #expect(used == (1...5).map { config.nceTemperature(step: $0) })
        #expect(used[0] == 0.2 && abs(used[3] - config.nceTau) < 1e-7 && used[4] == used[3])
    }
}
