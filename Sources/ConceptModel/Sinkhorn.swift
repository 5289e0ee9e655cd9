import Foundation
import Autograd
import TensorKernels
import Collective

/// Sinkhorn-Knopp equipartition targets (no gradient), exactly as the spec states:
/// `Q = exp((S − max S)/ε)ᵀ` (K x M), `Q /= ΣQ`; `iterations` times: rows `/= rowsum`, `/= K`, columns
/// `/= colsum`, `/= M`; then `Q *= M`; return the first `batch` rows of `Qᵀ` (each sums to 1).
/// - Parameters:
///   - scores: `M x K`, row-major, the batch's rows first, then the queue's.
/// - Returns: `batch x K` targets.
public func sinkhorn(scores: [Scalar], rows m: Int, columns k: Int, batch: Int, eps: Scalar, iterations: Int) -> [Scalar] {
    precondition(scores.count == m * k && batch <= m)
    return sinkhorn_forward(scores, localRows: m, globalRows: m, columns: k, batch: batch, eps: eps, iterations: iterations) { _, _ in }
}

/// SwAV's distributed Sinkhorn: every rank holds `localRows` of the `globalRows x K` score matrix (its batch first,
/// then the queue rows it owns); the maximum, the total and each iteration's per-prototype sums are all-reduced,
/// so each rank's targets are those rows of the global batch's targets. With a world of one it is `sinkhorn`.
/// - Returns: the first `batch` local rows' targets, `batch x K`.
public func sinkhorn(localScores: [Scalar], localRows m: Int, globalRows: Int, columns k: Int, batch: Int, eps: Scalar,
                     iterations: Int, communicator: any Communicator) throws -> [Scalar] {
    guard localScores.count == m * k, batch <= m, m <= globalRows else {
        throw ModelError.invalidInput("distributed Sinkhorn: \(localScores.count) scores for \(m) of \(globalRows) rows x \(k), batch \(batch)")
    }
    return try sinkhorn_forward(localScores, localRows: m, globalRows: globalRows, columns: k, batch: batch, eps: eps,
                                iterations: iterations) { values, operation in try communicator.allReduce(&values, operation) }
}

/// The Sinkhorn loops over local rows, with `reduce` combining partial values across ranks (a no-op in one process).
func sinkhorn_forward(_ scores: [Scalar], localRows m: Int, globalRows: Int, columns k: Int, batch: Int, eps: Scalar,
                      iterations: Int, reduce: (inout [Double], ReduceOperation) throws -> Void) rethrows -> [Scalar] {
    var mx = -Scalar.infinity
    for s in scores { mx = Swift.max(mx, s) }
    var shared = [Double(mx)]
    try reduce(&shared, .max)
    mx = Scalar(shared[0])
    // q[i * k + j] holds this rank's rows of Qᵀ (M x K) in Double.
    var q = [Double](repeating: 0, count: m * k)
    var total: Double = 0
    for i in 0..<(m * k) { let v = Foundation.exp(Double(scores[i] - mx) / Double(eps)); q[i] = v; total += v }
    shared = [total]
    try reduce(&shared, .sum)
    total = shared[0]
    for i in 0..<(m * k) { q[i] /= total }
    let globalM = Double(globalRows)
    var sums = [Double](repeating: 0, count: k)
    for _ in 0..<iterations {
        // rows of Q = prototypes (columns j of q), summed over every rank's samples
        for j in 0..<k {
            var s: Double = 0
            for i in 0..<m { s += q[i * k + j] }
            sums[j] = s
        }
        try reduce(&sums, .sum)
        for j in 0..<k {
            let f = 1 / (sums[j] * Double(k))
            for i in 0..<m { q[i * k + j] *= f }
        }
        // columns of Q = samples (rows i of q), all local
        for i in 0..<m {
            var s: Double = 0
            for j in 0..<k { s += q[i * k + j] }
            let f = 1 / (s * globalM)
            for j in 0..<k { q[i * k + j] *= f }
        }
    }
    return (0..<(batch * k)).map { Scalar(q[$0] * globalM) }
}

/// A FIFO of recent unit-length features, `capacity x dim`; the newest row replaces the oldest.
/// Rows are re-scored with the current prototypes at every step; the queue never stores scores.
public struct FeatureQueue: Sendable, Equatable {
    /// Maximum rows.
    public let capacity: Int
    /// Feature width.
    public let dim: Int
    /// Row storage, `capacity x dim`; only `count` rows are valid.
    public private(set) var storage: [Scalar]
    /// Valid rows.
    public private(set) var count: Int = 0
    /// Row the next push writes.
    public private(set) var next: Int = 0

    /// An empty queue.
    public init(capacity: Int, dim: Int) {
        self.capacity = capacity
        self.dim = dim
        storage = [Scalar](repeating: 0, count: capacity * dim)
    }

    /// A full queue holding `rows` (`capacity x dim`), oldest first.
    public init(rows: [Scalar], dim: Int) throws {
        guard dim > 0, rows.count % dim == 0 else { throw ModelError.invalidInput("queue of \(rows.count) values is not a multiple of \(dim)") }
        capacity = rows.count / dim
        self.dim = dim
        storage = rows
        count = capacity
        next = 0
    }

    /// Restores a saved queue.
    public init(capacity: Int, dim: Int, storage: [Scalar], count: Int, next: Int) throws {
        guard storage.count == capacity * dim, (0...capacity).contains(count), next >= 0, next < Swift.max(capacity, 1) else {
            throw ModelError.invalidInput("queue state does not fit \(capacity) x \(dim)")
        }
        self.capacity = capacity; self.dim = dim; self.storage = storage; self.count = count; self.next = next
    }

    /// Appends rows (`n x dim`), dropping the oldest when full.
    public mutating func push(_ rows: UnsafePointer<Scalar>, count n: Int) {
        guard capacity > 0 else { return }
        for r in 0..<n {
            for j in 0..<dim { storage[next * dim + j] = rows[r * dim + j] }
            next = (next + 1) % capacity
            count = Swift.min(count + 1, capacity)
        }
    }

    /// The valid rows, `count x dim` (order does not matter to Sinkhorn).
    public var rows: Tensor {
        let t = Tensor(zeros: [count, dim])
        storage.withUnsafeBufferPointer { t.storage.pointer.update(from: $0.baseAddress!, count: count * dim) }
        return t
    }
}
