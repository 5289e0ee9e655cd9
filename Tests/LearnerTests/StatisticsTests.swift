import Foundation
import Media
import Testing
@testable import ConceptModel
@testable import Learner
import enum Autograd.GradMode
import class Autograd.Tensor
import typealias TensorKernels.Scalar
import LibAV
import SeededRandom
import ConceptReports
import TensorKernels

/// Helpers: hand-made codes, clips drawn from RGB patterns, and PNG decoding through the ffmpeg tools.
enum StatsSupport {
    /// The small model of the snapshot tests (Ks = Kd = 6, top-K 2, 3 frames of 16 x 16).
    static func smallConfig() throws -> ModelConfig { try SnapshotTests.config() }

    /// An `N x K` code tensor whose row `i` ranks `top[i]` first (in that order), the rest far below (distinct).
    static func codes(_ top: [[Int]], k: Int) throws -> Tensor {
        var values: [Float] = []
        for row in top {
            var r = (0..<k).map { -0.1 - 0.01 * Float($0) }
            for (p, j) in row.enumerated() { r[j] = 0.9 - 0.1 * Float(p) }
            values += r
        }
        return try Tensor(floats: values, shape: [top.count, k])
    }

    /// Forward outputs holding only codes (and optionally targets, masks and q_v).
    static func outputs(s: Tensor, d: Tensor, ts: Tensor? = nil, td: Tensor? = nil, validS: [UInt8] = [], validD: [UInt8] = [],
                        v: Tensor? = nil) -> ForwardOutputs {
        var o = ForwardOutputs()
        o.codes[.s] = s; o.codes[.d] = d
        if let v { o.codes[.v] = v }
        if let ts { o.targets["s"] = ts }
        if let td { o.targets["d"] = td }
        o.validS = validS; o.validD = validD
        return o
    }

    /// A deterministic generator (the tests import two modules that each have a `SeededGenerator`).
    struct LCG {
        var state: UInt64
        mutating func next() -> UInt64 { state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407; return state >> 11 }
        mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    }

    /// RGB frames (`frames x height x width x 3`): a gradient with a bright square moving right, tinted by `seed`.
    static func pattern(frames: Int, height: Int, width: Int, seed: UInt64) -> [UInt8] {
        var rng = LCG(state: seed)
        let tint = (Int(rng.byte()), Int(rng.byte()), Int(rng.byte()))
        var px = [UInt8](repeating: 0, count: frames * height * width * 3)
        for t in 0..<frames {
            for y in 0..<height {
                for x in 0..<width {
                    let inSquare = (x - t * 2 - width / 4) >= 0 && (x - t * 2 - width / 4) < width / 4 && y >= height / 3 && y < height / 3 + height / 4
                    let o = ((t * height + y) * width + x) * 3
                    px[o] = inSquare ? 250 : UInt8((x * 255 / max(1, width - 1) + tint.0) / 2)
                    px[o + 1] = inSquare ? 240 : UInt8((y * 255 / max(1, height - 1) + tint.1) / 2)
                    px[o + 2] = inSquare ? 30 : UInt8(tint.2 / 2)
                }
            }
        }
        return px
    }

    /// A replay clip (`3 x frames x H x W` normalised) of `rgb` frames.
    static func clip(_ rgb: [UInt8], frames: Int, height: Int, width: Int, staticIndex: Int, source: String) -> ReplayClip {
        let hw = height * width
        var data = [Float](repeating: 0, count: 3 * frames * hw)
        for c in 0..<3 { for t in 0..<frames { for p in 0..<hw { data[(c * frames + t) * hw + p] = Normalization.normalise(rgb[(t * hw + p) * 3 + c], channel: c) } } }
        return ReplayClip(data: data, staticIndex: staticIndex, source: source)
    }

    /// Frame `t` of RGB frames.
    static func frame(_ rgb: [UInt8], _ t: Int, height: Int, width: Int) -> [UInt8] {
        Array(rgb[(t * height * width * 3)..<((t + 1) * height * width * 3)])
    }

    static func tool(_ name: String, _ arguments: [String]) throws -> Data {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/\(name)")
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err; p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw StatisticsError.invalidInput("\(name): \(String(decoding: errors, as: UTF8.self))") }
        return data
    }

    /// PNG bytes decoded by ffprobe (size, codec, pixel format) and ffmpeg (pixels as RGB24).
    static func decodePNG(_ png: [UInt8]) throws -> (width: Int, height: Int, rgb: [UInt8]) {
        let path = NSTemporaryDirectory() + "conceptd-stats-\(UUID().uuidString.prefix(8)).png"
        try Data(png).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let probe = String(decoding: try tool("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,width,height,pix_fmt", "-of", "csv=p=0", path]),
                           as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",")
        guard probe.count == 4, probe[0] == "png", probe[3] == "rgb24", let w = Int(probe[1]), let h = Int(probe[2]) else {
            throw StatisticsError.invalidInput("ffprobe says \(probe)")
        }
        let rgb = try tool("ffmpeg", ["-hide_banner", "-loglevel", "error", "-nostdin", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        return (w, h, Array(rgb))
    }
}

