/// A value type a communicator can reduce and move: `Float`, `Double` and `UInt64`.
public protocol CollectiveValue: Numeric, Comparable, Sendable {
    /// The element kind the transport uses to name this type.
    static var collectiveKind: CollectiveKind { get }
}

/// The element types a communicator moves.
public enum CollectiveKind: Sendable { case float, double, uint64 }

extension Float: CollectiveValue { public static var collectiveKind: CollectiveKind { .float } }
extension Double: CollectiveValue { public static var collectiveKind: CollectiveKind { .double } }
extension UInt64: CollectiveValue { public static var collectiveKind: CollectiveKind { .uint64 } }

/// How an all-reduce combines the ranks' values, element by element.
public enum ReduceOperation: String, Sendable { case sum, max, min }

/// A group of processes ("ranks") that take part in every collective call in the same order: the data-parallel
/// world of one training job. Every call is blocking and must be made by every rank, with the same counts
/// (except `allGather`, whose counts may differ). A world of size 1 (`SingleProcess`) makes every call a copy.
public protocol Communicator: AnyObject, Sendable {
    /// This process's index, `0..<size`.
    var rank: Int { get }
    /// The number of processes.
    var size: Int { get }
    /// Combines `count` values at `buffer` across every rank with `operation`, in place; every rank gets the result.
    func allReduce<T: CollectiveValue>(_ buffer: UnsafeMutablePointer<T>, count: Int, _ operation: ReduceOperation) throws(CollectiveError)
    /// Copies `count` values at `buffer` on rank `root` to the same buffer on every other rank.
    func broadcast<T: CollectiveValue>(_ buffer: UnsafeMutablePointer<T>, count: Int, root: Int) throws(CollectiveError)
    /// Every rank's `values`, concatenated in rank order (the counts may differ between ranks).
    func allGather<T: CollectiveValue>(_ values: [T]) throws(CollectiveError) -> [T]
    /// Every rank's `count` values at `block`, concatenated in rank order into `output` (`count x size`).
    func allGather<T: CollectiveValue>(_ block: UnsafePointer<T>, count: Int, into output: UnsafeMutablePointer<T>) throws(CollectiveError)
    /// Sums `count x size` values at `input` element-wise across every rank and writes this rank's block of `count`
    /// (block `rank`) to `output`.
    func reduceScatter<T: CollectiveValue>(_ input: UnsafePointer<T>, count: Int, into output: UnsafeMutablePointer<T>) throws(CollectiveError)
    /// Returns once every rank has called it.
    func barrier() throws(CollectiveError)
}

extension Communicator {
    /// Whether this is rank 0, the rank that writes snapshots and serves the API.
    public var isRoot: Bool { rank == 0 }

    /// `allReduce` over an array, in place.
    public func allReduce<T: CollectiveValue>(_ values: inout [T], _ operation: ReduceOperation) throws(CollectiveError) {
        let count = values.count
        try values.withUnsafeMutableBufferPointer { (p: inout UnsafeMutableBufferPointer<T>) throws(CollectiveError) in
            guard let base = p.baseAddress else { return }
            try allReduce(base, count: count, operation)
        }
    }

    /// One value combined across every rank.
    public func allReduce<T: CollectiveValue>(_ value: T, _ operation: ReduceOperation) throws(CollectiveError) -> T {
        var v = [value]
        try allReduce(&v, operation)
        return v[0]
    }

    /// `broadcast` over an array: every rank must pass an array of the root's length.
    public func broadcast<T: CollectiveValue>(_ values: inout [T], root: Int = 0) throws(CollectiveError) {
        let count = values.count
        // The lengths must agree, or the transport would read or write past a buffer.
        let longest = try allReduce(UInt64(count), .max), shortest = try allReduce(UInt64(count), .min)
        guard longest == shortest else {
            throw CollectiveError(.mismatch, "broadcast of \(count) values on rank \(rank), but another rank has \(longest == UInt64(count) ? shortest : longest)")
        }
        try values.withUnsafeMutableBufferPointer { (p: inout UnsafeMutableBufferPointer<T>) throws(CollectiveError) in
            guard let base = p.baseAddress else { return }
            try broadcast(base, count: count, root: root)
        }
    }
}

extension Communicator {
    /// Rank `root`'s bytes on every rank (the others pass anything; their argument is ignored).
    public func broadcastBytes(_ bytes: [UInt8], root: Int = 0) throws(CollectiveError) -> [UInt8] {
        var length = [UInt64(rank == root ? bytes.count : 0)]
        try broadcast(&length, root: root)
        var words = Self.words(rank == root ? bytes : [UInt8](repeating: 0, count: Int(length[0])))
        try broadcast(&words, root: root)
        return words.withUnsafeBytes { Array($0.prefix(Int(length[0]))) }
    }

    /// Every rank's bytes, in rank order (the lengths may differ).
    public func allGatherBytes(_ bytes: [UInt8]) throws(CollectiveError) -> [[UInt8]] {
        let lengths = try allGather([UInt64(bytes.count)]).map { Int($0) }
        let words = try allGather(Self.words(bytes))
        var out: [[UInt8]] = [], at = 0
        for length in lengths {
            let n = (length + 7) / 8
            guard at + n <= words.count else { throw CollectiveError(.mismatch, "gathered bytes end before rank \(out.count)'s") }
            out.append(words[at..<(at + n)].withUnsafeBytes { Array($0.prefix(length)) })
            at += n
        }
        return out
    }

    /// `bytes` in 8-byte words, the last one zero-padded (the transport moves `UInt64`s).
    private static func words(_ bytes: [UInt8]) -> [UInt64] {
        var words = [UInt64](repeating: 0, count: (bytes.count + 7) / 8)
        words.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
        return words
    }
}

extension Duration {
    /// The duration in seconds.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

/// A world of one process: every collective call returns this rank's own values. `conceptd` started without
/// `mpirun` trains through it, exactly as before data parallelism existed.
public final class SingleProcess: Communicator {
    /// The single-process world.
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduce<T: CollectiveValue>(_ buffer: UnsafeMutablePointer<T>, count: Int, _ operation: ReduceOperation) throws(CollectiveError) {
        guard count >= 0 else { throw CollectiveError(.invalidArgument, "allReduce of \(count) values") }
    }
    public func broadcast<T: CollectiveValue>(_ buffer: UnsafeMutablePointer<T>, count: Int, root: Int) throws(CollectiveError) {
        guard root == 0 else { throw CollectiveError(.invalidArgument, "broadcast from rank \(root) in a world of 1") }
        guard count >= 0 else { throw CollectiveError(.invalidArgument, "broadcast of \(count) values") }
    }
    public func allGather<T: CollectiveValue>(_ values: [T]) throws(CollectiveError) -> [T] { values }
    public func allGather<T: CollectiveValue>(_ block: UnsafePointer<T>, count: Int, into output: UnsafeMutablePointer<T>) throws(CollectiveError) {
        guard count >= 0 else { throw CollectiveError(.invalidArgument, "allGather of \(count) values") }
        output.update(from: block, count: count)
    }
    public func reduceScatter<T: CollectiveValue>(_ input: UnsafePointer<T>, count: Int, into output: UnsafeMutablePointer<T>) throws(CollectiveError) {
        guard count >= 0 else { throw CollectiveError(.invalidArgument, "reduceScatter of \(count) values") }
        output.update(from: input, count: count)
    }
    public func barrier() throws(CollectiveError) {}
}
