import Synchronization

/// A communicator that times every call it passes on: the daemon's "last all-reduce" and the cluster benchmark's
/// communication share come from it. Counters are per operation kind and thread-safe.
public final class TimedCommunicator: Communicator {
    /// Seconds and calls spent in one kind of collective.
    public struct Totals: Sendable, Equatable {
        /// Wall-clock seconds inside the calls.
        public var seconds: Double = 0
        /// Calls made.
        public var calls = 0
        /// Elements this rank sent (all-reduce, broadcast) or contributed (all-gather).
        public var elements = 0
        /// Wall-clock seconds of the most recent call.
        public var lastSeconds: Double = 0
    }

    /// The communicator that does the work.
    public let base: any Communicator
    private let totals = Mutex<[String: Totals]>([:])

    /// Times `base`'s calls.
    public init(_ base: any Communicator) { self.base = base }

    public var rank: Int { base.rank }
    public var size: Int { base.size }

    /// Totals per operation: `allReduce`, `broadcast`, `allGather`, `reduceScatter`, `barrier`.
    public var counters: [String: Totals] { totals.withLock { $0 } }

    /// Clears the counters.
    public func reset() { totals.withLock { $0 = [:] } }

    private func timed<R>(_ name: String, elements: Int, _ body: () throws(CollectiveError) -> R) throws(CollectiveError) -> R {
        let start = ContinuousClock.now
        defer {
            let seconds = (ContinuousClock.now - start).seconds
            totals.withLock {
                $0[name, default: Totals()].seconds += seconds
                $0[name, default: Totals()].calls += 1
                $0[name, default: Totals()].elements += elements
                $0[name, default: Totals()].lastSeconds = seconds
            }
        }
        return try body()
    }

    public func allReduce<T: CollectiveValue>(_ buffer: UnsafeMutablePointer<T>, count: Int, _ operation: ReduceOperation) throws(CollectiveError) {
        try timed("allReduce", elements: count) { () throws(CollectiveError) in try base.allReduce(buffer, count: count, operation) }
    }

    public func broadcast<T: CollectiveValue>(_ buffer: UnsafeMutablePointer<T>, count: Int, root: Int) throws(CollectiveError) {
        try timed("broadcast", elements: count) { () throws(CollectiveError) in try base.broadcast(buffer, count: count, root: root) }
    }

    public func allGather<T: CollectiveValue>(_ values: [T]) throws(CollectiveError) -> [T] {
        try timed("allGather", elements: values.count) { () throws(CollectiveError) in try base.allGather(values) }
    }

    public func allGather<T: CollectiveValue>(_ block: UnsafePointer<T>, count: Int, into output: UnsafeMutablePointer<T>) throws(CollectiveError) {
        try timed("allGather", elements: count) { () throws(CollectiveError) in try base.allGather(block, count: count, into: output) }
    }

    public func reduceScatter<T: CollectiveValue>(_ input: UnsafePointer<T>, count: Int, into output: UnsafeMutablePointer<T>) throws(CollectiveError) {
        try timed("reduceScatter", elements: count * size) { () throws(CollectiveError) in
            try base.reduceScatter(input, count: count, into: output)
        }
    }

    public func barrier() throws(CollectiveError) {
        try timed("barrier", elements: 0) { () throws(CollectiveError) in try base.barrier() }
    }
}
