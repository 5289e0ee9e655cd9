import Autograd
import Collective
import TensorKernels

/// A `Communicator` seen as the `CrossReplica` of the data-parallel operations (synchronised batch norm, gathered
/// rows). A failed collective inside the forward or backward pass fills its buffer with NaN, so the step cannot be
/// applied, and is kept in `failure` for the learner to throw once the pass is over.
public final class ReplicaGroup: CrossReplica {
    /// The world the sums go through.
    public let communicator: any Communicator
    /// The first collective call that failed since the last `takeFailure()`.
    public private(set) var failure: CollectiveError?

    /// The replicas of `communicator`'s world.
    public init(_ communicator: any Communicator) { self.communicator = communicator }

    public var replica: Int { communicator.rank }
    public var replicas: Int { communicator.size }

    public func sum(_ values: UnsafeMutablePointer<Double>, count: Int) {
        recording(values, count) { () throws(CollectiveError) in try communicator.allReduce(values, count: count, .sum) }
    }

    public func sumScalars(_ values: UnsafeMutablePointer<Scalar>, count: Int) {
        recording(values, count) { () throws(CollectiveError) in try communicator.allReduce(values, count: count, .sum) }
    }

    public func gatherScalars(_ block: UnsafePointer<Scalar>, count: Int, into output: UnsafeMutablePointer<Scalar>) {
        recording(output, count * replicas) { () throws(CollectiveError) in try communicator.allGather(block, count: count, into: output) }
    }

    public func reduceScatterScalars(_ input: UnsafePointer<Scalar>, count: Int, into output: UnsafeMutablePointer<Scalar>) {
        recording(output, count) { () throws(CollectiveError) in try communicator.reduceScatter(input, count: count, into: output) }
    }

    /// Runs a collective call writing `count` values at `output`; if it fails, records the failure and fills them with NaN.
    private func recording<T: FloatingPoint>(_ output: UnsafeMutablePointer<T>, _ count: Int, _ call: () throws(CollectiveError) -> Void) {
        do { try call() } catch {
            if failure == nil { failure = error }
            output.update(repeating: .nan, count: count)
        }
    }

    /// The recorded failure, cleared.
    public func takeFailure() -> CollectiveError? {
        defer { failure = nil }
        return failure
    }
}
