import Testing
@testable import Autograd
@testable import TensorKernels
import SeededRandom
import ConceptTestSupport

/// Fast kernels against their naive references, and the optimiser against the spec's rule.
@Suite struct KernelTests {
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmEqualsNaive(ta: Bool, tb: Bool) {
        var rng = SeededGenerator(seed: 3)
        for (m, n, k) in [(1, 1, 1), (7, 5, 3), (33, 17, 65), (64, 128, 96)] {
            let a = Tensor.uniform(ta ? [k, m] : [m, k], in: -1...1, using: &rng)
            let b = Tensor.uniform(tb ? [n, k] : [k, n], in: -1...1, using: &rng)
            let c1 = Tensor.uniform([m, n], in: -1...1, using: &rng), c2 = c1.detached()
            gemm(ta, tb, m, n, k, 1, a.storage.pointer, ta ? m : k, b.storage.pointer, tb ? k : n, 0.5, c1.storage.pointer, n)
            gemm_naive(ta, tb, m, n, k, a.storage.pointer, ta ? m : k, b.storage.pointer, tb ? k : n, 0.5, c2.storage.pointer, n)
            #expect(relativeError(c1.values, c2.values) <= 1e-5)
        }
    }

    @Test func sgdFollowsPyTorchsRule() {
        // Two steps by hand: g' = g + wd·p; buf = g' then buf = μ·buf + g'; p −= lr·buf.
        let p = try! Tensor([1, -2, 0.5], shape: [3])
        let params = ParameterSet([("p", p)])
        var sgd = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
        var expected: [Double] = [1, -2, 0.5], buf: [Double] = [0, 0, 0]
        let grads: [[Scalar]] = [[0.3, -0.1, 2], [-1, 0.5, 0.25]]
        for (step, g) in grads.enumerated() {
            params.zeroGrad()
            for i in 0..<3 { params.grads.pointer[i] = g[i] }
            sgd.step(params)
            for i in 0..<3 {
                let gp = Double(g[i]) + 0.01 * expected[i]
                buf[i] = step == 0 ? gp : 0.9 * buf[i] + gp
                expected[i] -= 0.1 * buf[i]
            }
        }
        for i in 0..<3 { #expect(Swift.abs(Double(p.values[i]) - expected[i]) < 1e-6) }
        #expect(sgd.steps == 2)
    }

    /// The update split over the cores equals the rule applied element by element, frozen parameters untouched;
    /// the gradient norm equals the plain sum.
    @Test func sgdAndGradientNormOverManyParameters() throws {
        var rng = SeededGenerator(seed: 9)
        let sizes = [70_000, 3, 120_001, 5, 64_000]
        let tensors = sizes.map { Tensor.uniform([$0], in: -1...1, using: &rng) }
        let params = ParameterSet(tensors.enumerated().map { ("p\($0.offset)", $0.element) })
        var values = params.values.buffer.map { Double($0) }
        let frozenStart = Array(params.values.buffer[params.offsets[2] ..< params.offsets[2] + sizes[2]])
        var buf = [Double](repeating: 0, count: params.count)
        var sgd = SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 0.01)
        for _ in 0..<2 {
            for i in 0..<params.count { params.grads.pointer[i] = rng.uniform() - 0.5 }
            var sq: Double = 0
            for i in 0..<params.count { sq += Double(params.grads.pointer[i]) * Double(params.grads.pointer[i]) }
            #expect(Swift.abs(Double(params.gradientNorm) - sq.squareRoot()) <= 1e-5 * sq.squareRoot())
            let g = params.grads.buffer.map { Double($0) }
            sgd.step(params, frozen: ["p2"])
            for (j, t) in tensors.enumerated() where j != 2 {
                for i in params.offsets[j] ..< params.offsets[j] + t.count {
                    let gi = g[i] + 0.01 * values[i]
                    buf[i] = 0.9 * buf[i] + gi
                    values[i] -= 0.05 * buf[i]
                }
            }
        }
        var worst = 0.0
        for i in 0..<params.count { worst = Swift.max(worst, Swift.abs(Double(params.values.pointer[i]) - values[i])) }
        #expect(worst <= 1e-5)
        #expect(frozenStart == Array(params.values.buffer[params.offsets[2] ..< params.offsets[2] + sizes[2]]))
        #expect(sgd.momentumBuffer[params.offsets[2] ..< params.offsets[2] + sizes[2]].allSatisfy { $0 == 0 })
    }

    @Test func parameterSetViewsOneFlatBuffer() throws {
        let a = try Tensor([1, 2], shape: [2]), b = try Tensor([3, 4, 5, 6], shape: [2, 2])
        let set = ParameterSet([("a", a), ("b", b)])
        #expect(Array(set.values.buffer) == [1, 2, 3, 4, 5, 6])
        try a.mul(a).sum().backward()
        try b.sum().backward()
        #expect(Array(set.grads.buffer) == [2, 4, 1, 1, 1, 1])
        set.zeroGrad()
        #expect(Array(set.grads.buffer) == [0, 0, 0, 0, 0, 0])
    }

    @Test func batchNormUpdatesRunningStatisticsWithUnbiasedVariance() throws {
        let x = try Tensor([1, 2, 3, 4, 5, 6, 7, 8], shape: [2, 2, 2])   // channel 0: 1,2,5,6; channel 1: 3,4,7,8
        let w = Tensor.filled([2], 1), b = Tensor(zeros: [2])
        let rm = Tensor(zeros: [2]), rv = Tensor.filled([2], 1)
        let y = try batchNorm(x, weight: w, bias: b, runningMean: rm, runningVar: rv, training: true, momentum: 0.1, eps: 1e-5)
        // mean 3.5 / 5.5, biased var 4.25, unbiased 17/3.
        #expect(Swift.abs(rm.values[0] - 0.35) < 1e-6 && Swift.abs(rm.values[1] - 0.55) < 1e-6)
        #expect(Swift.abs(rv.values[0] - (0.9 + 0.1 * 17 / 3)) < 1e-5)
        #expect(Swift.abs(y.values[0] - Scalar((1 - 3.5) / (4.25 + 1e-5).squareRoot())) < 1e-5)
    }
}
