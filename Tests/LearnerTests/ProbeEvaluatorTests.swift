import ConceptModel
import Foundation
import Media
import Testing
import ConceptTestSupport
import SeededRandom
@testable import Learner
import Autograd
import LibAV
import SyntheticVideo
import ConceptReports

/// The tiny preset at reduced size, as the probe tests and the learning test use it.
func reducedTinyConfig(frames: Int = 4, side: Int = 32, concepts: Int = 10) throws -> ModelConfig {
    var c = try ModelConfig.preset("tiny")
    c.frames = frames; c.height = side; c.width = side
    c.ks = concepts; c.kd = concepts; c.topK = 3; c.queueLength = 32
    return c
}

/// `n` clips of standard-normal pixels for `config`.
func randomFrames(_ n: Int, _ config: ModelConfig, _ rng: inout SeededGenerator) throws -> Tensor {
    let shape = [n, 3, config.frames + 1, config.height, config.width]
    return try Tensor(floats: (0..<shape.reduce(1, *)).map { _ in Float(rng.gaussian()) }, shape: shape)
}

@Suite(.serialized) struct ProbeEvaluatorTests {
    /// libx264 reports every encoded file on stderr; the media tests silence libav the same way.
    static let quiet: Void = MediaLibrary.routeLibavLogs(to: nil, level: .quiet)

    /// A generated static/dynamic dataset (3 backgrounds x 3 motions x 4 clips of 32x32, 12 frames at 16 fps).
    static func dataset(_ root: URL) throws -> SyntheticDataset.Summary {
        _ = quiet
        return try SyntheticDataset.generate(directory: root.path, backgrounds: 3, motions: 3, clipsPerPair: 4,
                                      size: .init(width: 32, height: 32), frames: 12, seed: 1)
    }

