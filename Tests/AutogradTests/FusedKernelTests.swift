import Testing
@testable import Autograd
@testable import TensorKernels
import SeededRandom
import ConceptTestSupport

/// The fused batch-norm + residual + ReLU operation against its reference, the three operations apart, and the
/// first-write gradients (a fresh gradient is written, an existing one added to) against accumulation.
@Suite struct FusedKernelTests {
    /// Everything one batch-norm(+residual)+ReLU computes: the output, the gradients and the running statistics.
    struct Outcome {
        var out, dx, dw, db, dr, runningMean, runningVar: [Scalar]
    }

    /// Runs relu(bn(x) + r) fused or apart on copies of the same inputs, back-propagating `seed` through
    /// `out * seed` summed; with `pregrad`, x and r already hold a gradient (the backward must add to it).
    static func run(fused: Bool, shape: [Int], residual: Bool, training: Bool, pregrad: Bool, seed: UInt64) throws -> Outcome {
        var rng = SeededGenerator(seed: seed)
        let c = shape[1]
        let x = Tensor.uniform(shape, in: -1...1, using: &rng).requiringGrad()
        let r = residual ? Tensor.uniform(shape, in: -1...1, using: &rng).requiringGrad() : nil
        let w = Tensor.uniform([c], in: 0.5...1.5, using: &rng).requiringGrad()
        let b = Tensor.uniform([c], in: -0.5...0.5, using: &rng).requiringGrad()
        let rm = Tensor.uniform([c], in: -0.2...0.2, using: &rng), rv = Tensor.uniform([c], in: 0.5...1.5, using: &rng)
        let weights = Tensor.uniform(shape, in: -1...1, using: &rng)
        if pregrad {
            // An earlier contribution, as when a tensor feeds two operations.
            try x.mul(weights).sum().backward()
            if let r { try r.mul(weights).sum().backward() }
        }
        let out: Tensor
        if fused {
            out = try batchNormReLU(x, adding: r, weight: w, bias: b, runningMean: rm, runningVar: rv, training: training)
        } else {
            var y = try batchNorm(x, weight: w, bias: b, runningMean: rm, runningVar: rv, training: training)
            if let r { y = try y.add(r) }
            out = y.relu()
        }
        try out.mul(weights).sum().backward()
        return Outcome(out: out.values, dx: x.gradValues, dw: w.gradValues, db: b.gradValues, dr: r?.gradValues ?? [],
                       runningMean: rm.values, runningVar: rv.values)
    }

    @Test(arguments: [[4, 3, 2, 3, 3], [2, 5, 7], [6, 4], [3, 2, 37], [2, 3, 1, 5, 8]])
    func fusedBatchNormReLUMatchesTheComposition(shape: [Int]) throws {
        for residual in [false, true] {
            for training in [true, false] {
                for pregrad in [false, true] {
                    let seed = UInt64(shape.reduce(0, +))
                    let a = try Self.run(fused: true, shape: shape, residual: residual, training: training, pregrad: pregrad, seed: seed)
                    let e = try Self.run(fused: false, shape: shape, residual: residual, training: training, pregrad: pregrad, seed: seed)
                    let label = "\(shape) residual \(residual) training \(training) pregrad \(pregrad)"
                    #expect(a.out == e.out, "output: \(label)")
                    #expect(a.out.contains { $0 == 0 } && a.out.contains { $0 > 0 }, "the ReLU must cut some: \(label)")
                    #expect(relativeError(a.dx, e.dx) <= 1e-5, "dx: \(label)")
                    #expect(relativeError(a.dw, e.dw) <= 1e-5, "dw: \(label)")
                    #expect(relativeError(a.db, e.db) <= 1e-5, "db: \(label)")
                    #expect(relativeError(a.dr, e.dr) <= 1e-6, "dr: \(label)")
                    #expect(a.runningMean == e.runningMean && a.runningVar == e.runningVar, "running statistics: \(label)")
                }
            }
        }
    }

    /// x used as its own residual, and x feeding several operations: every contribution arrives, whichever
    /// backward reaches x first (first write, then accumulation), as in the composition.
    @Test func aTensorFeedingSeveralOpsSumsTheirGradients() throws {
        func run(fused: Bool) throws -> [Scalar] {
            var rng = SeededGenerator(seed: 61)
            let x = Tensor.uniform([3, 4, 5], in: -1...1, using: &rng).requiringGrad()
            let seed = Tensor.uniform([3, 4, 5], in: -1...1, using: &rng)
            let w = Tensor.uniform([4], in: 0.5...1.5, using: &rng), b = Tensor.uniform([4], in: -0.5...0.5, using: &rng)
            func bnr(_ v: Tensor, _ r: Tensor?) throws -> Tensor {
                let (rm, rv) = (Tensor(zeros: [4]), Tensor.filled([4], 1))
                if fused { return try batchNormReLU(v, adding: r, weight: w, bias: b, runningMean: rm, runningVar: rv, training: true) }
                let y = try batchNorm(v, weight: w, bias: b, runningMean: rm, runningVar: rv, training: true)
                return try (r.map { try y.add($0) } ?? y).relu()
            }
            let out = try bnr(x, x).add(bnr(x, x.scaled(by: 0.5))).add(bnr(x.relu(), nil)).add(x)
            try out.mul(seed).sum().backward()
            return x.gradValues
        }
        let fused = try run(fused: true), apart = try run(fused: false)
        #expect(relativeError(fused, apart) <= 1e-5)
        #expect(fused.allSatisfy(\.isFinite) && fused.contains { $0 != 0 })
    }

