import ConceptModel
import Foundation
import SyntheticVideoCLI
import Learner
import Media
import Autograd
import SafeTensors
import SeededRandom
import ConceptReports
import TensorKernels

/// Real videos cut into retrieval clips: every video (`clipsPerVideo` clips, evenly spread) and, in the real-stream
/// mode, the held-out ones (`heldOutClips` each), which the stream never shows.
struct RealVideos {
    /// Clips of every video that could be cut, with the video's index as label.
    var all: (clips: [[Float]], labels: [Int], names: [String])
    /// Clips of the held-out videos (empty unless some are held out).
    var heldOut: (clips: [[Float]], labels: [Int], names: [String])
    /// The videos the real stream may show.
    var training: [String]

    var heldOutNames: [String] { heldOut.names }

    /// Nil when there are no videos. `heldOut` videos, chosen by a seeded shuffle, are kept out of `training`.
    init?(paths: [String], options: ProbeClipOptions, heldOut: Int, clipsPerVideo: Int, heldOutClips: Int, seed: UInt64) throws {
        guard !paths.isEmpty else { return nil }
        var order = paths
        var rng = SeededGenerator(seed: seed &+ 77)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let held = Set(order.prefix(Swift.min(heldOut, Swift.max(0, paths.count - 1))))
        func cut(_ videos: [String], clips: Int) -> (clips: [[Float]], labels: [Int], names: [String]) {
            let positions = (0..<clips).map { (Double($0) + 0.5) / Double(clips) }
            var out: (clips: [[Float]], labels: [Int], names: [String]) = ([], [], [])
            for path in videos {
                do {
                    let c = try ProbeClipReader.read(path: path, options: options, positions: positions)
                    out.labels += [Int](repeating: out.names.count, count: c.count)
                    out.clips += c.map(\.data)
                    out.names.append((path as NSString).lastPathComponent)
                } catch {
                    print("  skipped \((path as NSString).lastPathComponent): \(error)")
                }
            }
            return out
        }
        all = cut(paths, clips: clipsPerVideo)
        self.heldOut = held.isEmpty ? ([], [], []) : cut(paths.filter(held.contains), clips: heldOutClips)
        training = paths.filter { !held.contains($0) }
    }

    var summary: String {
        var s = "real videos: \(all.names.count) cut into \(all.clips.count) retrieval clips"
        if !heldOut.names.isEmpty {
            s += "; \(heldOut.names.count) held out of the stream (\(heldOut.clips.count) clips), \(training.count) streamed"
        }
        return s
    }

    /// R@1 and R@5 per representation, leave one out, hit = same video: over every video, and over the held-out ones.
    func retrieval(_ extractor: ProbeFeatureExtractor) throws -> (all: [ProbeRepresentation: [Double]], heldOut: [ProbeRepresentation: [Double]]?) {
        func recall(_ clips: [[Float]], _ labels: [Int]) throws -> [ProbeRepresentation: [Double]] {
            let f = try extractor.features(clips: clips)
            return Dictionary(uniqueKeysWithValues: ProbeRepresentation.allCases.map { r in
                (r, Retrieval.recallLeaveOneOut(f[r], labels: labels, ks: [1, 5]))
            })
        }
        return (try recall(all.clips, all.labels), heldOut.clips.isEmpty ? nil : try recall(heldOut.clips, heldOut.labels))
    }
}

/// One probe during (or at the end of) a run.
struct ProbePoint {
    var step: Int
    var minutes: Double
    var result: ProbeResult
    var retrieval: (all: [ProbeRepresentation: [Double]], heldOut: [ProbeRepresentation: [Double]]?)?
    /// Shares of static and dynamic concepts alive (a top-K hit in the last `deadWindow` steps).
    var alive: (static: Double, dynamic: Double)
    /// The probe set's features (for the top-concept check).
    var features: ProbeFeatures

    /// The headline numbers, in percent: name → value.
    var headlines: [(String, Double)] {
        var h: [(String, Double)] = []
        for (label, rep) in [("motion", ProbeRepresentation.qVd), ("motion", .fVd), ("motion", .qVs), ("background", .qVs),
                             ("background", .fVs), ("background", .v), ("motion", .v), ("motion", .qS)] {
            if let row = result.row(label, rep) { h.append(("\(label) \(rep)", 100 * row.accuracy)) }
        }
        if let r = retrieval?.all[.v] { h.append(("real R@1 v", 100 * r[0])) }
        if let r = retrieval?.heldOut?[.v] { h.append(("held-out R@1 v", 100 * r[0])) }
        return h
    }

