import ConceptModel
import Foundation
import Media
import Testing
@testable import Learner

/// Does online training make `q_v^d` carry motion? Trains the reduced tiny preset on a generated stream (decoded clips
/// → replay buffer → `Trainer`, as the daemon does) and probes the motion label of a disjoint generated set against
/// the random-initialised encoder of the same seed.
///
/// The configuration is the spec's option `nce = 1` (the InfoNCE term between `v` and `d` of the authors' code) with
/// no feature queue (`queue_length = 0`). With the paper's defaults the swapped prediction has nothing to start
/// from at this scale: `v` and `d` features of a clip are unrelated at init, both code vectors flatten (their spread
/// over concepts falls to ~0.01 against Sinkhorn's `eps = 0.05`), the targets go uniform and `q_v^d` stays at chance
/// through 1500 steps. InfoNCE ties each clip's `v` to its own `d` first, and then the Sinkhorn targets become
/// motion-pure and `q_v^d` predicts them. A queue of features from the fast-moving encoder (there is no momentum
/// encoder) makes InfoNCE collapse instead: each term rises to exactly `log(N + queue)`, chance. Measured in
/// `bench/RESULTS-learn.md` ("Why").
///
/// `CONCEPT_LEARNING_STEPS` overrides the step count (default 250, about 50 s). `make test` runs this suite on its own
/// after the others: a minute of both cores beside the timing-sensitive media suites made them miss their deadlines.
@Suite(.serialized)
struct LearningProbeTests {
    /// The smallest improvement over random init that noise cannot explain: with `classes` balanced classes and `n`
    /// test clips, an accuracy near chance `p = 1/classes` has standard deviation `σ = √(p(1−p)/n)`; the difference of
    /// two such accuracies (trained, random init) spreads by `√2 σ` when training changed nothing, so `3 √2 σ` is
    /// passed by chance with probability below 0.2 %.
    static func margin(classes: Int, testClips n: Int) -> Double {
        let p = 1 / Double(classes)
        return 3 * (2 * p * (1 - p) / Double(n)).squareRoot()
    }

    @Test func marginFollowsTheTestSetSize() {
        #expect(abs(Self.margin(classes: 2, testClips: 96) - 0.2165) < 1e-3)
        #expect(Self.margin(classes: 2, testClips: 384) < Self.margin(classes: 2, testClips: 96) / 1.9)
    }

    @Test func motionProbeOnDynamicCodesBeatsRandomInit() throws {
        MediaLibrary.routeLibavLogs(to: nil, level: .quiet)
        let root = try temporaryDirectory("learning-probe")
        defer { try? FileManager.default.removeItem(at: root) }
        let steps = ProcessInfo.processInfo.environment["CONCEPT_LEARNING_STEPS"].flatMap(Int.init) ?? 250
        var config = try reducedTinyConfig(frames: 4, side: 32, concepts: 8)
        config.learningRate = 0.02
        config.nce = 1
        config.queueLength = 0
        // Motions `still` and `translate-right`; 6-frame videos, so a 5-frame clip moves by about 1.7 pixels a frame.
        let size = SyntheticDataset.Size(width: 32, height: 32)
        let probe = try SyntheticDataset.generate(directory: root.path + "/probe", backgrounds: 2, motions: 2, clipsPerPair: 48,
                                                  size: size, frames: 6, seed: 1002, testFraction: 0.5)
        let stream = try SyntheticDataset.generate(directory: root.path + "/stream", backgrounds: 2, motions: 2, clipsPerPair: 32,
                                                   size: size, frames: 6, seed: 1001, testFraction: 0)
        let set = try ProbeSet.load(from: URL(fileURLWithPath: probe.manifestPath))
        let evaluator = try ProbeEvaluator(set: set, config: config, seed: 7)

        let clips = try ProbeClipReader.read(paths: stream.items.map { root.path + "/stream/" + $0.path },
                                             options: evaluator.clipOptions, positions: [0.3, 0.7]).flatMap { $0 }
        let replay = ReplayBuffer(capacity: clips.count, policy: .fifo, seed: 1)
        var rng = TestRandom(5)
        for (i, c) in clips.enumerated() {
            replay.add(ReplayClip(data: c.data, staticIndex: rng.below(config.frames), source: "stream-\(i % 4)"))
        }
        let trainer = try Trainer(config: config, batchSize: 16, warmupSteps: 100, seed: 7, store: nil)
        let start = Date()
        for _ in 0..<steps {
            guard case .stepped = try trainer.step(from: replay) else { Issue.record("a training step did not apply"); return }
        }
        let trainSeconds = Date().timeIntervalSince(start)
        let result = try evaluator.evaluate(stateDict: trainer.learner.model.stateDict(), step: trainer.state.step)
        let base = try evaluator.baseline()
        let trained = try #require(result.row("motion", .qVd)), random = try #require(base.row("motion", .qVd))
        let margin = Self.margin(classes: set.classes(1).count, testClips: result.testClips)
        print("learning probe: \(steps) steps in \(String(format: "%.0f", trainSeconds)) s; motion on q_v^d \(trained.accuracy) vs random init \(random.accuracy) (margin \(String(format: "%.3f", margin)), chance \(trained.chance))")
        print(result.table(.accuracy, baseline: base))
        #expect(trained.accuracy - random.accuracy >= margin,
                "q_v^d motion probe \(trained.accuracy) does not beat random init \(random.accuracy) by \(margin)")
    }
}
