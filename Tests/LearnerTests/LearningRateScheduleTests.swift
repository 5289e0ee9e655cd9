import ConceptModel
import Testing
import ConceptTestSupport
import SeededRandom
@testable import Learner

/// The learning-rate schedules: the formula, its validation, and that the trainer applies it step by step (so a
/// resumed run continues on the same curve).
@Suite struct LearningRateScheduleTests {
    @Test func constantIsTheConfiguredRate() {
        for step in [1, 10, 1_000_000] { #expect(LearningRateSchedule.constant.rate(base: 0.01, step: step) == 0.01) }
    }

    @Test func inverseSquareRootHoldsThenFallsAsOneOverTheRootOfTheStep() {
        let s = LearningRateSchedule.inverseSquareRoot(hold: 100)
        #expect(s.rate(base: 0.04, step: 1) == 0.04)
        #expect(s.rate(base: 0.04, step: 100) == 0.04)
        #expect(abs(s.rate(base: 0.04, step: 400) - 0.02) < 1e-7)
        #expect(abs(s.rate(base: 0.04, step: 10_000) - 0.004) < 1e-7)
        #expect(s.rate(base: 0.04, step: 1 << 40) > 0, "never zero")
        var previous = s.rate(base: 0.04, step: 100)
        for step in stride(from: 101, through: 5000, by: 7) {
            let r = s.rate(base: 0.04, step: step)
            #expect(r < previous)
            previous = r
        }
    }

    @Test func aHoldBelowOneStepIsRefused() {
        #expect(throws: TrainerError.self) { try LearningRateSchedule.inverseSquareRoot(hold: 0).validate() }
        #expect(throws: TrainerError.self) {
            try Trainer(config: reducedTinyConfig(), batchSize: 2, warmupSteps: 0, seed: 1, store: nil,
                        schedule: .inverseSquareRoot(hold: 0))
        }
    }

    @Test func theTrainerSetsTheRateOfEachStep() throws {
        var config = try reducedTinyConfig(frames: 2, side: 16, concepts: 4)
        config.learningRate = 0.05
        let trainer = try Trainer(config: config, batchSize: 2, warmupSteps: 0, seed: 3, store: nil,
                                  schedule: .inverseSquareRoot(hold: 2))
        var rng = SeededGenerator(seed: 9)
        var rates: [Float] = []
        for _ in 0..<5 {
            _ = try trainer.step(frames: randomFrames(2, config, &rng))
            rates.append(Float(trainer.learner.optimizer.learningRate))
        }
        let expected = (1...5).map { Float(LearningRateSchedule.inverseSquareRoot(hold: 2).rate(base: 0.05, step: $0)) }
        #expect(rates == expected)
    }
}
