import Foundation
import Autograd
import SeededRandom

/// One clip in the replay buffer: `3 x (T+1) x H x W` normalised floats, its static frame and where it came from.
public struct ReplayClip: Sendable {
    public var data: [Float]
    public var staticIndex: Int
    public var source: String
    public init(data: [Float], staticIndex: Int, source: String) { self.data = data; self.staticIndex = staticIndex; self.source = source }
}

/// How the replay buffer keeps clips once full.
public enum ReplayPolicy: String, Sendable, Codable, CaseIterable {
    /// Recent clips: evict the oldest clip of the source holding the most, so no source crowds out the others.
    case fifo
    /// A uniform sample of everything seen (Algorithm R).
    case reservoir
}

/// The clip store between ingest and the trainer. Ingest never waits; the trainer draws batches (balanced over
/// sources: a source is drawn uniformly, then one of its clips), and waits without spinning while there are too
/// few clips to form a batch.
public final class ReplayBuffer: @unchecked Sendable {
    /// Maximum clips held.
    public let capacity: Int
    /// Eviction policy.
    public let policy: ReplayPolicy
    private var clips: [String: [ReplayClip]] = [:]
    private var order: [String] = []           // sources, in first-seen order (deterministic sampling)
    private var newest: [String: ReplayClip] = [:]   // the last clip added per source, held or not
    private var newestOrder: [String] = []            // every source that added a clip, first-seen order
    private var held = 0
    private var seen = 0
    private var rng: SeededGenerator
    private var closed = false
    private let condition = NSCondition()

    /// An empty buffer.
    public init(capacity: Int, policy: ReplayPolicy = .fifo, seed: UInt64 = 0) {
        precondition(capacity > 0, "replay capacity must be positive")
        self.capacity = capacity
        self.policy = policy
        rng = SeededGenerator(seed: seed ^ 0x5EED_0F_C11B5)
    }

    /// Clips held now.
    public var count: Int { condition.lock(); defer { condition.unlock() }; return held }
    /// Clips ever added.
    public var totalSeen: Int { condition.lock(); defer { condition.unlock() }; return seen }
    /// Clips held per source.
    public var countsBySource: [String: Int] {
        condition.lock(); defer { condition.unlock() }
        return clips.mapValues(\.count)
    }

    /// Sources that added a clip, in first-seen order.
    public var sources: [String] {
        condition.lock(); defer { condition.unlock() }
        return newestOrder
    }

    /// The newest clip `source` added, even if the reservoir policy did not keep it (nil: none yet). Holds at most
    /// one extra clip per source (none under `fifo`, which always keeps the newest).
    public func latest(source: String) -> ReplayClip? {
        condition.lock(); defer { condition.unlock() }
        return newest[source]
    }

    /// Adds a clip; never blocks.
    public func add(_ clip: ReplayClip) {
        condition.lock()
        seen += 1
        if newest.updateValue(clip, forKey: clip.source) == nil { newestOrder.append(clip.source) }
        switch policy {
        case .fifo:
            if held == capacity, let victim = order.max(by: { (clips[$0]?.count ?? 0) < (clips[$1]?.count ?? 0) }) {
                clips[victim]!.removeFirst()
                held -= 1
            }
            append(clip)
        case .reservoir:
            if held < capacity {
                append(clip)
            } else {
                let j = Int(rng.next() % UInt64(seen))
                if j < capacity { replace(at: j, with: clip) }
            }
        }
        condition.broadcast()
        condition.unlock()
    }

    private func append(_ clip: ReplayClip) {
        if clips[clip.source] == nil { order.append(clip.source) }
        clips[clip.source, default: []].append(clip)
        held += 1
    }

    /// Replaces the `j`-th held clip (in source order) with `clip`.
    private func replace(at j: Int, with clip: ReplayClip) {
        var k = j
        for s in order {
            let n = clips[s]?.count ?? 0
            if k < n { clips[s]!.remove(at: k); held -= 1; append(clip); return }
            k -= n
        }
    }

    /// Draws `count` clips (with replacement across draws, balanced over sources), or nil if fewer are held.
    public func sample(_ count: Int, using rng: inout SeededGenerator) -> [ReplayClip]? {
        condition.lock(); defer { condition.unlock() }
        guard held >= count else { return nil }
        let sources = order.filter { !(clips[$0]?.isEmpty ?? true) }
        return (0..<count).map { _ in
            let s = sources[Int(rng.next() % UInt64(sources.count))]
            let list = clips[s]!
            return list[Int(rng.next() % UInt64(list.count))]
        }
    }

    /// Blocks until at least `count` clips are held, the buffer is closed, or `timeout` passes; true if enough.
    public func wait(forAtLeast count: Int, timeout: TimeInterval) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock(); defer { condition.unlock() }
        while held < count && !closed {
            if !condition.wait(until: deadline) { break }
        }
        return held >= count
    }

    /// Wakes every waiter; later waits return at once.
    public func close() {
        condition.lock(); closed = true; condition.broadcast(); condition.unlock()
    }
}

extension Array where Element == ReplayClip {
    /// Stacks clips into `N x 3 x (T+1) x H x W` frames and their static indices.
    public func batch(frames t1: Int, height h: Int, width w: Int) throws -> (Tensor, [Int]) {
        let per = 3 * t1 * h * w
        guard !isEmpty, allSatisfy({ $0.data.count == per }) else {
            throw TrainerError.invalidData("clips must hold 3 x \(t1) x \(h) x \(w) values, got \(first?.data.count ?? 0)")
        }
        var all = [Float](); all.reserveCapacity(count * per)
        for c in self { all += c.data }
        return (try Tensor(floats: all, shape: [count, 3, t1, h, w]), map(\.staticIndex))
    }
}