    @Test func fusedBatchNormReLURejectsAMismatchedResidual() {
        let x = Tensor(zeros: [2, 3, 4]), r = Tensor(zeros: [2, 3, 5]), p = Tensor(zeros: [3])
        #expect(throws: TensorError.self) {
            try batchNormReLU(x, adding: r, weight: p, bias: p, runningMean: p, runningVar: p, training: true)
        }
        #expect(throws: TensorError.self) {
            try batchNormReLU(x, weight: Tensor(zeros: [2]), bias: p, runningMean: p, runningVar: p, training: true)
        }
    }

    /// The tie probe sees the same ReLU inputs, and flipping a tie changes the gradients the same way, fused or not.
    @Test func tieProbeSeesAndFlipsTheSameElements() throws {
        func run(fused: Bool, flips: Set<ReLUTieProbe.Tie>) throws -> ([ReLUTieProbe.Tie], [Scalar], [Scalar]) {
            var rng = SeededGenerator(seed: 41)
            let x = Tensor.uniform([4, 3, 6], in: -1...1, using: &rng).requiringGrad()
            let r = Tensor.uniform([4, 3, 6], in: -1...1, using: &rng).requiringGrad()
            let w = Tensor.filled([3], 1), b = Tensor(zeros: [3])
            let seed = Tensor.uniform([4, 3, 6], in: -1...1, using: &rng)
            let probe = ReLUTieProbe(threshold: 0.3, flips: flips)
            try ReLUTieProbe.$current.withValue(probe) {
                let out = fused
                    ? try batchNormReLU(x, adding: r, weight: w, bias: b, runningMean: Tensor(zeros: [3]), runningVar: Tensor.filled([3], 1), training: true)
                    : try batchNorm(x, weight: w, bias: b, runningMean: Tensor(zeros: [3]), runningVar: Tensor.filled([3], 1), training: true).add(r).relu()
                try out.mul(seed).sum().backward()
            }
            return (probe.ties, x.gradValues, r.gradValues)
        }
        let (ties, dx0, dr0) = try run(fused: true, flips: [])
        let (refTies, refDx0, refDr0) = try run(fused: false, flips: [])
        #expect(ties.count >= 2)
        #expect(ties.map(\.element) == refTies.map(\.element) && ties.map(\.input) == refTies.map(\.input))
        let flips = Set(ties.prefix(2))
        let (_, dx1, dr1) = try run(fused: true, flips: flips)
        let (_, refDx1, refDr1) = try run(fused: false, flips: flips)
        #expect(relativeError(dx0, refDx0) <= 1e-5 && relativeError(dr0, refDr0) <= 1e-6)
        #expect(relativeError(dx1, refDx1) <= 1e-5 && relativeError(dr1, refDr1) <= 1e-6)
        #expect(dr1 != dr0, "the flips must change the residual's gradient")
    }

    /// A fresh gradient is written, an existing one added to: both equal accumulating into zeros.
    @Test func firstWriteGradientsEqualAccumulation() {
        var rng = SeededGenerator(seed: 51)
        let n = 1000
        let y = Tensor.uniform([n], in: -1...1, using: &rng), dy = Tensor.uniform([n], in: -1...1, using: &rng)
        let b = Tensor.uniform([n], in: -1...1, using: &rng), start = Tensor.uniform([n], in: -1...1, using: &rng)
        var fresh = [Scalar](repeating: .nan, count: n), zeroed = [Scalar](repeating: 0, count: n)
        relu_backward(&fresh, dy.storage.pointer, y.storage.pointer, n, accumulate: false)
        relu_backward(&zeroed, dy.storage.pointer, y.storage.pointer, n, accumulate: true)
        #expect(fresh == zeroed)
        var added = start.values
        relu_backward(&added, dy.storage.pointer, y.storage.pointer, n, accumulate: true)
        #expect(zip(added, zip(start.values, zeroed)).allSatisfy { $0.0 == $0.1.0 + $0.1.1 })
        for kind in [BinaryKind.add, .sub, .mul] {
            var f = [Scalar](repeating: .nan, count: n), z = [Scalar](repeating: 0, count: n)
            binary_backward(&f, nil, dy.storage.pointer, y.storage.pointer, b.storage.pointer, 10, n / 10, kind, accumulateA: false)
            binary_backward(&z, nil, dy.storage.pointer, y.storage.pointer, b.storage.pointer, 10, n / 10, kind, accumulateA: true)
            #expect(f == z, "\(kind)")
        }
    }
}
