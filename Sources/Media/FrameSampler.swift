/// Resamples a stream of frame timestamps to a fixed rate by nearest timestamp: each output tick
/// `t0 + k / fps` takes the input frame closest to it, so frames are dropped (fast input) or repeated
/// (slow input). The sampler holds one frame back: a frame's fate is known when the next one arrives.
/// Timestamps that go backwards, or forwards by more than `maxGap` seconds, are jumps: the held frame is
/// flushed, `discontinuity` is set (no clip may span it) and the tick grid restarts at the new frame.
struct FrameSampler: Sendable {
    /// What to do after a `push`.
    struct Step: Equatable, Sendable {
        /// Times the held (previous) frame is emitted, in order, before anything else.
        var emitHeld: Int
        /// A jump happened after those emissions: reset clip building.
        var discontinuity: Bool
        /// Whether the new frame becomes the held frame (false: a duplicate timestamp, dropped).
        var holdNew: Bool
    }

    let interval: Double
    let maxGap: Double
    private var held: Double?
    private var origin: Double = 0
    private var nextTick: Int = 0
    /// Number of jumps seen.
    private(set) var jumps = 0

    init(fps: Double, maxGap: Double) {
        interval = 1 / fps
        self.maxGap = maxGap
    }

    private func tickTime(_ k: Int) -> Double { origin + Double(k) * interval }

    /// Ticks `k >= nextTick` with time `< limit` (strict) or `<= limit` (inclusive).
    private func ticks(before limit: Double, inclusive: Bool) -> Int {
        let eps = 1e-9
        let q = (limit - origin) / interval
        // Last tick index satisfying the bound.
        let last: Int
        if inclusive {
            last = Int((q + eps).rounded(.down))
        } else {
            last = Int((q - eps).rounded(.up)) - 1
        }
        return max(0, last - nextTick + 1)
    }

    /// Feeds the next frame's timestamp (seconds).
    mutating func push(_ ts: Double) -> Step {
        guard let h = held else {
            held = ts
            origin = ts
            nextTick = 0
            return Step(emitHeld: 0, discontinuity: false, holdNew: true)
        }
        if ts == h { return Step(emitHeld: 0, discontinuity: false, holdNew: false) }
        if ts < h || ts - h > maxGap {
            jumps += 1
            let n = flush()
            held = ts
            origin = ts
            nextTick = 0
            return Step(emitHeld: n, discontinuity: true, holdNew: true)
        }
        let n = ticks(before: (h + ts) / 2, inclusive: false)
        nextTick += n
        held = ts
        return Step(emitHeld: n, discontinuity: false, holdNew: true)
    }

    /// End of input: times the held frame is emitted (the ticks up to and including its timestamp).
    mutating func flush() -> Int {
        guard let h = held else { return 0 }
        let n = ticks(before: h, inclusive: true)
        nextTick += n
        held = nil
        return n
    }

    /// Forgets the held frame and the tick grid (after a reconnect).
    mutating func reset() {
        held = nil
        nextTick = 0
    }
}

/// Decides which sampled frames end a clip: clip `k` covers sampled frames `k * stride ... k * stride + T`.
struct ClipCutter: Sendable {
    /// `T + 1`.
    let length: Int
    let stride: Int
    /// Sampled frames since the last reset.
    private(set) var index = 0

    init(length: Int, stride: Int) {
        self.length = length
        self.stride = stride
    }

    /// Whether the next sampled frame belongs to some clip (frames between clips need no work when
    /// `stride > length`).
    var nextIsNeeded: Bool { stride <= length || index % stride < length }

    /// Counts one sampled frame; true when it completes a clip (the clip is the last `length` needed frames).
    mutating func push() -> Bool {
        let i = index
        index += 1
        return i >= length - 1 && (i - (length - 1)) % stride == 0
    }

    /// Starts over (after a timestamp jump or reconnect).
    mutating func reset() { index = 0 }
}