    @Test func endToEndOnAGeneratedSet() throws {
        let root = try temporaryDirectory("probe-e2e")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try Self.dataset(root.appendingPathComponent("data"))
        let set = try ProbeSet.load(from: URL(fileURLWithPath: data.manifestPath))
        #expect(set.labelNames == ["background", "motion"] && set.splitGiven)
        #expect(set.items.count == 36 && set.items(.test).count == data.testCount)

        let config = try reducedTinyConfig()
        let state = root.appendingPathComponent("state")
        let history = try ProbeHistory(directory: state)
        let evaluator = try ProbeEvaluator(set: set, config: config, seed: 5, history: history)
        let t0 = Date()
        try evaluator.prepare()
        let decodeSeconds = Date().timeIntervalSince(t0)

        // Weights of a trainer that took a few steps (on its own thread's model; the evaluator gets a copy).
        let trainer = try Trainer(config: config, batchSize: 4, warmupSteps: 1, seed: 5, store: nil)
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<3 { _ = try trainer.step(frames: randomFrames(4, config, &rng)) }
        let weights = try trainer.learner.model.stateDict()

        let t1 = Date()
        let result = try evaluator.evaluate(stateDict: weights, step: trainer.state.step)
        print("probe e2e: decode \(String(format: "%.2f", decodeSeconds)) s, baseline + evaluation \(String(format: "%.2f", Date().timeIntervalSince(t1))) s, evaluation alone \(String(format: "%.2f", result.duration)) s")
        print(result.table(.accuracy, baseline: try evaluator.baseline()))
        #expect(result.step == 3 && !result.isBaseline)
        #expect(result.labels == ["background", "motion"])
        #expect(result.trainClips == data.trainCount && result.testClips == data.testCount)
        #expect(result.rows.count == 2 * ProbeRepresentation.table3.count)
        let widths: [ProbeRepresentation: Int] = [.v: 128, .qV: 20, .qVs: 10, .qVd: 10, .fV: 128, .fVs: 128, .fVd: 128, .s: 128, .qS: 10]
        for label in set.labelNames {
            for r in ProbeRepresentation.table3 {
                let row = try #require(result.row(label, r), "no row for \(label) \(r)")
                #expect(row.dimension == widths[r])
                for v in [row.accuracy, row.chance, row.recall.r1, row.recall.r5, row.recall.r10, row.recall.r20] {
                    #expect(v >= 0 && v <= 1, "\(label) \(r): \(v)")
                }
                #expect(row.recall.r1 <= row.recall.r5 && row.recall.r5 <= row.recall.r10 && row.recall.r10 <= row.recall.r20)
                // 9 test clips: accuracies are multiples of 1/9.
                #expect(abs(row.accuracy * 9 - (row.accuracy * 9).rounded()) < 1e-9)
                let base = try #require(try evaluator.baseline().row(label, r))
                let gain = try #require(row.gain)
                #expect(gain.accuracy == row.accuracy - base.accuracy && gain.recall.r5 == row.recall.r5 - base.recall.r5)
            }
        }

        // The baseline was stored; the history round-trips through its file.
        #expect(FileManager.default.fileExists(atPath: history.baselineURL.path))
        let reopened = try ProbeHistory(directory: state)
        #expect(reopened.warnings.isEmpty)
        #expect(reopened.entries.count == 1)
        let back = try #require(reopened.latest)
        #expect(back.rows == result.rows && back.step == result.step && back.fingerprint == result.fingerprint)
        #expect(abs(back.time.timeIntervalSince(result.time)) < 0.001)
        let storedBaseline = try #require(reopened.baseline(fingerprint: evaluator.fingerprint))
        #expect(storedBaseline.rows == (try evaluator.baseline()).rows)

        // A restarted evaluator takes the stored baseline instead of recomputing it (same finishing time).
        let restarted = try ProbeEvaluator(set: set, config: config, seed: 5, history: reopened)
        #expect(try restarted.baseline().time == storedBaseline.time)
        // Another seed is another baseline: the stored one does not apply.
        let otherSeed = try ProbeEvaluator(set: set, config: config, seed: 6, history: reopened)
        #expect(otherSeed.fingerprint != evaluator.fingerprint)
        #expect(reopened.baseline(fingerprint: otherSeed.fingerprint) == nil)

        // The random-initialised weights of the same seed reproduce the baseline exactly: every gain is zero.
        let initial = try ConceptLearner(config: config, seed: 5).model.stateDict()
        let same = try evaluator.evaluate(stateDict: initial, step: 0)
        #expect(same.rows.allSatisfy { $0.gain == ProbeGain(accuracy: 0, recall: ProbeRecall(r1: 0, r5: 0, r10: 0, r20: 0)) })
        // Evaluating the same weights again gives the same numbers (decoded clips are cached and deterministic).
        let again = try evaluator.evaluate(stateDict: weights, step: 3)
        #expect(again.rows == result.rows)
        #expect(try ProbeHistory(directory: state).entries.map(\.step) == [3, 0, 3])

        // A subset of the representations: only their rows, in the full run's numbers, under another fingerprint.
        let some = try ProbeEvaluator(set: set, config: config, seed: 5,
                                      options: ProbeEvaluator.Options(representations: [.qVd, .v]))
        #expect(some.fingerprint != evaluator.fingerprint)
        let subset = try some.evaluate(stateDict: weights, step: 3)
        #expect(subset.rows.map(\.representation) == [.qVd, .v, .qVd, .v])
        #expect(subset.rows.map(\.accuracy) == subset.rows.map { result.row($0.label, $0.representation)!.accuracy })
        let subsetTable = subset.table()
        #expect(subsetTable.contains("q_v^d") && !subsetTable.contains("F_v") && !subsetTable.contains("–"), "\(subsetTable)")
        #expect(!result.table().contains("q_s"), "Table 3 alone by default")

        // The static frame's two as well: a second pass over the static view, Table 3's rows unchanged.
        let all = try ProbeEvaluator(set: set, config: config, seed: 5,
                                     options: ProbeEvaluator.Options(representations: ProbeRepresentation.allCases))
        let full = try all.evaluate(stateDict: weights, step: 3)
        #expect(full.rows.count == 2 * ProbeRepresentation.allCases.count)
        for label in set.labelNames {
            for r in ProbeRepresentation.table3 { #expect(full.row(label, r)?.accuracy == result.row(label, r)?.accuracy) }
            for r in ProbeRepresentation.staticFrame {
                let row = try #require(full.row(label, r), "no row for \(label) \(r)")
                #expect(row.dimension == widths[r])
                #expect(row.accuracy >= 0 && row.accuracy <= 1 && row.gain != nil)
            }
        }
        #expect(full.table().contains("| q_s |") || full.table().contains(" q_s "), "\(full.table())")
        for bad in [[ProbeRepresentation](), [.v, .v]] {
            #expect(throws: ProbeError.self) {
                try ProbeEvaluator(set: set, config: config, seed: 5, options: ProbeEvaluator.Options(representations: bad))
            }
        }

        // Weights of another configuration are refused with a clear error.
        let wrong = try ConceptLearner(config: reducedTinyConfig(concepts: 12), seed: 5).model.stateDict()
        let error = try #require(throws: ProbeError.self) { try evaluator.evaluate(stateDict: wrong, step: 9) }
        #expect(error.kind == .model)
    }