@Suite struct ConceptUsageTests {
    @Test func frequencyIsABiasCorrectedMovingAverageOfTopKHits() throws {
        let c = try StatsSupport.smallConfig()                           // Ks = Kd = 6, K = 2
        var o = StatisticsOptions(); o.emaRate = 0.5; o.deadWindow = 3
        let stats = try LiveStatistics(config: c, options: o)
        let s1 = try StatsSupport.codes([[0, 1], [0, 2]], k: 6)
        let ts = try Tensor(floats: [0.5, 0.3, 0.2, 0, 0, 0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.5], shape: [2, 6])
        let validS: [UInt8] = [1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0]
        try stats.record(step: 1, outputs: StatsSupport.outputs(s: s1, d: StatsSupport.codes([[5, 4], [5, 4]], k: 6), ts: ts, validS: validS))
        var r = stats.concepts
        #expect(r.static.concepts.map(\.frequency) == [1, 0.5, 0.5, 0, 0, 0])
        #expect(r.dynamic.concepts.map(\.frequency) == [0, 0, 0, 0, 1, 1])
        let columnMeans = (0..<6).map { j in Double(s1.values[j] + s1.values[6 + j]) / 2 }
        for j in 0..<6 { #expect(abs(r.static.concepts[j].meanActivation - columnMeans[j]) < 1e-6) }
        let mass = r.static.concepts.map(\.targetMass)
        for (m, e) in zip(mass, [0.3, 0.2, 0.15, 0.05, 0.05, 0.25]) { #expect(abs(m - e) < 1e-6) }
        #expect(abs(mass.reduce(0, +) - 1) < 1e-6)
        #expect(r.static.concepts.map(\.agreement) == [1, 0.5, 0, 0, 0, 0])

        // Second step: (1 − α)·x1·α + α·x2 over the weight 1 − (1 − α)² = 0.75 gives x1/3 + 2·x2/3.
        try stats.record(step: 2, outputs: StatsSupport.outputs(s: StatsSupport.codes([[3, 4], [3, 4]], k: 6), d: StatsSupport.codes([[5, 4], [5, 4]], k: 6)))
        r = stats.concepts
        let expected = [1.0 / 3, 1.0 / 6, 1.0 / 6, 2.0 / 3, 2.0 / 3, 0]
        for (f, e) in zip(r.static.concepts.map(\.frequency), expected) { #expect(abs(f - e) < 1e-12) }
        #expect(abs(r.static.concepts.map(\.frequency).reduce(0, +) - 2) < 1e-12, "frequencies sum to K")
        #expect(r.static.deadCount == 0, "fewer than deadWindow steps seen: nothing is judged dead yet")
        #expect(r.steps == 2 && r.step == 2 && r.firstStep == 1 && r.topK == 2)
    }

    @Test func deadMeansNoTopKHitInTheLastWindow() throws {
        let c = try StatsSupport.smallConfig()
        var o = StatisticsOptions(); o.deadWindow = 3
        let stats = try LiveStatistics(config: c, options: o)
        let d = try StatsSupport.codes([[0, 1]], k: 6)
        try stats.record(step: 1, outputs: StatsSupport.outputs(s: StatsSupport.codes([[0, 1], [0, 2]], k: 6), d: StatsSupport.codes([[0, 1], [0, 1]], k: 6)))
        for step in 2...3 {
            try stats.record(step: step, outputs: StatsSupport.outputs(s: StatsSupport.codes([[3, 4]], k: 6), d: d))
        }
        var s = stats.concepts.static
        #expect(s.concepts.map(\.dead) == [false, false, false, false, false, true], "only concept 5 was never hit")
        #expect(s.deadCount == 1)
        try stats.record(step: 4, outputs: StatsSupport.outputs(s: StatsSupport.codes([[3, 4]], k: 6), d: d))
        s = stats.concepts.static
        #expect(s.concepts.map(\.dead) == [true, true, true, false, false, true], "0, 1, 2 were last hit 3 steps ago")
        #expect(s.concepts.map(\.lastActiveStep) == [1, 1, 1, 4, 4, nil])
        #expect(s.concepts.map(\.hits) == [2, 1, 1, 3, 3, 0])
        let dyn = stats.concepts.dynamic
        #expect(dyn.concepts.map(\.dead) == [false, false, true, true, true, true], "branches are judged separately")
    }

    @Test func uniformUsageHasPerplexityK_concentratedUsageHasPerplexityTopK() throws {
        let c = try StatsSupport.smallConfig()
        let stats = try LiveStatistics(config: c)
        let empty = stats.concepts
        #expect(empty.static.perplexity == 0 && empty.steps == 0 && empty.firstStep == nil)
        // Static: row i ranks i and i+1 first, so every concept is in 2 of the 6 top-2 lists.
        let uniform = try StatsSupport.codes((0..<6).map { [$0, ($0 + 1) % 6] }, k: 6)
        let concentrated = try StatsSupport.codes(Array(repeating: [0, 1], count: 6), k: 6)
        for step in 1...5 { try stats.record(step: step, outputs: StatsSupport.outputs(s: uniform, d: concentrated)) }
        let r = stats.concepts
        #expect(stats.usage(branch: .static) == r.static && stats.usage(branch: .dynamic) == r.dynamic)
        #expect(abs(r.static.perplexity - 6) < 1e-9)
        #expect(abs(r.static.entropy - log(6)) < 1e-9)
        #expect(abs(r.dynamic.perplexity - 2) < 1e-9)
        #expect(r.dynamic.concepts.map(\.frequency) == [1, 1, 0, 0, 0, 0])
    }

    @Test func nonFiniteRowsAreLeftOut_badShapesAreErrors() throws {
        let c = try StatsSupport.smallConfig()
        let stats = try LiveStatistics(config: c)
        var values = try StatsSupport.codes([[2, 3], [0, 1]], k: 6).values
        values[7] = .nan
        let s = try Tensor(values, shape: [2, 6])
        try stats.record(step: 1, outputs: StatsSupport.outputs(s: s, d: StatsSupport.codes([[0, 1], [0, 1]], k: 6)))
        #expect(stats.concepts.static.concepts.map(\.frequency) == [0, 0, 1, 1, 0, 0])
        #expect(throws: StatisticsError.self) {
            try stats.record(step: 2, outputs: StatsSupport.outputs(s: StatsSupport.codes([[0, 1]], k: 6), d: StatsSupport.codes([[0, 1], [0, 1]], k: 6)))
        }
        #expect(throws: StatisticsError.self) {
            try stats.record(step: 2, outputs: StatsSupport.outputs(s: StatsSupport.codes([[0, 1]], k: 6), d: StatsSupport.codes([[0, 1]], k: 6),
                                                                    validS: [1, 0]))
        }
        #expect(throws: StatisticsError.self) { try stats.record(step: 2, outputs: ForwardOutputs()) }
        let partial = try JSONDecoder().decode(StatisticsOptions.self, from: Data(#"{"deadWindow": 7}"#.utf8))
        var expected = StatisticsOptions(); expected.deadWindow = 7
        #expect(partial == expected, "missing keys keep their defaults")
        var bad = StatisticsOptions(); bad.historyCapacity = 5; bad.emaRate = 0
        #expect(throws: StatisticsError.self) { try LiveStatistics(config: c, options: bad) }
        #expect(stats.concept(branch: .static, index: 6) == nil && stats.concept(branch: .dynamic, index: -1) == nil)
    }
}

@Suite struct GalleryTests {
    static func image(_ v: UInt8) -> RGBImage { var i = RGBImage(width: 2, height: 2); i.pixels = [UInt8](repeating: v, count: 12); return i }

    @Test func keepsTheStrongestAndNeverDuplicatesAClip() {
        var g = ConceptGallery(capacity: 3, decay: 0)
        var rng = StatsSupport.LCG(state: 9)
        var offered: [(UInt64, Double)] = []
        for fp in 1...40 {
            let a = Double(rng.next() % 1_000_000) / 1_000_000
            offered.append((UInt64(fp), a))
            g.offer(fingerprint: UInt64(fp), source: "s", step: 0, activation: a) { Self.image(UInt8(fp)) }
        }
        let best = offered.sorted { $0.1 > $1.1 }.prefix(3).map(\.0)
        #expect(g.ranked.map(\.fingerprint) == Array(best))
        #expect(g.ranked.map(\.thumbnail) == best.map { Self.image(UInt8($0)) })
        // The same clip again (a replay draw) refreshes its entry instead of taking a second slot.
        #expect(g.offer(fingerprint: best[2], source: "s", step: 0, activation: 2) { Self.image(0) } == .refreshed)
        #expect(g.ranked.map(\.fingerprint) == [best[2], best[0], best[1]])
        #expect(g.offer(fingerprint: best[0], source: "s", step: 0, activation: 0) { Self.image(0) } == .rejected)
        #expect(g.entries.count == 3)
    }

    @Test func ageingLetsRecentClipsReplaceOldStrongOnes() {
        var g = ConceptGallery(capacity: 3, decay: 0.01)
        for (fp, a) in [(1, 0.9), (2, 0.5), (3, 0.7), (4, 0.6)] {
            g.offer(fingerprint: UInt64(fp), source: "old", step: 0, activation: a) { Self.image(UInt8(fp)) }
        }
        #expect(Set(g.entries.map(\.fingerprint)) == [1, 3, 4])
        // 100 steps later an activation of 0.2 scores 0.2 while the old ones score 0.9 − 1, 0.7 − 1, 0.6 − 1.
        #expect(g.offer(fingerprint: 5, source: "new", step: 100, activation: 0.2) { Self.image(5) } == .replaced)
        #expect(Set(g.entries.map(\.fingerprint)) == [1, 3, 5], "the weakest old clip went first")
        g.offer(fingerprint: 6, source: "new", step: 100, activation: 0.15) { Self.image(6) }
        g.offer(fingerprint: 7, source: "new", step: 100, activation: 0.1) { Self.image(7) }
        #expect(g.ranked.map(\.fingerprint) == [5, 6, 7])
        let items = g.items(now: 150, thumbnails: false)
        #expect(items.map(\.item) == [0, 1, 2] && items.allSatisfy { $0.source == "new" && $0.step == 100 })
        #expect(zip(items.map(\.score), [0.2, 0.15, 0.1]).allSatisfy { abs($0 - ($1 - 0.5)) < 1e-12 })
    }
}

@Suite struct TrainingHistoryTests {
    static func losses(_ step: Int) -> Losses {
        Losses(aln: Scalar(step), div: 1, fid: Scalar(2 * step), loc: 0.5, nce: 0, total: Scalar(3 * step + 1))
    }

    @Test func staysBoundedAndKeepsTheFirstAndLatestSteps() throws {
        let c = try StatsSupport.smallConfig()
        var o = StatisticsOptions(); o.historyCapacity = 8; o.lossAverageRate = 0.05
        let stats = try LiveStatistics(config: c, options: o)
        var skipped = 0, average = 0.0
        for step in 1...1000 {
            stats.recordTraining(step: step, losses: Self.losses(step), gradientNorm: 2, clipsPerSecond: 10,
                                 skippedSteps: skipped, rollbacks: 0, time: Date(timeIntervalSince1970: Double(step)))
            average = step == 1 ? Double(3 * step + 1) : average + 0.05 * (Double(3 * step + 1) - average)
            if step % 100 == 0 {                                        // a skipped step: same step number, NaN loss
                skipped += 1
                stats.recordTraining(step: step, losses: Losses(total: .nan), gradientNorm: .nan, clipsPerSecond: 10,
                                     skippedSteps: skipped, rollbacks: 0)
            }
            let r = stats.training
            #expect(r.points.count <= 9)
        }
        let r = stats.training
        #expect(r.first?.step == 1 && r.latest?.step == 1000 && r.recorded == 1000 && r.skippedSteps == 10)
        #expect(r.points.first?.firstStep == 1 && r.points.last?.step == 1000)
        #expect(r.points.map(\.samples).reduce(0, +) == 1000)
        #expect(r.stepsPerPoint == 128, "the smallest power of two with 1000 < 8 points of it")
        for (a, b) in zip(r.points, r.points.dropFirst()) { #expect(b.firstStep == a.step + 1, "points are contiguous") }
        for p in r.points {
            // Steps firstStep...step are averaged: the mean of an arithmetic run is its midpoint.
            let mid = Double(p.firstStep + p.step) / 2
            #expect(p.samples == p.step - p.firstStep + 1)
            #expect(abs(Double(p.losses.aln) - mid) < 1e-3 && abs(Double(p.losses.total) - (3 * mid + 1)) < 1e-3)
            #expect(p.gradientNorm == 2 && p.clipsPerSecond == 10 && p.time == Double(p.step))
        }
        #expect(abs(Double(r.lossAverage.total) - average) / average < 1e-4)
        #expect(r.latest?.skippedSteps == 9 && r.points.last?.skippedSteps == 9, "the skipped step after 1000 is only a counter")
    }

    @Test func aLongRunKeepsTheSameBound() throws {
        var h = TrainingHistory(capacity: 16, rate: 0.05)
        for step in 1...200_000 {
            h.record(step: step, losses: Self.losses(step), gradientNorm: 1, clipsPerSecond: 1, skippedSteps: 0, rollbacks: 0, time: 0)
        }
        let r = h.report
        #expect(r.points.count <= 17 && r.stepsPerPoint == 16_384)
        #expect(r.points.first?.firstStep == 1 && r.points.last?.step == 200_000 && r.first?.step == 1 && r.latest?.step == 200_000)
    }
}

@Suite struct LiveStatisticsModelTests {
    /// A real step of the small model on `n` pattern clips.
    static func step(_ learner: ConceptLearner, n: Int, seed: UInt64) throws -> (StepReport, [ReplayClip], [[UInt8]]) {
        let c = learner.config
        var clips: [ReplayClip] = [], rgbs: [[UInt8]] = []
        for i in 0..<n {
            let rgb = StatsSupport.pattern(frames: c.frames + 1, height: c.height, width: c.width, seed: seed &+ UInt64(i))
            rgbs.append(rgb)
            clips.append(StatsSupport.clip(rgb, frames: c.frames + 1, height: c.height, width: c.width, staticIndex: i % c.frames, source: "src\(i % 2)"))
        }
        let (frames, statics) = try clips.batch(frames: c.frames + 1, height: c.height, width: c.width)
        return (try learner.step(frames: frames, staticIndex: statics, useLocal: true), clips, rgbs)
    }

    @Test func aRealStepGivesTargetMassesSummingToOneAndGalleriesOfItsClips() throws {
        let c = try StatsSupport.smallConfig()
        let learner = try ConceptLearner(config: c, seed: 3)
        let stats = try LiveStatistics(config: c)
        let (report, clips, rgbs) = try Self.step(learner, n: 4, seed: 11)
        try stats.record(step: 1, outputs: report.outputs, batch: clips)
        let r = stats.concepts
        for branch in [r.static, r.dynamic] {
            #expect(abs(branch.concepts.map(\.targetMass).reduce(0, +) - 1) < 1e-4, "\(branch.branch)")
            #expect(abs(branch.concepts.map(\.frequency).reduce(0, +) - 2) < 1e-9)
            #expect(branch.concepts.map(\.hits).reduce(0, +) == 4 * 2)
            #expect(branch.perplexity >= 1 && branch.perplexity <= 6)
        }
        // Every concept's gallery holds the 4 clips, ordered by their column of q_v.
        let qv = try #require(report.outputs.codes[.v]).values
        for (branch, offset) in [(ConceptBranch.static, 0), (.dynamic, 6)] {
            for j in 0..<6 {
                let detail = try #require(stats.concept(branch: branch, index: j, thumbnails: true))
                let expected = (0..<4).sorted { qv[$0 * 12 + offset + j] > qv[$1 * 12 + offset + j] }
                #expect(detail.gallery.map(\.source) == expected.map { clips[$0].source })
                #expect(zip(detail.gallery.map(\.activation), expected.map { Double(qv[$0 * 12 + offset + j]) }).allSatisfy { abs($0 - $1) < 1e-6 })
                #expect(detail.gallery.allSatisfy { $0.width == 16 && $0.height == 16 && $0.png != nil })
            }
        }
        // The best clip's thumbnail is its middle frame (16 x 16 is under the thumbnail size, so unscaled), exactly.
        let best = (0..<4).max { qv[$0 * 12] < qv[$1 * 12] }!
        let png = try #require(stats.galleryPNG(branch: .static, index: 0, item: 0))
        let decoded = try StatsSupport.decodePNG(png)
        #expect(decoded.width == 16 && decoded.height == 16)
        #expect(decoded.rgb == StatsSupport.frame(rgbs[best], (c.frames + 1) / 2, height: 16, width: 16))
        let detail = try #require(stats.concept(branch: .static, index: 0, thumbnails: true))
        #expect(try #require(detail.gallery[0].png) == Data(png).base64EncodedString())
        #expect(stats.galleryPNG(branch: .static, index: 0, item: 4) == nil)
    }

    @Test func reportsEncodeWithTheDocumentedFieldNames() throws {
        let c = try StatsSupport.smallConfig()
        let learner = try ConceptLearner(config: c, seed: 3)
        let stats = try LiveStatistics(config: c)
        let (report, clips, _) = try Self.step(learner, n: 2, seed: 5)
        try stats.record(step: 1, outputs: report.outputs, batch: clips)
        stats.recordTraining(step: 1, losses: report.outputs.losses, gradientNorm: Double(report.gradientNorm), clipsPerSecond: 3,
                             skippedSteps: 0, rollbacks: 0)
        try stats.inspect(source: "src0", clip: clips[0], learner: learner)
        func keys(_ value: some Encodable) throws -> Set<String> {
            let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as! [String: Any]
            return Set(json.keys)
        }
        let r = stats.concepts
        #expect(try keys(r) == ["step", "steps", "firstStep", "topK", "deadWindow", "emaRate", "static", "dynamic"])
        #expect(try keys(r.static) == ["branch", "count", "entropy", "perplexity", "targetPerplexity", "deadCount", "concepts"])
        #expect(try keys(r.static.concepts[0]).isSubset(of: ["index", "frequency", "meanActivation", "targetMass", "agreement", "hits",
                                                            "lastActiveStep", "dead"]))
        let d = try #require(stats.concept(branch: .dynamic, index: 1, thumbnails: true))
        #expect(try keys(d) == ["branch", "stats", "gallery"])
        #expect(try keys(d.gallery[0]) == ["item", "source", "step", "activation", "score", "width", "height", "png"])
        let s = try #require(stats.sources.first)
        #expect(try keys(s) == ["source", "step", "time", "inspections", "static", "dynamic", "inspectionSeconds", "frameWidth",
                                "frameHeight", "tokenGrid"])
        #expect(try keys(s.static[0]) == ["index", "activation"])
        let t = stats.training
        #expect(try keys(t) == ["step", "skippedSteps", "rollbacks", "clipsPerSecond", "lossAverage", "lossAverageRate", "recorded",
                                "stepsPerPoint", "capacity", "first", "latest", "points"])
        #expect(try keys(t.points[0]) == ["firstStep", "step", "samples", "time", "losses", "gradientNorm", "clipsPerSecond",
                                          "skippedSteps", "rollbacks"])
        #expect(try keys(t.lossAverage) == ["aln", "div", "fid", "loc", "nce", "nceStatic", "consistency", "total"])
        #expect(try JSONDecoder().decode(ConceptsReport.self, from: JSONEncoder().encode(r)) == r)
        #expect(String(decoding: try JSONEncoder().encode(ConceptBranch.static), as: UTF8.self) == "\"static\"")
    }

    @Test func trainerEventsFeedTheStatisticsWithTheDrawnBatch() throws {
        let c = try StatsSupport.smallConfig()
        let trainer = try Trainer(config: c, batchSize: 3, warmupSteps: 0, seed: 2, store: nil)
        let replay = ReplayBuffer(capacity: 10)
        for i in 0..<4 {
            let rgb = StatsSupport.pattern(frames: c.frames + 1, height: c.height, width: c.width, seed: UInt64(40 + i))
            replay.add(StatsSupport.clip(rgb, frames: c.frames + 1, height: c.height, width: c.width, staticIndex: 1, source: i < 2 ? "a" : "b"))
        }
        let stats = try LiveStatistics(config: c)
        for _ in 0..<2 {
            let event = try trainer.step(from: replay)
            #expect(trainer.lastBatch.count == 3)
            try stats.record(event, trainer: trainer, clipsPerSecond: 7)
        }
        #expect(stats.concepts.steps == 2 && stats.concepts.step == trainer.state.step)
        #expect(stats.training.recorded == 2 && stats.training.clipsPerSecond == 7)
        let sources = Set(trainer.lastBatch.map(\.source))
        let gallery = try #require(stats.concept(branch: .static, index: 0)).gallery
        #expect(!gallery.isEmpty && gallery.count <= 4 && Set(gallery.map(\.source)).isSubset(of: ["a", "b"]) && !sources.isEmpty)
    }
}

