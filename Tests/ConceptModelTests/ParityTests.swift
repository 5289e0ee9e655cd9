import ConceptTestSupport
import Foundation
import Testing
@testable import ConceptModel
import Autograd
import SafeTensors
import TensorKernels

/// Parity with the PyTorch reference of the spec: every `case_*.safetensors` in the bundled `reference` folder, or
/// in `$CONCEPT_REFERENCE_DIR` when set. One training step per case; every intermediate, loss, gradient and
/// post-step parameter/buffer must match: relative L2 error `‖ours − ref‖ / max(‖ref‖, 1e-6) ≤ 2e-3`, masks exactly.
///
/// Two facts of floating point are handled explicitly, never by case name:
/// - ReLU ties. The reference computed in float64 from inputs it then rounded to float32, so an activation within
///   ~5e-6 of zero (float32 forward error at unit scale) may sit on the other side of the kink for it. Such elements are recorded (`ReLUTieProbe`); when
///   the first comparison fails, the step is re-run flipping ties greedily (deepest first, kept when the total
///   error falls) and the case passes only if some set of flips matches every tensor. The resolution is printed.
/// - Analytically zero gradients (e.g. a bias feeding a training-mode batch norm) are ~1e-15 in the float64
///   reference. The float64 build (`-DCONCEPT_FLOAT64`, run by `make test`) applies the formula above as it is; the
///   float32 build compares tensors whose reference norm is below 1e-6 absolutely, `‖ours‖ ≤ 1e-4`: float32's noise on a sum
///   over the batch that cancels (2e-5 measured on case_h); a real gradient there is orders of magnitude larger.
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
        return cases(in: dir)
    }

    /// The cases of the options beyond the spec (`docs/method-options.md`), written by `bench/make_case.py`
    /// (always run, also when `CONCEPT_REFERENCE_DIR` names another folder).
    static var optionCaseFiles: [URL] {
        Bundle.module.url(forResource: "options", withExtension: nil).map(cases(in:)) ?? []
    }

    static func cases(in dir: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasPrefix("case_") && $0.hasSuffix(".safetensors") }.sorted().map { dir.appendingPathComponent($0) }
    }

    struct Row { let name: String; let error: Double; let ok: Bool }

    /// The shared relative error with floor 1e-6; in the float32 build, `‖ours‖ ≤ 1e-4` passes (0) for reference
    /// tensors that are zero to float64 rounding, anything larger fails (infinity).
    static func parityError(_ ours: [Scalar], _ ref: [Float]) -> Double {
        #if !CONCEPT_FLOAT64
        func norm<T: BinaryFloatingPoint>(_ v: [T]) -> Double { v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
        if ours.count == ref.count, norm(ref) < 1e-6 { return norm(ours) <= 1e-4 ? 0 : .infinity }
        #endif
        let err = relativeError(ours, ref, floor: 1e-6)
        return err.isNaN ? .infinity : err
    }

    @Test func referenceCasesArePresent() {
        #expect(Self.caseFiles.count >= 1, "no parity cases found (bundled reference/ or CONCEPT_REFERENCE_DIR)")
        #expect(Self.optionCaseFiles.count >= 1, "no option cases found (bundled options/)")
    }

    /// Runs one step of `ref` with `flips` applied; returns the comparison rows and the ReLU ties seen.
    static func run(_ ref: SafeTensorsFile, flips: Set<ReLUTieProbe.Tie>) throws -> (rows: [Row], ties: [ReLUTieProbe.Tie]) {
        let config = try ModelConfig(metadata: ref.metadata)
        let useLocal = ref.metadata["use_local"].map { $0 == "true" || $0 == "1" } ?? true
        let learner = try ConceptLearner(config: config)
        try learner.model.load(from: ref, prefix: "param.")
        for b in Branch.allCases {
            learner.queues[b] = try FeatureQueue(rows: ref.floats("queue.\(b)").map { Scalar($0) }, dim: config.queueWidth(b))
        }
        let frames = try Tensor(floats: ref.floats("input.frames"), shape: ref.shape("input.frames"))
        let staticIndex = try ref.int64s("input.static_index").map { Int($0) }
        let probe = ReLUTieProbe(threshold: 5e-6, flips: flips)
        let report = try ReLUTieProbe.$current.withValue(probe) {
            try learner.step(frames: frames, staticIndex: staticIndex, useLocal: useLocal, updateQueues: false)
        }
        let o = report.outputs
        var rows: [Row] = [Row(name: "step applied", error: report.applied ? 0 : 1, ok: report.applied)]
        func compare(_ name: String, _ ours: [Scalar]) throws {
            let e = Self.parityError(ours, try ref.floats(name))
            rows.append(Row(name: name, error: e, ok: e <= tolerance))
        }
        func exact<T: Equatable>(_ name: String, _ same: T, _ other: T) {
            rows.append(Row(name: name + " (exact)", error: same == other ? 0 : 1, ok: same == other))
        }
        for key in ref.names where key.hasPrefix("expect.") {
            let name = String(key.dropFirst("expect.".count))
            let branch = Branch(rawValue: String(name.last!))
            switch name {
            case "feat_v", "feat_s", "feat_d": try compare(key, o.feat[branch!]!.values)
            case "z_v", "z_s", "z_d": try compare(key, o.z[branch!]?.values ?? [])
            case "z_vs": try compare(key, o.zSplit?.static.values ?? [])
            case "z_vd": try compare(key, o.zSplit?.dynamic.values ?? [])
            case "q_s", "q_d", "q_v": try compare(key, o.codes[branch!]!.values)
            case "target_s", "target_d", "target_vs", "target_vd": try compare(key, o.targets[String(name.dropFirst(7))]!.values)
            case "F_s", "F_d", "F_v": try compare(key, o.local[branch!]?.values ?? [])
            case "valid_s": exact(key, o.validS, try ref.uint8s(key))
            case "valid_d": exact(key, o.validD, try ref.uint8s(key))
            case "loss_aln": try compare(key, [o.losses.aln])
            case "loss_div": try compare(key, [o.losses.div])
            case "loss_fid": try compare(key, [o.losses.fid])
            case "loss_loc": try compare(key, [o.losses.loc])
            case "loss_nce": try compare(key, [o.losses.nce])
            case "loss_nce_static": try compare(key, [o.losses.nceStatic])
            case "loss_consistency": try compare(key, [o.losses.consistency])
            case "loss_total": try compare(key, [o.losses.total])
            default: rows.append(Row(name: key + " (unknown to the test)", error: .infinity, ok: false))
            }
        }
        let params = Dictionary(uniqueKeysWithValues: learner.model.namedParameters())
        let buffers = Dictionary(uniqueKeysWithValues: learner.model.namedBuffers())
        let counters = Dictionary(uniqueKeysWithValues: learner.model.namedBatchNorms())
        var gradCount = 0, afterCount = 0
        for key in ref.names {
            if key.hasPrefix("grad.") {
                gradCount += 1
                guard let p = params[String(key.dropFirst(5))] else { rows.append(Row(name: key + " (no such parameter)", error: .infinity, ok: false)); continue }
                try compare(key, p.gradValues)
            } else if key.hasPrefix("after.") {
                afterCount += 1
                let name = String(key.dropFirst(6))
                if let p = params[name] ?? buffers[name] {
                    try compare(key, p.values)
                } else if name.hasSuffix(".num_batches_tracked"), let bn = counters[String(name.dropLast(20))] {
                    exact(key, [bn.numBatchesTracked], try ref.int64s(key))
                } else {
                    rows.append(Row(name: key + " (unknown)", error: .infinity, ok: false))
                }
            }
        }
        exact("every parameter has a reference gradient", gradCount, params.count)
        exact("every parameter and buffer has an after-step value", afterCount, params.count + buffers.count + counters.count)
        rows.append(Row(name: "loss_total present", error: 0, ok: ref["expect.loss_total"] != nil))
        return (rows, probe.ties)
    }

    static func table(_ rows: [Row]) -> String {
        rows.map { ($0.ok ? "   " : " ✘ ") + $0.name.padding(toLength: 62, withPad: " ", startingAt: 0) + String(format: "%.3e", $0.error) }
            .joined(separator: "\n")
    }

    @Test(arguments: ParityTests.caseFiles + ParityTests.optionCaseFiles)
    func oneTrainingStepMatchesTheReference(file: URL) throws {
        let ref = try SafeTensorsFile(contentsOf: file)
        let (rows, ties) = try Self.run(ref, flips: [])
        let failures = rows.filter { !$0.ok }
        let verbose = ProcessInfo.processInfo.environment["CONCEPT_PARITY_VERBOSE"] != nil
        if failures.isEmpty {
            if verbose { print("\(file.lastPathComponent): all \(rows.count) tensors match\n\(Self.table(rows))") }
            return
        }
        // Greedy over the ReLU ties, deepest first: keep a flip when it lowers the total error; pass only if some
        // set of flips makes every tensor match.
        func score(_ rows: [Row]) -> Double { rows.reduce(0) { $0 + Swift.min($1.error, 1) } }
        let candidates = ties.sorted { ($0.call, Swift.abs($1.input)) > ($1.call, Swift.abs($0.input)) }
        var kept: Set<ReLUTieProbe.Tie> = []
        var best = score(rows)
        for tie in candidates {
            let trial = kept.union([tie])
            let (trialRows, _) = try Self.run(ref, flips: trial)
            if trialRows.allSatisfy(\.ok) {
                print("\(file.lastPathComponent): matches with the ReLU tie(s) \(trial.map(\.description).sorted()) on the reference's side "
                      + "(|x| < 5e-6: decided by the reference's own float32 rounding of its inputs)"
                      + (verbose ? "\n\(Self.table(trialRows))" : ""))
                return
            }
            let s = score(trialRows)
            if s < best * 0.99 { kept = trial; best = s }
        }
        Issue.record(Comment(rawValue: "\(file.lastPathComponent): \(failures.count) of \(rows.count) tensors off (tolerance \(Self.tolerance)); "
                             + "ReLU ties tried: \(candidates.map(\.description)), best kept: \(kept.map(\.description))\n\(Self.table(rows))"))
    }
}
