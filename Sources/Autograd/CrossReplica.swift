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
    /// Every replica's `count` values, in replica order, into `output` (`count x replicas`).
    func gatherScalars(_ block: UnsafePointer<Scalar>, count: Int, into output: UnsafeMutablePointer<Scalar>)
    /// The sum across replicas of `count x replicas` values, this replica's block of `count` into `output`.
    func reduceScatterScalars(_ input: UnsafePointer<Scalar>, count: Int, into output: UnsafeMutablePointer<Scalar>)
}

extension Tensor {
    /// Every replica's rows, in replica order: `N x ...` here gives `(replicas · N) x ...` (every replica must pass the
    /// same shape). The gradient of this replica's rows is the sum of every replica's gradient for them.
    public func gatheredRows(across replicas: CrossReplica) throws -> Tensor {
        guard rank >= 1 else { throw TensorError.invalidArgument("gatheredRows needs rows, got a scalar") }
        let r = replicas.replicas, block = count
        var shape = self.shape
        shape[0] *= r
        let x = self
        let out = Tensor.result(shape, inputs: [x]) { out in
            // Each replica holds the gradient of every gathered row: their sum, this replica's block (a reduce-scatter).
            let g = TensorStorage(uninitializedCount: block)
            replicas.reduceScatterScalars(out.gradStorage!.pointer, count: block, into: g.pointer)
            let d = x.gradPointer(), src = g.pointer
            for i in 0..<block { d[i] += src[i] }
        }
        replicas.gatherScalars(storage.pointer, count: block, into: out.storage.pointer)
        return out
    }
}