@Suite struct InspectionTests {
    @Test func inspectionOfATinyModelMatchesItsCodesAndDrawsTheAttention() throws {
        let c = try ModelConfig.preset("tiny")                         // 9 x 64 x 64 clips, Ks = Kd = 50, K = 5
        let learner = try ConceptLearner(config: c, seed: 4)
        var o = StatisticsOptions(); o.attentionScale = 2; o.overlayAlpha = 0.5
        let stats = try LiveStatistics(config: c, options: o)
        #expect(stats.attentionPNG(source: "cam") == nil && stats.source(named: "cam") == nil)
        let rgb = StatsSupport.pattern(frames: c.frames + 1, height: c.height, width: c.width, seed: 21)
        let clip = StatsSupport.clip(rgb, frames: c.frames + 1, height: c.height, width: c.width, staticIndex: 3, source: "cam")
        var seconds: [Double] = []
        var report: SourceConcepts?
        for _ in 0..<3 {
            let start = LiveStatistics.monotonicNow()
            report = try stats.inspect(source: "cam", clip: clip, learner: learner)
            seconds.append(LiveStatistics.monotonicNow() - start)
        }
        let r = try #require(report)
        print("inspection of one tiny-preset clip: best \(String(format: "%.1f", seconds.min()! * 1000)) ms of 3")
        #expect(r.inspections == 3 && r.frameWidth == 64 && r.frameHeight == 64)

        // The same evaluation-mode forward pass, independently.
        let frames = try Tensor(floats: clip.data, shape: [1, 3, c.frames + 1, c.height, c.width])
        let outputs = try GradMode.withNoGrad { try learner.forward(frames: frames, staticIndex: [3], useLocal: true, training: false) }
        let qv = try #require(outputs.codes[.v]).values
        let staticTop = (0..<50).sorted { qv[$0] > qv[$1] }.prefix(5)
        let dynamicTop = (50..<100).sorted { qv[$0] > qv[$1] }.prefix(5)
        #expect(r.static.map(\.index) == Array(staticTop) && r.dynamic.map(\.index) == dynamicTop.map { $0 - 50 })
        #expect(zip(r.static.map(\.activation), staticTop.map { Double(qv[$0]) }).allSatisfy { abs($0 - $1) < 1e-6 })
        let (gt, gh, gw) = outputs.tokenGrid
        #expect(r.tokenGrid == [gt, gh, gw])
        let l = gt * gh * gw
        let attention = try #require(outputs.attention[.v]).values
        let kept = stats.state.withLock { $0.sources["cam"]! }
        #expect(zip(kept.staticAttention, attention[(staticTop.first! * l)..<((staticTop.first! + 1) * l)]).allSatisfy { abs($0 - Float($1)) < 1e-6 })
        #expect(zip(kept.dynamicAttention, attention[(dynamicTop.first! * l)..<((dynamicTop.first! + 1) * l)]).allSatisfy { abs($0 - Float($1)) < 1e-6 })

        // The middle frame comes back exactly; the overlay has the promised size and colours.
        let frame = try StatsSupport.decodePNG(try #require(stats.framePNG(source: "cam")))
        let middle = StatsSupport.frame(rgb, (c.frames + 1) / 2, height: 64, width: 64)
        #expect(frame.width == 64 && frame.height == 64 && frame.rgb == middle)
        let start = LiveStatistics.monotonicNow()
        let png = try #require(stats.attentionPNG(source: "cam"))
        let renderMs = (LiveStatistics.monotonicNow() - start) * 1000
        print("attention PNG render: \(String(format: "%.1f", renderMs)) ms, \(png.count) bytes")
        let image = try StatsSupport.decodePNG(png)
        #expect(image.width == 2 * 128 + 4 && image.height == 128)
        // At the centre of the strongest token of the T'-averaged static map the colour is near inferno(1) (pale
        // yellow), at the weakest near inferno(0) (black), each blended half and half with the frame.
        var map = [Double](repeating: 0, count: gh * gw)
        for t in 0..<gt { for p in 0..<(gh * gw) { map[p] += Double(kept.staticAttention[t * gh * gw + p]) } }
        for (token, colour) in [(map.indices.max { map[$0] < map[$1] }!, (252, 255, 164)), (map.indices.min { map[$0] < map[$1] }!, (0, 0, 4))] {
            let ty = token / gw, tx = token % gw
            let cy = ty * 128 / gh + 64 / gh, cx = tx * 128 / gw + 64 / gw
            let p = (cy * image.width + cx) * 3
            for (ch, col) in [colour.0, colour.1, colour.2].enumerated() {
                // The frame upscaled 2x at an even pixel d samples source d/2 − 1/4: 3/4 of d/2, 1/4 of d/2 − 1.
                func px(_ y: Int, _ x: Int) -> Double { Double(middle[(max(y, 0) * 64 + max(x, 0)) * 3 + ch]) }
                let y0 = cy / 2, x0 = cx / 2
                let base = 0.75 * (0.75 * px(y0, x0) + 0.25 * px(y0, x0 - 1)) + 0.25 * (0.75 * px(y0 - 1, x0) + 0.25 * px(y0 - 1, x0 - 1))
                let expected = 0.5 * base + 0.5 * Double(col)
                #expect(abs(Double(image.rgb[p + ch]) - expected) <= 12, "token \(token) channel \(ch)")
            }
        }
    }

    @Test func inspectDueVisitsEachSourceInTurnWithItsNewestClip() throws {
        let c = try StatsSupport.smallConfig()
        let learner = try ConceptLearner(config: c, seed: 1)
        var o = StatisticsOptions(); o.inspectionInterval = 5; o.maxSources = 2
        let stats = try LiveStatistics(config: c, options: o)
        let replay = ReplayBuffer(capacity: 3, policy: .reservoir, seed: 1)
        var rgbs: [String: [UInt8]] = [:]
        for (i, source) in ["a", "b", "a", "a", "a", "a"].enumerated() {
            let rgb = StatsSupport.pattern(frames: 3, height: 16, width: 16, seed: UInt64(i))
            rgbs[source] = rgb
            replay.add(StatsSupport.clip(rgb, frames: 3, height: 16, width: 16, staticIndex: 0, source: source))
        }
        #expect(replay.sources == ["a", "b"])
        #expect(replay.latest(source: "a")?.data == StatsSupport.clip(rgbs["a"]!, frames: 3, height: 16, width: 16, staticIndex: 0, source: "a").data)
        #expect(replay.latest(source: "zzz") == nil)
        #expect(try stats.inspectDue(replay: replay, learner: learner, limit: 1, now: 100).map(\.source) == ["a"])
        #expect(try stats.inspectDue(replay: replay, learner: learner, limit: 1, now: 101).map(\.source) == ["b"])
        #expect(try stats.inspectDue(replay: replay, learner: learner, limit: 1, now: 104).isEmpty)
        #expect(try stats.inspectDue(replay: replay, learner: learner, limit: 5, now: 105.5).map(\.source) == ["a"])
        let frame = try StatsSupport.decodePNG(try #require(stats.framePNG(source: "a")))
        #expect(frame.rgb == StatsSupport.frame(rgbs["a"]!, 1, height: 16, width: 16), "the newest clip of a was inspected")
        // A third source pushes out the one inspected longest ago.
        _ = try stats.inspect(source: "c", clip: replay.latest(source: "b")!, learner: learner, clock: 106)
        #expect(stats.sources.map(\.source) == ["a", "c"])
        // Clips that do not fit are errors.
        #expect(throws: StatisticsError.self) { try stats.inspect(source: "x", clip: ReplayClip(data: [1, 2], staticIndex: 0, source: "x"), learner: learner) }
        var wrong = replay.latest(source: "a")!; wrong.staticIndex = 2
        #expect(throws: StatisticsError.self) { try stats.inspect(source: "x", clip: wrong, learner: learner) }
    }
}

@Suite struct ConcurrencyTests {
    /// Readers on other threads (as HTTP handlers) see consistent snapshots while the trainer's thread records.
    @Test func readersSeeConsistentSnapshotsWhileTheTrainerRecords() async throws {
        let c = try StatsSupport.smallConfig()
        let learner = try ConceptLearner(config: c, seed: 6)
        let stats = try LiveStatistics(config: c)
        let (report, clips, _) = try LiveStatisticsModelTests.step(learner, n: 4, seed: 77)
        try stats.inspect(source: "src0", clip: clips[0], learner: learner)
        let steps = 300
        let readers = (0..<2).map { r in
            Task.detached { () -> Int in
                var reads = 0, lastSteps = 0
                while lastSteps < steps {
                    let concepts = stats.concepts
                    #expect(concepts.steps >= lastSteps, "a reader never sees the past")
                    lastSteps = concepts.steps
                    if concepts.steps > 0 {
                        #expect(abs(concepts.static.concepts.map(\.frequency).reduce(0, +) - 2) < 1e-9)
                        #expect(concepts.static.concepts.map(\.hits).reduce(0, +) == concepts.steps * 4 * 2, "usage is never half-updated")
                    }
                    let t = stats.training
                    #expect(t.points.map(\.samples).reduce(0, +) == t.recorded)
                    if r == 0 { #expect(stats.attentionPNG(source: "src0") != nil) } else { _ = stats.concept(branch: .dynamic, index: 2, thumbnails: true) }
                    reads += 1
                }
                return reads
            }
        }
        for step in 1...steps {
            try stats.record(step: step, outputs: report.outputs, batch: clips)
            stats.recordTraining(step: step, losses: report.outputs.losses, gradientNorm: 1, clipsPerSecond: 1, skippedSteps: 0, rollbacks: 0)
            if step % 50 == 0 { try stats.inspect(source: "src0", clip: clips[step % 4], learner: learner) }
        }
        for reader in readers { #expect(await reader.value > 0) }
        #expect(stats.concepts.steps == steps && stats.training.recorded == steps)
    }
}

@Suite struct StatisticsCostTests {
    /// Recording cost at the tiny preset's sizes (Ks = Kd = 50, K = 5, 9 x 64 x 64 clips, a batch of 8); the
    /// backbone is narrowed only to make the forward pass that produces the outputs quick.
    @Test func recordingIsWellUnderAMillisecond() throws {
        var c = try ModelConfig.preset("tiny")
        c.widths = [4, 8, 8, 8]; c.stem = 4; c.blocks = [1, 1, 1, 1]
        let learner = try ConceptLearner(config: c, seed: 8)
        let stats = try LiveStatistics(config: c)
        var clips: [ReplayClip] = []
        for i in 0..<8 {
            let rgb = StatsSupport.pattern(frames: c.frames + 1, height: c.height, width: c.width, seed: UInt64(100 + i))
            clips.append(StatsSupport.clip(rgb, frames: c.frames + 1, height: c.height, width: c.width, staticIndex: i % c.frames, source: "s\(i % 3)"))
        }
        let (frames, statics) = try clips.batch(frames: c.frames + 1, height: c.height, width: c.width)
        let outputs = try learner.forward(frames: frames, staticIndex: statics, useLocal: true)
        // A fresh gallery takes every clip (8 thumbnails); time the second such call, past one-time set-up.
        var first = 0.0, t = 0.0
        for _ in 0..<(Int(ProcessInfo.processInfo.environment["STATS_FRESH"] ?? "") ?? 2) {
            let fresh = try LiveStatistics(config: c)
            t = LiveStatistics.monotonicNow()
            try fresh.record(step: 1, outputs: outputs, batch: clips)
            first = LiveStatistics.monotonicNow() - t
        }
        try stats.record(step: 1, outputs: outputs, batch: clips)
        let repeats = Int(ProcessInfo.processInfo.environment["STATS_REPEATS"] ?? "") ?? 200
        t = LiveStatistics.monotonicNow()
        for step in 2...(repeats + 1) {
            try stats.record(step: step, outputs: outputs, batch: clips)
            stats.recordTraining(step: step, losses: outputs.losses, gradientNorm: 1, clipsPerSecond: 1, skippedSteps: 0, rollbacks: 0)
        }
        let each = (LiveStatistics.monotonicNow() - t) / Double(repeats)
        t = LiveStatistics.monotonicNow()
        let report = stats.concepts
        let reportTime = LiveStatistics.monotonicNow() - t
        print(String(format: "record (N=8, Ks=Kd=50, 64x64): first %.1f µs (8 thumbnails), then %.1f µs per step incl. history; concepts report %.1f µs",
                     first * 1e6, each * 1e6, reportTime * 1e6))
        #expect(report.steps == repeats + 1)
        #expect(each < 1e-3, "recording took \(each * 1e3) ms per step")
    }
}