    func line(baseline: ProbeResult) -> String {
        let cells: [(String, ProbeRepresentation)] = [("background", .v), ("background", .qVs), ("background", .fVs), ("motion", .v),
                                                      ("motion", .qVs), ("motion", .qVd), ("motion", .fVd), ("motion", .qS)]
        var parts = cells.compactMap { l, rep in
            result.row(l, rep).map { row in
                let gain = baseline.row(l, rep).map { b -> String in
                    let g = 100 * (row.accuracy - b.accuracy)
                    return (g >= 0 ? "+" : "") + String(format: "%.1f", g)
                } ?? "?"
                return "\(l) \(rep) \(String(format: "%.1f", 100 * row.accuracy)) (\(gain))"
            }
        }
        if let r = retrieval?.all[.v] { parts.append("real R@1 v \(String(format: "%.1f", 100 * r[0]))") }
        if let r = retrieval?.heldOut?[.v] { parts.append("held-out R@1 v \(String(format: "%.1f", 100 * r[0]))") }
        parts.append("alive \(String(format: "%.0f", 100 * alive.static)) / \(String(format: "%.0f", 100 * alive.dynamic)) %")
        return parts.joined(separator: ", ") + " [\(String(format: "%.1f", result.duration)) s]"
    }
}

/// What the training loop accumulates.
struct RunRecord {
    /// Seconds of training (waits for the stream included), of probing, and of waiting for the stream's rounds in a
    /// run paced by steps.
    var trained = 0.0, probing = 0.0, waited = 0.0
    var skipped = 0
    var firstLosses: [Losses] = [], recent: [Losses] = []
    var points: [ProbePoint] = []

    mutating func record(_ l: Losses) {
        if firstLosses.count < 20 { firstLosses.append(l) }
        recent.append(l)
        if recent.count > 20 { recent.removeFirst() }
    }
}

extension LearnBench {
    /// Probes the weights: Table 3 on the generated set, real-video retrieval, concepts alive.
    func probePoint(evaluator: ProbeEvaluator, real: RealVideos?, weights: SafeTensorsFile, step: Int, minutes: Double,
                    statistics: LiveStatistics) throws -> ProbePoint {
        let started = Date()
        let features = try evaluator.features(stateDict: weights)
        var result = try evaluator.probe(features: features, step: step, started: started)
        result.attachGains(baseline: try evaluator.baseline())
        let retrieval = try real.map { r -> (all: [ProbeRepresentation: [Double]], heldOut: [ProbeRepresentation: [Double]]?) in
            let e = try ProbeFeatureExtractor(config: evaluator.config, seed: seed, batchSize: 16)
            try e.load(stateDict: weights)
            return try r.retrieval(e)
        }
        let usage = statistics.concepts
        func share(_ b: BranchUsage) -> Double { 1 - Double(b.deadCount) / Double(Swift.max(1, b.concepts.count)) }
        return ProbePoint(step: step, minutes: minutes, result: result, retrieval: retrieval,
                          alive: (share(usage.static), share(usage.dynamic)), features: features)
    }

