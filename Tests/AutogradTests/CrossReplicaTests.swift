import Testing
@testable import Autograd
@testable import TensorKernels
import SeededRandom
import ConceptTestSupport

/// The cross-replica operations in one process, against a "mirror" world: `replicas` copies whose batches are all
/// this one, so every sum across replicas is `replicas` times the local value. Synchronised batch norm over identical
/// batches normalises as local batch norm does (same mean and biased variance; the unbiased running variance counts
/// every replica's values), and its gradients are the local ones. (Gathered rows need distinct replicas: the two-rank
/// tests under mpirun, `CollectiveTests`, cover them.)
@Suite struct CrossReplicaTests {
    final class Mirror: CrossReplica {
        let replicas: Int
        let replica = 0
        init(_ replicas: Int) { self.replicas = replicas }
        func sum(_ values: UnsafeMutablePointer<Double>, count: Int) { for i in 0..<count { values[i] *= Double(replicas) } }
        func sumScalars(_ values: UnsafeMutablePointer<Scalar>, count: Int) { for i in 0..<count { values[i] *= Scalar(replicas) } }
        func gatherScalars(_ block: UnsafePointer<Scalar>, count: Int, into output: UnsafeMutablePointer<Scalar>) {
            for r in 0..<replicas { (output + r * count).update(from: block, count: count) }
        }
        func reduceScatterScalars(_ input: UnsafePointer<Scalar>, count: Int, into output: UnsafeMutablePointer<Scalar>) {
            for i in 0..<count { output[i] = input[replica * count + i] * Scalar(replicas) }
        }
    }

    struct Outcome { var out, dx, dw, db, dr, runningMean, runningVar: [Scalar] }

    static func run(fused: Bool, residual: Bool, across: CrossReplica?, shape: [Int], seed: UInt64,
                    updating: Bool = true) throws -> Outcome {
        var rng = SeededGenerator(seed: seed)
        let c = shape[1]
        let x = Tensor.uniform(shape, in: -1...1, using: &rng).requiringGrad()
        let r = residual ? Tensor.uniform(shape, in: -1...1, using: &rng).requiringGrad() : nil
        let w = Tensor.uniform([c], in: 0.5...1.5, using: &rng).requiringGrad()
        let b = Tensor.uniform([c], in: -0.5...0.5, using: &rng).requiringGrad()
        let rm = Tensor(zeros: [c]), rv = Tensor.filled([c], 1)
        let weights = Tensor.uniform(shape, in: -1...1, using: &rng)
        let out = fused
            ? try batchNormReLU(x, adding: r, weight: w, bias: b, runningMean: rm, runningVar: rv, training: true, across: across)
            : try batchNorm(x, weight: w, bias: b, runningMean: rm, runningVar: rv, training: true, across: across,
                            updatingRunningStatistics: updating)
        try out.mul(weights).sum().backward()
        return Outcome(out: out.values, dx: x.gradValues, dw: w.gradValues, db: b.gradValues, dr: r?.gradValues ?? [],
                       runningMean: rm.values, runningVar: rv.values)
    }

    @Test(arguments: [[4, 3, 2, 3, 3], [6, 5], [3, 2, 37]])
    func synchronisedBatchNormOverIdenticalBatchesIsLocalBatchNorm(shape: [Int]) throws {
        let count = Double(shape.reduce(1, *) / shape[1])
        for (fused, residual) in [(false, false), (true, false), (true, true)] {
            let label = "\(shape) fused \(fused) residual \(residual)"
            let local = try Self.run(fused: fused, residual: residual, across: nil, shape: shape, seed: 5)
            let synced = try Self.run(fused: fused, residual: residual, across: Mirror(3), shape: shape, seed: 5)
            #expect(relativeError(synced.out, local.out) <= 1e-6, "out: \(label)")
            #expect(relativeError(synced.dx, local.dx) <= 1e-5, "dx: \(label)")
            #expect(relativeError(synced.dw, local.dw) <= 1e-6, "dw: \(label)")
            #expect(relativeError(synced.db, local.db) <= 1e-6, "db: \(label)")
            #expect(relativeError(synced.dr, local.dr) <= 1e-6, "dr: \(label)")
            #expect(relativeError(synced.runningMean, local.runningMean) <= 1e-6, "running mean: \(label)")
            // running_var moves by 0.1 × the unbiased variance: var·m/(m−1) with m local values, 3m synchronised.
            let rescaled = zip(local.runningVar, synced.runningVar).map { l, _ in
                Scalar(0.9 + (Double(l) - 0.9) * (count - 1) / count * (3 * count) / (3 * count - 1))
            }
            #expect(relativeError(synced.runningVar, rescaled) <= 1e-5, "running var: \(label)")
        }
    }

    /// A training pass that leaves the running statistics alone (`updatingRunningStatistics: false`, the second pass of
    /// `static_consistency_grad = head`) normalises and differentiates exactly as one that updates them, locally and
    /// synchronised, and leaves running mean 0 and variance 1 as they were.
    @Test(arguments: [[4, 3, 2, 3, 3], [6, 5]])
    func batchNormWithoutUpdatingRunningStatisticsIsTheSamePass(shape: [Int]) throws {
        for across in [nil, Mirror(3)] as [CrossReplica?] {
            let updating = try Self.run(fused: false, residual: false, across: across, shape: shape, seed: 9)
            let kept = try Self.run(fused: false, residual: false, across: across, shape: shape, seed: 9, updating: false)
            #expect(kept.out == updating.out && kept.dx == updating.dx && kept.dw == updating.dw && kept.db == updating.db)
            #expect(kept.runningMean.allSatisfy { $0 == 0 } && kept.runningVar.allSatisfy { $0 == 1 })
            #expect(updating.runningMean != kept.runningMean, "the updating pass did not move the running mean")
        }
    }
}