    @Test func evaluationRunsBesideTraining() async throws {
        let root = try temporaryDirectory("probe-thread")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try Self.dataset(root)
        let set = try ProbeSet.load(from: URL(fileURLWithPath: data.manifestPath))
        let config = try reducedTinyConfig()
        let evaluator = try ProbeEvaluator(set: set, config: config, seed: 5)
        let trainer = try Trainer(config: config, batchSize: 4, warmupSteps: 0, seed: 5, store: nil)
        let weights = try trainer.learner.model.stateDict()
        // The evaluation runs on a background thread while this thread keeps training the trainer's own model.
        let background = Task.detached { try evaluator.evaluate(stateDict: weights, step: 0) }
        var rng = SeededGenerator(seed: 4)
        for _ in 0..<4 {
            let event = try trainer.step(frames: randomFrames(4, config, &rng))
            guard case .stepped = event else { Issue.record("training step did not apply: \(event)"); break }
        }
        let result = try await background.value
        #expect(trainer.state.step == 4)
        // The weights handed over were a copy: probing them equals the baseline of the same seed.
        #expect(result.rows.allSatisfy { $0.gain?.accuracy == 0 })
        evaluator.cancel()
        let stopped = try #require(throws: ProbeError.self) { try evaluator.evaluate(stateDict: weights, step: 1) }
        #expect(stopped.kind == .cancelled)
    }

    @Test func historySkipsADamagedLastLine() throws {
        let dir = try temporaryDirectory("probe-history")
        defer { try? FileManager.default.removeItem(at: dir) }
        let history = try ProbeHistory(directory: dir)
        func result(_ step: Int) -> ProbeResult {
            ProbeResult(step: step, time: Date(timeIntervalSince1970: 1_700_000_000 + Double(step)), duration: 1.5,
                        fingerprint: "f", trainClips: 3, testClips: 2, labels: ["class"],
                        rows: [ProbeRow(label: "class", representation: .qVd, dimension: 4, accuracy: 0.5, chance: 0.5,
                                        penalty: 0.01, recall: ProbeRecall(r1: 0.5, r5: 1, r10: 1, r20: 1),
                                        gain: ProbeGain(accuracy: 0.25, recall: ProbeRecall(r1: 0, r5: 0.5, r10: 0, r20: 0)))])
        }
        try history.append(result(1))
        try history.append(result(2))
        let text = try String(contentsOf: history.historyURL, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 2)
        #expect(text.contains("\"time\":\"2023-11-14T22:13:21.000Z\"") && text.contains("\"q_v^d\""), "\(text)")
        // A crash mid-write leaves half a line.
        let handle = try FileHandle(forWritingTo: history.historyURL)
        handle.seekToEndOfFile()
        handle.write(Data("{\"step\":3,\"time\":\"2023-11-1".utf8))
        try handle.close()
        let reopened = try ProbeHistory(directory: dir)
        #expect(reopened.entries.map(\.step) == [1, 2])
        #expect(reopened.entries == [result(1), result(2)])
        #expect(reopened.warnings.count == 2 && reopened.warnings[0].contains(":3: damaged last line"), "\(reopened.warnings)")
        // The damaged tail is cut off, so the next append is a line of its own.
        try reopened.append(result(4))
        let third = try ProbeHistory(directory: dir)
        #expect(third.entries.map(\.step) == [1, 2, 4])
        #expect(third.warnings.isEmpty)
        #expect(third.latest?.rows.first?.gain?.recall.r5 == 0.5)
    }
}