    /// The final tables, the goals of issue #12 and the RESULT line.
    func report(run: RunRecord, final: ProbePoint, baseline: ProbeResult,
                randomRetrieval: (all: [ProbeRepresentation: [Double]], heldOut: [ProbeRepresentation: [Double]]?)?,
                real: RealVideos?, set: ProbeSet, evaluator: ProbeEvaluator, trainer: Trainer, batch: Int, wall: Double,
                config: ModelConfig) throws {
        let s = trainer.state
        func mean(_ l: [Losses], _ k: (Losses) -> Scalar) -> Double { l.isEmpty ? .nan : l.map { Double(k($0)) }.reduce(0, +) / Double(l.count) }
        func change(_ name: String, _ k: (Losses) -> Scalar) -> String {
            "\(name) \(fmt(mean(run.firstLosses, k), 3)) → \(fmt(mean(run.recent, k), 3))"
        }
        print("")
        print("## Results: \(s.step) steps (\(s.step * batch) clips, \(fmt(Double(s.step * batch) / run.trained, 1)) clips/s) in \(fmt(run.trained / 60, 1)) min of training (\(fmt(run.waited, 1)) s of it waiting for the stream), \(fmt(run.probing, 1)) s of probing, \(fmt(wall / 60, 1)) min wall")
        print("losses (mean of the first / last 20 steps): " + [change("aln", \.aln), change("fid", \.fid), change("div", \.div),
              change("loc", \.loc), change("nce", \.nce), change("nce_static", \.nceStatic), change("consistency", \.consistency)].joined(separator: ", ") + "; skipped steps \(run.skipped)")
        // Two runs that trained on the same batches end with the same weights, bit for bit.
        let weights = SHA256.hex(try trainer.learner.model.stateDict().serialized())
        print("final weights: sha256 \(weights)")
        print("")
        let test = final.result.testClips
        print("Table 3 on generated data (\(final.result.trainClips) train / \(test) test clips; \(video.backgrounds) backgrounds, \(video.motions) motions): trained / random init")
        print(final.result.table(.accuracy, baseline: baseline))
        let chance = set.labelNames.map { l in "\(l) \(fmt(100 * (final.result.row(l, .v)?.chance ?? .nan), 1))" }.joined(separator: ", ")
        print("chance (most frequent train class): \(chance). Standard error of one accuracy √(p(1−p)/n) with n = \(test): "
              + "\(fmt(100 * Self.standardError(0.5, test), 1)) points at 50 %, \(fmt(100 * Self.standardError(0.2, test), 1)) at 20 % or 80 %; of a difference of two, √2 times that.")
        if let real, let trained = final.retrieval, let random = randomRetrieval {
            print("")
            printRetrieval("Retrieval on real videos: \(real.all.names.count) videos x \(clipsPerVideo) clips, each clip queries all others (hit = same video), trained / random init",
                           trained.all, random.all, clips: real.all.clips.count, perVideo: clipsPerVideo)
            if let held = trained.heldOut, let heldRandom = random.heldOut {
                print("")
                printRetrieval("Retrieval on the \(real.heldOut.names.count) held-out real videos (never streamed) x \(heldOutClips) clips, trained / random init",
                               held, heldRandom, clips: real.heldOut.clips.count, perVideo: heldOutClips)
            }
        }
        print("")
        print("Concepts alive (a top-\(config.topK) hit in the last \(StatisticsOptions().deadWindow) steps): static \(fmt(100 * final.alive.static, 0)) %, dynamic \(fmt(100 * final.alive.dynamic, 0)) %")
        print(topConceptCheck(final.features, set: set))
        print("")
        print("Headline probes over the run (%):")
        let names = final.headlines.map(\.0)
        print("| step | min | " + names.joined(separator: " | ") + " |")
        print("|---:|---:|" + names.map { _ in "---:|" }.joined())
        for p in run.points {
            let h = Dictionary(uniqueKeysWithValues: p.headlines)
            print("| \(p.step) | \(fmt(p.minutes, 1)) | " + names.map { h[$0].map { fmt($0, 1) } ?? "–" }.joined(separator: " | ") + " |")
        }
        print("")
        print(goals(run: run, final: final, baseline: baseline, random: randomRetrieval))
        print("")
        var result = "RESULT learn preset=\(preset) method=\(method) data=\(data) nce=\(config.nce) nce_static=\(config.nceStatic) static_consistency=\(config.staticConsistency) static_consistency_grad=\(config.staticConsistencyGrad) fid_v_grad=\(config.fidVGrad) nce_reverse=\(config.nceReverse) difference=\(config.difference) static_view=\(config.staticView) sigma=\(config.sigma) v_heads=\(config.vHeads) v_heads_init=\(config.vHeadsInit) v_heads_shared_steps=\(config.vHeadsSharedSteps) nce_tau=\(config.nceTau) queue=\(config.queueLength) losses=\(try Self.lossWeights(losses).sorted().joined(separator: "+")) batch=\(batch) steps=\(s.step) minutes=\(fmt(run.trained / 60, 2)) weights=\(weights.prefix(16))"
        for (name, value) in final.headlines { result += " \(name.replacingOccurrences(of: " ", with: "_"))=\(fmt(value, 1))" }
        if let random = randomRetrieval {
            result += " real_R@1_v_init=\(fmt(100 * random.all[.v]![0], 1))"
            if let h = random.heldOut { result += " held-out_R@1_v_init=\(fmt(100 * h[.v]![0], 1))" }
        }
        result += " alive_static=\(fmt(100 * final.alive.static, 0)) alive_dynamic=\(fmt(100 * final.alive.dynamic, 0))"
        print(result)
    }

    /// √(p(1−p)/n).
    static func standardError(_ p: Double, _ n: Int) -> Double { (p * (1 - p) / Double(Swift.max(1, n))).squareRoot() }

    func printRetrieval(_ title: String, _ trained: [ProbeRepresentation: [Double]], _ random: [ProbeRepresentation: [Double]],
                        clips: Int, perVideo: Int) {
        print(title)
        let reps = ProbeRepresentation.allCases
        print("| | " + reps.map(\.rawValue).joined(separator: " | ") + " |")
        print("|---|" + reps.map { _ in "---:|" }.joined())
        for (i, k) in [1, 5].enumerated() {
            print("| R@\(k) | " + reps.map { "\(fmt(100 * trained[$0]![i], 1)) / \(fmt(100 * random[$0]![i], 1))" }.joined(separator: " | ") + " |")
        }
        let chance = Double(perVideo - 1) / Double(Swift.max(1, clips - 1))
        let r1 = trained[.v]![0]
        print("chance R@1 \(fmt(100 * chance, 1)) %; standard error of R@1 on v over \(clips) queries: \(fmt(100 * Self.standardError(r1, clips), 1)) points")
    }

