import Foundation
import Autograd
import TensorKernels

/// Sinkhorn-Knopp equipartition targets (no gradient), exactly as the spec states:
/// `Q = exp((S − max S)/ε)ᵀ` (K x M), `Q /= ΣQ`; `iterations` times: rows `/= rowsum`, `/= K`, columns
/// `/= colsum`, `/= M`; then `Q *= M`; return the first `batch` rows of `Qᵀ` (each sums to 1).
/// - Parameters:
///   - scores: `M x K`, row-major, the batch's rows first, then the queue's.
/// - Returns: `batch x K` targets.
public func sinkhorn(scores: [Scalar], rows m: Int, columns k: Int, batch: Int, eps: Scalar, iterations: Int) -> [Scalar] {
    precondition(scores.count == m * k && batch <= m)
    var mx = -Scalar.infinity
    for s in scores { mx = Swift.max(mx, s) }
    // q[i * k + j] holds Qᵀ (M x K) in Double.
    var q = [Double](repeating: 0, count: m * k)
    var total: Double = 0
    for i in 0..<(m * k) { let v = Foundation.exp(Double(scores[i] - mx) / Double(eps)); q[i] = v; total += v }
    for i in 0..<(m * k) { q[i] /= total }
    for _ in 0..<iterations {
        // rows of Q = prototypes (columns j of q)
        for j in 0..<k {
            var s: Double = 0
            for i in 0..<m { s += q[i * k + j] }
            let f = 1 / (s * Double(k))
            for i in 0..<m { q[i * k + j] *= f }
        }
        // columns of Q = samples (rows i of q)
        for i in 0..<m {
            var s: Double = 0
            for j in 0..<k { s += q[i * k + j] }
            let f = 1 / (s * Double(m))
            for j in 0..<k { q[i * k + j] *= f }
        }
    }
    return (0..<(batch * k)).map { Scalar(q[$0] * Double(m)) }
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
