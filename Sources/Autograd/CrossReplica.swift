import TensorKernels

/// The replicas of a data-parallel job, as the operations that span them see them: synchronised batch norm and
/// gathered rows. Every replica makes the same calls in the same order, in the forward and the backward pass.
///
/// A backward pass cannot throw, so a sum that fails (a replica is gone) must not either: an implementation records
/// the failure, fills the buffer with NaN (the step then is not finite and is skipped) and lets its owner report it.
public protocol CrossReplica: AnyObject {
    /// This replica's index, `0..<replicas`.
    var replica: Int { get }
    /// The number of replicas.
    var replicas: Int { get }
    /// Sums `count` values element-wise across every replica, in place.
    func sum(_ values: UnsafeMutablePointer<Double>, count: Int)
    /// Sums `count` tensor values element-wise across every replica, in place.
    func sumScalars(_ values: UnsafeMutablePointer<Scalar>, count: Int)
}

extension Tensor {
    /// Every replica's rows, in replica order: `N x ...` here gives `(replicas · N) x ...` (every replica must pass the
    /// same shape). The gradient of this replica's rows is the sum of every replica's gradient for them.
    public func gatheredRows(across replicas: CrossReplica) throws -> Tensor {
        guard rank >= 1 else { throw TensorError.invalidArgument("gatheredRows needs rows, got a scalar") }
        let r = replicas.replicas, me = replicas.replica, block = count
        var shape = self.shape
        shape[0] *= r
        let x = self
        let out = Tensor.result(shape, inputs: [x]) { out in
            // Each replica holds the gradient of every gathered row: sum them, keep this replica's block.
            let g = TensorStorage(uninitializedCount: out.count)
            g.pointer.update(from: out.gradStorage!.pointer, count: out.count)
            replicas.sumScalars(g.pointer, count: out.count)
            let d = x.gradPointer(), src = g.pointer + me * block
            for i in 0..<block { d[i] += src[i] }
        }
        // Zeros everywhere but this replica's block, summed: every replica's rows, exactly.
        out.storage.pointer.update(repeating: 0, count: out.count)
        (out.storage.pointer + me * block).update(from: storage.pointer, count: block)
        replicas.sumScalars(out.storage.pointer, count: out.count)
        return out
    }
}