    /// Whether still and moving clips of the probe set lead with different dynamic concepts (what the dashboard's
    /// source cards show): the most frequent argmax of `q_v^d` among still clips and among moving clips.
    func topConceptCheck(_ features: ProbeFeatures, set: ProbeSet) -> String {
        guard let l = set.labelNames.firstIndex(of: "motion") else { return "" }
        let q = features[.qVd]
        var still: [Int: Int] = [:], moving: [Int: Int] = [:]
        for (i, item) in set.items.enumerated() {
            let row = q[row: i]
            let top = row.indices.max { row[$0] < row[$1] }! - row.startIndex
            if item.labels[l] == "still" { still[top, default: 0] += 1 } else { moving[top, default: 0] += 1 }
        }
        guard let s = still.max(by: { $0.value < $1.value }), let m = moving.max(by: { $0.value < $1.value }) else { return "" }
        let stillCount = still.values.reduce(0, +), movingCount = moving.values.reduce(0, +)
        let shared = Double(moving[s.key] ?? 0) / Double(movingCount)
        return "Top dynamic concept (argmax q_v^d) of the probe clips: still clips lead with concept \(s.key) (\(fmt(100 * Double(s.value) / Double(stillCount), 0)) % of them, \(still.count) distinct), moving clips with concept \(m.key) (\(fmt(100 * Double(m.value) / Double(movingCount), 0)) %, \(moving.count) distinct); \(fmt(100 * shared, 0)) % of moving clips lead with the still clips' concept"
    }

    /// The goals of issue #12, each with its value and threshold.
    func goals(run: RunRecord, final: ProbePoint, baseline: ProbeResult,
               random: (all: [ProbeRepresentation: [Double]], heldOut: [ProbeRepresentation: [Double]]?)?) -> String {
        func acc(_ r: ProbeResult, _ l: String, _ rep: ProbeRepresentation) -> Double { 100 * (r.row(l, rep)?.accuracy ?? .nan) }
        var rows: [(String, Double, String, Bool)] = []
        for rep in [ProbeRepresentation.qVd, .fVd] {
            let v = acc(final.result, "motion", rep)
            rows.append(("motion \(rep) ≥ 60", v, "60", v >= 60))
        }
        let gap = acc(final.result, "motion", .qVd) - acc(final.result, "motion", .qVs)
        rows.append(("motion q_v^d − q_v^s ≥ 20", gap, "20", gap >= 20))
        for rep in [ProbeRepresentation.qVs, .fVs] {
            let v = acc(final.result, "background", rep), b = acc(baseline, "background", rep)
            rows.append(("background \(rep) ≥ init + 10", v - b, "+10", v - b >= 10))
        }
        if let trained = final.retrieval, let random {
            let g = 100 * (trained.all[.v]![0] - random.all[.v]![0])
            rows.append(("real R@1 v ≥ init + 5", g, "+5", g >= 5))
            if let h = trained.heldOut?[.v], let hr = random.heldOut?[.v] {
                let g = 100 * (h[0] - hr[0])
                rows.append(("held-out R@1 v ≥ init + 5", g, "+5", g >= 5))
            }
        }
        rows.append(("static concepts alive ≥ 80 %", 100 * final.alive.static, "80", final.alive.static >= 0.8))
        rows.append(("dynamic concepts alive ≥ 80 %", 100 * final.alive.dynamic, "80", final.alive.dynamic >= 0.8))
        // No decline: each headline at the end within 3 points of its best probe.
        let best = Dictionary(run.points.flatMap(\.headlines), uniquingKeysWith: Swift.max)
        for (name, value) in final.headlines where ["motion q_v^d", "motion F_v^d", "background q_v^s", "background F_v^s", "real R@1 v", "held-out R@1 v"].contains(name) {
            let drop = (best[name] ?? value) - value
            rows.append(("\(name): end within 3 of its best", -drop, "−3", drop <= 3))
        }
        return "Goals (issue #12):\n| goal | measured | threshold | met |\n|---|---:|---:|:---:|\n"
            + rows.map { "| \($0.0) | \(fmt($0.1, 1)) | \($0.2) | \($0.3 ? "yes" : "no") |" }.joined(separator: "\n")
    }

    func lossText(_ l: Losses) -> String {
        "total \(fmt(Double(l.total), 3)) (aln \(fmt(Double(l.aln), 3)), fid \(fmt(Double(l.fid), 3)), div \(fmt(Double(l.div), 2)), loc \(fmt(Double(l.loc), 3)), nce \(fmt(Double(l.nce), 3)), nce_s \(fmt(Double(l.nceStatic), 3)), cons \(fmt(Double(l.consistency), 3)))"
    }
}
