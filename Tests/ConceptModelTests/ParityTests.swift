import Foundation
import Testing
@testable import ConceptModel
import Tensor

/// Parity with the PyTorch reference of the spec: every `case_*.safetensors` in the bundled `reference` folder, or
/// in `$CONCEPT_REFERENCE_DIR` when set. One training step per case; every intermediate, loss, gradient and
/// post-step parameter/buffer must match within relative L2 error 2e-3, masks exactly.
@Suite struct ParityTests {
    static let tolerance = 2e-3

    static var caseFiles: [URL] {
        let dir: URL
        if let env = ProcessInfo.processInfo.environment["CONCEPT_REFERENCE_DIR"], !env.isEmpty {
            dir = URL(fileURLWithPath: env)
        } else if let bundled = Bundle.module.url(forResource: "reference", withExtension: nil) {
            dir = bundled
        } else {
            return []
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasPrefix("case_") && $0.hasSuffix(".safetensors") }.sorted().map { dir.appendingPathComponent($0) }
    }

    struct Row { let name: String; let error: Double; let ok: Bool }

    static func relativeError(_ ours: [Float], _ ref: [Float]) -> Double {
        guard ours.count == ref.count else { return .infinity }
        var d: Double = 0, n: Double = 0
        for i in 0..<ref.count { let e = Double(ours[i]) - Double(ref[i]); d += e * e; n += Double(ref[i]) * Double(ref[i]) }
        let err = d.squareRoot() / Swift.max(n.squareRoot(), 1e-6)
        return err.isNaN ? .infinity : err
    }

    @Test func referenceCasesArePresent() {
        #expect(Self.caseFiles.count >= 1, "no parity cases found (bundled reference/ or CONCEPT_REFERENCE_DIR)")
    }

    @Test(arguments: ParityTests.caseFiles)
    func oneTrainingStepMatchesTheReference(file: URL) throws {
        let ref = try SafeTensorsFile(contentsOf: file)
        let config = try ModelConfig(metadata: ref.metadata)
        let useLocal = ref.metadata["use_local"].map { $0 == "true" || $0 == "1" } ?? true
        let learner = try ConceptLearner(config: config)
        try learner.model.load(from: ref, prefix: "param.")
        for b in Branch.allCases {
            learner.queues[b] = try FeatureQueue(rows: ref.floats("queue.\(b)"), dim: config.featureWidth)
        }
        let frames = try Tensor(ref.floats("input.frames"), shape: ref.shape("input.frames"))
        let staticIndex = try ref.int64s("input.static_index").map { Int($0) }
        let report = try learner.step(frames: frames, staticIndex: staticIndex, useLocal: useLocal, updateQueues: false)
        #expect(report.applied)
        let o = report.outputs

        var rows: [Row] = []
        func compare(_ name: String, _ ours: [Float]) throws {
            let e = relativeError(ours, try ref.floats(name))
            rows.append(Row(name: name, error: e, ok: e <= Self.tolerance))
        }
        var seen = Set<String>()
        for key in ref.names where key.hasPrefix("expect.") {
            let name = String(key.dropFirst("expect.".count))
            seen.insert(name)
            switch name {
            case "feat_v", "feat_s", "feat_d": try compare(key, o.feat[Branch(rawValue: String(name.last!))!]!.values)
            case "z_v", "z_s", "z_d": try compare(key, o.z[Branch(rawValue: String(name.last!))!]!.values)
            case "q_s", "q_d", "q_v": try compare(key, o.codes[Branch(rawValue: String(name.last!))!]!.values)
            case "target_s", "target_d", "target_vs", "target_vd":
                try compare(key, o.targets[String(name.dropFirst("target_".count))]!.values)
            case "F_s", "F_d", "F_v":
                let b = Branch(rawValue: String(name.last!))!
                guard let f = o.local[b] else { rows.append(Row(name: key, error: .infinity, ok: false)); continue }
                try compare(key, f.values)
            case "valid_s", "valid_d":
                let ours = name == "valid_s" ? o.validS : o.validD
                let same = ours == (try ref.uint8s(key))
                rows.append(Row(name: key + " (exact)", error: same ? 0 : 1, ok: same))
            case let loss where loss.hasPrefix("loss_"):
                let term = String(loss.dropFirst("loss_".count))
                let value: Float = switch term {
                case "aln": o.losses.aln
                case "div": o.losses.div
                case "fid": o.losses.fid
                case "loc": o.losses.loc
                case "nce": o.losses.nce
                case "total": o.losses.total
                default: .nan
                }
                try compare(key, [value])
            default:
                rows.append(Row(name: key + " (unknown to the test)", error: .infinity, ok: false))
            }
        }
        let params = Dictionary(uniqueKeysWithValues: learner.model.namedParameters())
        let buffers = Dictionary(uniqueKeysWithValues: learner.model.namedBuffers())
        let counters = Dictionary(uniqueKeysWithValues: learner.model.namedBatchNorms())
        var gradCount = 0, afterCount = 0
        for key in ref.names {
            if key.hasPrefix("grad.") {
                let name = String(key.dropFirst(5))
                guard let p = params[name] else { rows.append(Row(name: key + " (no such parameter)", error: .infinity, ok: false)); continue }
                gradCount += 1
                try compare(key, p.gradValues)
            } else if key.hasPrefix("after.") {
                let name = String(key.dropFirst(6))
                afterCount += 1
                if let p = params[name] ?? buffers[name] {
                    try compare(key, p.values)
                } else if name.hasSuffix(".num_batches_tracked"), let bn = counters[String(name.dropLast(".num_batches_tracked".count))] {
                    let same = [bn.numBatchesTracked] == (try ref.int64s(key))
                    rows.append(Row(name: key + " (exact)", error: same ? 0 : 1, ok: same))
                } else {
                    rows.append(Row(name: key + " (unknown)", error: .infinity, ok: false))
                }
            }
        }
        #expect(gradCount == params.count, "the case has \(gradCount) gradients, the model \(params.count) parameters")
        #expect(afterCount > 0 && seen.contains("loss_total"))

        let failures = rows.filter { !$0.ok }
        if !failures.isEmpty {
            let table = rows.map { ($0.ok ? "   " : " ✘ ") + $0.name.padding(toLength: 60, withPad: " ", startingAt: 0) + String(format: "%.3e", $0.error) }.joined(separator: "\n")
            Issue.record("\(file.lastPathComponent): \(failures.count) of \(rows.count) tensors off (tolerance \(Self.tolerance)):\n\(table)")
        }
    }
}
