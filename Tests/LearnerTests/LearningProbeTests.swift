import ConceptModel
import Foundation
import Media
import Testing
import ConceptTestSupport
import SeededRandom
@testable import Learner
import LibAV
import SyntheticVideo

/// Does online training with the default method learn what it should? Trains the reduced tiny preset (5 x 32 x 32
/// clips, 8 + 8 concepts) with `method = conceptd` (the daemon's default, its learning rate and schedule) on a
/// generated stream of 256 videos with flicker and sensor noise (decoded clips → replay buffer → `Trainer`, as the
/// daemon does): 400 steps of 16 clips. It then probes a disjoint generated set (768 test clips, so the margin is 7.7
/// points) against the random-initialised encoder of the same seed: the motion label on `q_v^d` must be gained, and
/// the background label on `q_v^s` must not be lost, each by a margin derived from the test-set size. Only `v`,
/// `q_v^s` and `q_v^d` are probed. About 115 s on an Intel Xeon's two cores (2026-12-06: 105 s of training, 3 s of
/// data, 8 s of probes).
///
/// At this scale the motion gain depends on the seed and, through rounding, on the machine (`bench/RESULTS-learn.md`,
/// "The learning test"): with OpenBLAS on its Haswell kernels seeds 7 / 8 / 9 / 12 gain +8.3 / +31.3 / +15.2 / +39.2
/// points; 300 steps or halved widths fail at some of them. The test pins seed 8.
///
/// `CONCEPT_LEARNING_STEPS` and `CONCEPT_LEARNING_SEED` override the step count and the seed, the `CONCEPT_LT_*`
/// variables the data and the model (see below); `CONCEPT_LT_PREVIOUS_DEFAULT=1` trains the previous default instead,
/// to compare. `make test` runs this suite on its own after the others: both cores beside the timing-sensitive media
/// suites made them miss their deadlines.
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

    @Test func theDefaultMethodGainsMotionOnDynamicCodesAndKeepsTheBackgroundOnStaticCodes() throws {
        MediaLibrary.routeLibavLogs(to: nil, level: .quiet)
        let began = Date()
        let root = try temporaryDirectory("learning-probe")
        defer { try? FileManager.default.removeItem(at: root) }
        let method = ModelConfig.Method.conceptd
        let steps = ProcessInfo.processInfo.environment["CONCEPT_LEARNING_STEPS"].flatMap(Int.init) ?? 400
        let seed = ProcessInfo.processInfo.environment["CONCEPT_LEARNING_SEED"].flatMap(UInt64.init) ?? 8
        var config = try reducedTinyConfig(frames: 4, side: 32, concepts: 8)
        config.apply(method: method)
        if ProcessInfo.processInfo.environment["CONCEPT_LT_PREVIOUS_DEFAULT"] == "1" {
            // Measurement only: the default before the conceptd method (the paper's options with InfoNCE v↔d, no queue).
            config.apply(method: .paper)
            (config.nce, config.nceQueue) = (1, false)
        }
        (config.ks, config.kd, config.topK) = (8, 8, 3)
        if let widths = ProcessInfo.processInfo.environment["CONCEPT_LT_WIDTHS"] {
            config.widths = try widths.split(separator: ",").map { w in
                guard let n = Int(w) else { throw TestFailure("CONCEPT_LT_WIDTHS takes four integers, got \(widths)") }
                return n
            }
            try config.validate()
        }
        if let settings = ProcessInfo.processInfo.environment["CONCEPT_LT_SET"] {
            // Model options as KEY=VALUE,KEY=VALUE with concept-bench learn's --set keys.
            var m: [String: String] = [:]
            for item in settings.split(separator: ",") {
                let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { throw TestFailure("CONCEPT_LT_SET takes KEY=VALUE pairs, got \(item)") }
                m[kv[0]] = kv[1]
            }
            try config.apply(overrides: m)
        }
        // Backgrounds noise and grating-45, motions still and translate-right, 64 stream videos per pair (256 in all:
        // with 32 a pair, 256 clips seen 25 times each, seed 9 learned no motion); 6-frame videos, so a 5-frame clip
        // moves by about 1.7 pixels a frame.
        let size = SyntheticDataset.Size(width: 32, height: 32)
        // Measurement knobs (bench/RESULTS-learn.md, "The learning test"): CONCEPT_LT_MOTIONS (names, comma-separated),
        // CONCEPT_LT_SHAKE (pixels of camera shake), CONCEPT_LT_BATCH, CONCEPT_LT_PROBE (probe clips per pair),
        // CONCEPT_LT_STREAM (stream videos per pair); above, CONCEPT_LT_WIDTHS (four widths) and CONCEPT_LT_SET
        // (model options, KEY=VALUE,...).
        let env = ProcessInfo.processInfo.environment
        let motions: [SyntheticMotion] = try env["CONCEPT_LT_MOTIONS"].map { list in
            try list.split(separator: ",").map { name in
                guard let m = SyntheticMotion.allCases.first(where: { $0.name == name }) else { throw TestFailure("unknown motion \(name)") }
                return m
            }
        } ?? [.still, .translateRight]
        // Flicker and sensor noise, no sway: measured without sway only at 64 stream videos per pair (RESULTS-learn.md).
        var nuisance = SyntheticNuisance.camera
        nuisance.shake = 0
        if let shake = env["CONCEPT_LT_SHAKE"].flatMap(Double.init) { nuisance.shake = shake }
        let batch = env["CONCEPT_LT_BATCH"].flatMap(Int.init) ?? 16
        let probeClips = env["CONCEPT_LT_PROBE"].flatMap(Int.init) ?? 384
        let streamClips = env["CONCEPT_LT_STREAM"].flatMap(Int.init) ?? 64
        let probe = try SyntheticDataset.generate(directory: root.path + "/probe", backgrounds: 2, motionKinds: motions, clipsPerPair: probeClips,
                                                  size: size, frames: 6, seed: 1002, testFraction: 0.5, nuisance: nuisance)
        let stream = try SyntheticDataset.generate(directory: root.path + "/stream", backgrounds: 2, motionKinds: motions, clipsPerPair: streamClips,
                                                   size: size, frames: 6, seed: 1001, testFraction: 0, nuisance: nuisance)
        let set = try ProbeSet.load(from: URL(fileURLWithPath: probe.manifestPath))
        // Only the representations the test asserts on (and `v`, to read a failure): the other eleven linear probes
        // would cost as much again.
        let evaluator = try ProbeEvaluator(set: set, config: config, seed: seed,
                                           options: ProbeEvaluator.Options(representations: [.v, .qVs, .qVd]))
        let generated = Date()

        let clips = try ProbeClipReader.read(paths: stream.items.map { root.path + "/stream/" + $0.path },
                                             options: evaluator.clipOptions, positions: [0.3, 0.7]).flatMap { $0 }
        let replay = ReplayBuffer(capacity: clips.count, policy: .fifo, seed: 1)
        var rng = SeededGenerator(seed: 5)
        for (i, c) in clips.enumerated() {
            replay.add(ReplayClip(data: c.data, staticIndex: rng.integer(below: config.frames), source: "stream-\(i % 4)"))
        }
        let trainer = try Trainer(config: config, batchSize: batch, warmupSteps: 100, seed: seed, store: nil,
                                  schedule: method.training.schedule)
        let start = Date()
        for _ in 0..<steps {
            guard case .stepped = try trainer.step(from: replay) else { Issue.record("a training step did not apply"); return }
        }
        let trainSeconds = Date().timeIntervalSince(start)
        let result = try evaluator.evaluate(stateDict: trainer.learner.model.stateDict(), step: trainer.state.step)
        let base = try evaluator.baseline()
        print("learning probe: \(steps) steps in \(String(format: "%.0f", trainSeconds)) s; data "
              + "\(String(format: "%.0f", start.timeIntervalSince(began))) s (generated \(String(format: "%.0f", generated.timeIntervalSince(began))) s), "
              + "probes \(String(format: "%.0f", Date().timeIntervalSince(start) - trainSeconds)) s")
        print(result.table(.accuracy, baseline: base))
        let motion = (trained: try #require(result.row("motion", .qVd)), random: try #require(base.row("motion", .qVd)))
        let background = (trained: try #require(result.row("background", .qVs)), random: try #require(base.row("background", .qVs)))
        let motionMargin = Self.margin(classes: set.classes(1).count, testClips: result.testClips)
        let backgroundMargin = Self.margin(classes: set.classes(0).count, testClips: result.testClips)
        print("motion on q_v^d \(motion.trained.accuracy) vs random init \(motion.random.accuracy) (margin \(motionMargin)); "
              + "background on q_v^s \(background.trained.accuracy) vs \(background.random.accuracy) (margin \(backgroundMargin))")
        #expect(motion.trained.accuracy - motion.random.accuracy >= motionMargin,
                "q_v^d motion probe \(motion.trained.accuracy) does not beat random init \(motion.random.accuracy) by \(motionMargin)")
        #expect(background.trained.accuracy - background.random.accuracy >= -backgroundMargin,
                "q_v^s background probe \(background.trained.accuracy) fell below random init \(background.random.accuracy) by more than \(backgroundMargin)")
    }
}
