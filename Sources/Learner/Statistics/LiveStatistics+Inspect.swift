import ConceptModel
import Foundation
import Media
import Autograd
import ConceptReports

extension LiveStatistics {
    /// Seconds on a monotonic clock (for inspection scheduling).
    public static func monotonicNow() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Inspects `clip` (the newest of `source`): one evaluation pass of its clip view without a graph
    /// (`ConceptLearner.encode(frames:)`: batch norm uses its running statistics, nothing in the model or queues
    /// changes), keeping the strongest static and dynamic concepts of its `q_v`, the attention rows of the
    /// top static and the top dynamic concept over the layer4 tokens, and its middle frame. Call on the trainer's
    /// thread between steps (the learner is not thread-safe). Returns the source's new report.
    @discardableResult
    public func inspect(source: String, clip: ReplayClip, learner: ConceptLearner) throws -> SourceConcepts {
        try inspect(source: source, clip: clip, learner: learner, clock: Self.monotonicNow())
    }

    func inspect(source: String, clip: ReplayClip, learner: ConceptLearner, clock: Double) throws -> SourceConcepts {
        let c = config
        guard learner.config == c else { throw StatisticsError.invalidInput("the learner's model configuration differs from the statistics'") }
        let t1 = c.frames + 1
        guard clip.data.count == 3 * t1 * c.height * c.width else {
            throw StatisticsError.invalidInput("a clip must hold 3 x \(t1) x \(c.height) x \(c.width) values, got \(clip.data.count)")
        }
        guard (0..<c.frames).contains(clip.staticIndex) else {
            throw StatisticsError.invalidInput("static index \(clip.staticIndex) is not in 0..<\(c.frames)")
        }
        let start = Self.monotonicNow()
        let frames = try Tensor(floats: clip.data, shape: [1, 3, t1, c.height, c.width])
        let outputs = try learner.encode(frames: frames)
        let width = c.ks + c.kd
        guard let qv = outputs.codes[.v], qv.shape == [1, width], let attention = outputs.attention[.v] else {
            throw StatisticsError.invalidInput("the forward pass gave no q_v or attention")
        }
        let (gt, gh, gw) = outputs.tokenGrid, l = gt * gh * gw
        guard attention.shape == [1, width, l] else {
            throw StatisticsError.invalidInput("attention is \(attention.shape), expected [1, \(width), \(l)]")
        }
        let q: [Double] = qv.values.map { Double($0) }
        let shown = options.topConcepts ?? c.topK
        func strongest(_ columns: Range<Int>) -> [ConceptActivation] {
            let ranked = columns.filter { q[$0].isFinite }.sorted { q[$0] > q[$1] || (q[$0] == q[$1] && $0 < $1) }
            return ranked.prefix(shown).map { ConceptActivation(index: $0 - columns.lowerBound, activation: q[$0]) }
        }
        let top = (static: strongest(0..<c.ks), dynamic: strongest(c.ks..<width))
        func row(_ column: Int?) -> [Float] {
            guard let column else { return [] }
            let p = attention.storage.pointer + column * l
            return (0..<l).map { Float(p[$0]) }
        }
        let staticRow = row(top.static.first?.index), dynamicRow = row(top.dynamic.first.map { c.ks + $0.index })
        let frame = middleFrame(clip.data)
        let seconds = Self.monotonicNow() - start
        return state.withLock { s in
            var report = SourceConcepts(source: source, step: s.step, time: Date().timeIntervalSince1970,
                                        inspections: (s.sources[source]?.report.inspections ?? 0) + 1,
                                        static: top.static, dynamic: top.dynamic, inspectionSeconds: seconds,
                                        frameWidth: c.width, frameHeight: c.height, tokenGrid: [gt, gh, gw])
            if staticRow.isEmpty || dynamicRow.isEmpty { report.tokenGrid = [0, 0, 0] }
            s.sources[source] = Inspection(report: report, clock: clock, frame: frame, staticAttention: staticRow,
                                           dynamicAttention: dynamicRow, grid: staticRow.isEmpty || dynamicRow.isEmpty ? (0, 0, 0) : (gt, gh, gw))
            while s.sources.count > options.maxSources,
                  let oldest = s.sources.min(by: { $0.value.clock < $1.value.clock })?.key {
                s.sources[oldest] = nil
            }
            return report
        }
    }

    /// Inspects the newest clip (`ReplayBuffer.latest(source:)`) of up to `limit` sources whose last inspection is
    /// at least `inspectionInterval` seconds old (never-inspected sources first, then the longest waiting).
    /// Call on the trainer's thread between steps, e.g. after every step: it does nothing until one is due, and
    /// `limit` caps the pause (one inspection of the tiny preset costs a few milliseconds).
    @discardableResult
    public func inspectDue(replay: ReplayBuffer, learner: ConceptLearner, limit: Int = 1) throws -> [SourceConcepts] {
        try inspectDue(replay: replay, learner: learner, limit: limit, now: Self.monotonicNow())
    }

    func inspectDue(replay: ReplayBuffer, learner: ConceptLearner, limit: Int, now: Double) throws -> [SourceConcepts] {
        let last = state.withLock { $0.sources.mapValues(\.clock) }
        let due = replay.sources.enumerated()
            .filter { _, name in last[name].map { now - $0 >= options.inspectionInterval } ?? true }
            .sorted { (last[$0.element] ?? -.infinity, $0.offset) < (last[$1.element] ?? -.infinity, $1.offset) }
        var done: [SourceConcepts] = []
        for (_, name) in due.prefix(Swift.max(0, limit)) {
            guard let clip = replay.latest(source: name) else { continue }
            done.append(try inspect(source: name, clip: clip, learner: learner, clock: now))
        }
        return done
    }
}
