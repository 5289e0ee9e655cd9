import Foundation

/// The bounded queue between sources and the consumer. Memory stays bounded whatever the input rate:
/// a `dropOldest` producer that finds the queue full evicts the oldest clip of the source holding the most
/// droppable clips (so one fast source cannot push out a slow one) and that source's drop counter grows;
/// a `wait` producer blocks its own thread until there is room. Waiting producers fill at most
/// `capacity - reserve` slots (`reserve = capacity / 4`), which keeps room for live sources.
///
/// Consume with `for await clip in queue`, `next()`, `nextBatch(count:)`, or `pop(timeout:)` from a thread.
public final class ClipQueue: AsyncSequence, @unchecked Sendable {
    public typealias Element = Clip

    private struct Entry {
        var clip: Clip
        var droppable: Bool
    }

    private let condition = NSCondition()
    private var items: [Entry] = []
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Clip?, Never>)] = []
    private var nextWaiterID: UInt64 = 0
    private var dropped: [String: Int] = [:]
    private var closed = false

    /// Most clips held at once.
    public let capacity: Int
    /// Slots that `wait` producers leave free.
    public let reserve: Int

    /// A queue holding at most `capacity` clips (at least 1). A default clip (17 x 3 x 112 x 112 floats) is
    /// 2.6 MB, so the default 32 bound the queue to about 82 MB.
    public init(capacity: Int = 32) {
        self.capacity = Swift.max(1, capacity)
        reserve = self.capacity >= 4 ? self.capacity / 4 : 0
    }

    /// Clips queued now.
    public var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count
    }

    /// Clips of `source` dropped so far.
    public func dropped(source: String) -> Int {
        condition.lock()
        defer { condition.unlock() }
        return dropped[source, default: 0]
    }

    /// Dropped clips per source.
    public var droppedBySource: [String: Int] {
        condition.lock()
        defer { condition.unlock() }
        return dropped
    }

    /// Whether `close()` was called.
    public var isClosed: Bool {
        condition.lock()
        defer { condition.unlock() }
        return closed
    }

    /// Adds a clip. `wait` blocks the calling thread (never call it from an async task) until there is room,
    /// the queue closes, or `isCancelled()` turns true; then it returns false and the clip is not queued.
    /// `dropOldest` never blocks; it returns true even when the clip itself had to be dropped.
    /// With the lock held: gives `clip` straight to a waiting consumer, if any, releasing the lock (true);
    /// otherwise keeps the lock and returns false.
    private func handToWaiter(_ clip: Clip) -> Bool {
        guard !waiters.isEmpty else { return false }
        let waiter = waiters.removeFirst()
        condition.unlock()
        waiter.continuation.resume(returning: clip)
        return true
    }

    @discardableResult
    public func push(_ clip: Clip, policy: OverflowPolicy, isCancelled: () -> Bool = { false }) -> Bool {
        condition.lock()
        if closed {
            condition.unlock()
            return false
        }
        if handToWaiter(clip) { return true }
        switch policy {
        case .wait:
            let limit = capacity - reserve
            while items.count >= limit && !closed {
                if isCancelled() {
                    condition.unlock()
                    return false
                }
                _ = condition.wait(until: Date(timeIntervalSinceNow: 0.05))
            }
            if closed {
                condition.unlock()
                return false
            }
            if handToWaiter(clip) { return true }
            items.append(Entry(clip: clip, droppable: false))
        case .dropOldest:
            if items.count >= capacity {
                if let victim = victimIndex() {
                    dropped[items[victim].clip.source, default: 0] += 1
                    items.remove(at: victim)
                } else {
                    dropped[clip.source, default: 0] += 1
                    condition.unlock()
                    return true
                }
            }
            items.append(Entry(clip: clip, droppable: true))
        }
        condition.broadcast()
        condition.unlock()
        return true
    }

    /// The oldest droppable clip of the source with the most droppable clips queued.
    private func victimIndex() -> Int? {
        var counts: [String: Int] = [:]
        var oldest: [String: Int] = [:]
        for (i, e) in items.enumerated() where e.droppable {
            counts[e.clip.source, default: 0] += 1
            if oldest[e.clip.source] == nil { oldest[e.clip.source] = i }
        }
        guard let top = counts.max(by: { a, b in
            a.value != b.value ? a.value < b.value : oldest[a.key]! > oldest[b.key]!
        }) else { return nil }
        return oldest[top.key]
    }

    private func takeFirstLocked() -> Clip? {
        guard !items.isEmpty else { return nil }
        let clip = items.removeFirst().clip
        condition.broadcast()
        return clip
    }

    /// Takes the next clip without waiting.
    public func tryPop() -> Clip? {
        condition.lock()
        defer { condition.unlock() }
        return takeFirstLocked()
    }

    /// Takes the next clip, blocking the calling thread up to `timeout` seconds; nil on timeout or when
    /// closed and empty.
    public func pop(timeout: Double) -> Clip? {
        let until = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed {
            if !condition.wait(until: until) { break }
        }
        return takeFirstLocked()
    }

    /// The next clip; waits while the queue is empty. Nil once closed and drained, or when the task is
    /// cancelled.
    public func next() async -> Clip? {
        enum First { case clip(Clip), closed, wait(UInt64) }
        let first: First = condition.withLock {
            if let clip = takeFirstLocked() { return .clip(clip) }
            if closed { return .closed }
            defer { nextWaiterID += 1 }
            return .wait(nextWaiterID)
        }
        let id: UInt64
        switch first {
        case .clip(let clip): return clip
        case .closed: return nil
        case .wait(let w): id = w
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Clip?, Never>) in
                let immediate: Clip?? = condition.withLock {
                    if let clip = takeFirstLocked() { return .some(clip) }
                    if closed || Task.isCancelled { return .some(nil) }
                    waiters.append((id, continuation))
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = condition.withLock { () -> CheckedContinuation<Clip?, Never>? in
                guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return waiters.remove(at: index).continuation
            }
            waiter?.resume(returning: nil)
        }
    }

    /// The next `count` clips stacked into a batch (fewer if the queue closes first; nil if none came).
    /// Clips whose shape differs from the first are skipped.
    public func nextBatch(count: Int) async -> ClipBatch? {
        var clips: [Clip] = []
        while clips.count < count, let clip = await next() {
            if let first = clips.first, first.shape != clip.shape { continue }
            clips.append(clip)
        }
        return clips.isEmpty ? nil : try? ClipBatch(clips: clips)
    }

    /// Ends the queue: producers are refused, blocked producers return, consumers drain what is left and
    /// then get nil.
    public func close() {
        condition.lock()
        closed = true
        let pending = waiters
        waiters.removeAll()
        condition.broadcast()
        condition.unlock()
        for w in pending { w.continuation.resume(returning: nil) }
    }

    /// Iterates clips until the queue is closed and drained.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let queue: ClipQueue
        public mutating func next() async -> Clip? { await queue.next() }
    }

    /// An iterator over the queue's clips.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(queue: self) }
}
