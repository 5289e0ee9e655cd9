import Testing
@testable import Autograd
@testable import TensorKernels
import SeededRandom

/// Finite-difference checks of every differentiable op, on random shapes with odd sizes and batch 1.
/// A correct backward gives errors around 1e-4 in float32; a wrong one gives O(1). The bound is 1e-2.
@Suite struct GradientCheckTests {
    static let bound = 1e-2

    /// Random values kept away from 0 by `gap`, so kinks (ReLU, |x|, hinges) are not straddled by ±h.
    static func away(_ shape: [Int], _ rng: inout SeededGenerator, gap: Scalar = 0.05) -> Tensor {
        let t = Tensor.uniform(shape, in: -1...1, using: &rng)
        let p = t.storage.pointer
        for i in 0..<t.count where Swift.abs(p[i]) < gap { p[i] = p[i] < 0 ? -gap - 0.01 : gap + 0.01 }
        return t
    }

    func check(_ inputs: [Tensor], step: Scalar = 1e-2, _ f: @escaping ([Tensor]) throws -> Tensor,
               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let errors = try gradientCheck(inputs, step: step, f)
        for (i, e) in errors.enumerated() {
            #expect(e < Self.bound, "input \(i): relative error \(e)", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: [[1, 5], [3, 7, 2], [2, 1, 3, 4]])
    func unaryOps(shape: [Int]) throws {
        var rng = SeededGenerator(seed: 11)
        try check([Self.away(shape, &rng)]) { $0[0].relu() }
        try check([Self.away(shape, &rng)]) { $0[0].abs() }
        try check([Self.away(shape, &rng)]) { $0[0].square() }
        try check([Self.away(shape, &rng)]) { $0[0].exp() }
        try check([Self.away(shape, &rng).abs().adding(0.5)]) { $0[0].log() }
        try check([Self.away(shape, &rng).abs().adding(0.2)], step: 1e-3) { $0[0].sqrt(clampingTo: 1e-6) }
        try check([Self.away(shape, &rng)]) { $0[0].scaled(by: -2.5).adding(0.3) }
        try check([Self.away(shape, &rng)]) { $0[0].adding(0.3).reluHinge(margin: 0.3) }
    }

    @Test func sqrtClampIsFlatBelowTheClamp() throws {
        let x = try Tensor([-1, 0.25], shape: [2], requiresGrad: true)
        try x.sqrt(clampingTo: 1e-12).sum().backward()
        #expect(x.gradValues[0] == 0)
        #expect(Swift.abs(x.gradValues[1] - 1) < 1e-6)
    }

    @Test(arguments: [([4, 3], [3]), ([2, 5, 3], [5, 3]), ([1, 7], [1, 7])])
    func binaryOpsWithBroadcast(a: [Int], b: [Int]) throws {
        var rng = SeededGenerator(seed: 12)
        try check([Self.away(a, &rng), Self.away(b, &rng)]) { try $0[0].add($0[1]) }
        try check([Self.away(a, &rng), Self.away(b, &rng)]) { try $0[0].sub($0[1]) }
        try check([Self.away(a, &rng), Self.away(b, &rng)]) { try $0[0].mul($0[1]) }
    }

    @Test func maskMultiplyPassesGradientOnlyThroughTheMask() throws {
        var rng = SeededGenerator(seed: 13)
        let x = Self.away([3, 4], &rng).requiringGrad()
        let mask = try Tensor((0..<12).map { Scalar($0 % 3 == 0 ? 1 : 0) }, shape: [3, 4])
        try x.mul(mask).sum().backward()
        #expect(x.gradValues == mask.values)
        try check([Self.away([3, 4], &rng)]) { try $0[0].mul(mask) }
    }

    @Test func reductions() throws {
        var rng = SeededGenerator(seed: 14)
        try check([Self.away([3, 4, 5], &rng)]) { $0[0].sum() }
        try check([Self.away([3, 4, 5], &rng)]) { $0[0].mean() }
        for axis in [0, 1, 2, -1] {
            try check([Self.away([3, 4, 5], &rng)]) { try $0[0].sum(axis: axis) }
            try check([Self.away([3, 4, 5], &rng)]) { try $0[0].mean(axis: axis) }
        }
        try check([Self.away([2, 3, 3, 5, 4], &rng)]) { try $0[0].globalAveragePool() }
        try check([Self.away([1, 3, 1, 1, 1], &rng)]) { try $0[0].globalAveragePool() }
        try check([Self.away([4, 6], &rng), Self.away([4, 6], &rng)]) { try mse($0[0], $0[1]) }
    }

    @Test func layoutOps() throws {
        var rng = SeededGenerator(seed: 15)
        try check([Self.away([2, 3, 4], &rng)]) { try $0[0].reshaped([6, -1]).relu() }
        try check([Self.away([2, 3, 4], &rng)]) { try $0[0].transposed(0, 2) }
        try check([Self.away([2, 3, 4, 5], &rng)]) { try $0[0].permuted([2, 0, 3, 1]) }
        try check([Self.away([5, 3, 4], &rng)]) { try $0[0].slice(axis: 0, 1..<4) }
        try check([Self.away([2, 7, 3], &rng)]) { try $0[0].slice(axis: 1, 2..<7) }
        try check([Self.away([2, 3], &rng), Self.away([4, 3], &rng), Self.away([1, 3], &rng)]) {
            try concat($0, axis: 0)
        }
        try check([Self.away([2, 3, 2], &rng), Self.away([2, 1, 2], &rng)]) { try concat($0, axis: 1) }
    }

    @Test func softmaxAndNormalize() throws {
        var rng = SeededGenerator(seed: 16)
        for axis in [0, 1, -1] {
            try check([Self.away([3, 5, 4], &rng)]) { try $0[0].softmax(axis: axis) }
            try check([Self.away([3, 5, 4], &rng)]) { try $0[0].logSoftmax(axis: axis) }
            try check([Self.away([3, 5, 4], &rng)]) { try $0[0].normalized(axis: axis) }
        }
        try check([Self.away([1, 1, 7], &rng).scaled(by: 10)]) { try $0[0].logSoftmax(axis: -1) }
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matmulAllTransposes(ta: Bool, tb: Bool) throws {
        var rng = SeededGenerator(seed: 17)
        let (m, k, n) = (3, 5, 4)
        let a2 = ta ? [k, m] : [m, k], b2 = tb ? [n, k] : [k, n]
        try check([Self.away(a2, &rng), Self.away(b2, &rng)]) { try matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
        try check([Self.away([2] + a2, &rng), Self.away([2] + b2, &rng)]) { try matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
        try check([Self.away([3] + a2, &rng), Self.away(b2, &rng)]) { try matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
        try check([Self.away(a2, &rng), Self.away([2] + b2, &rng)]) { try matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
    }

    @Test func linearWithAndWithoutBias() throws {
        var rng = SeededGenerator(seed: 18)
        try check([Self.away([5, 7], &rng), Self.away([3, 7], &rng), Self.away([3], &rng)]) {
            try linear($0[0], weight: $0[1], bias: $0[2])
        }
        try check([Self.away([2, 4, 7], &rng), Self.away([3, 7], &rng)]) { try linear($0[0], weight: $0[1]) }
        try check([Self.away([1, 1], &rng), Self.away([2, 1], &rng)]) { try linear($0[0], weight: $0[1]) }
    }

    @Test(arguments: [[4, 3, 2, 3, 3], [2, 5, 7], [3, 4], [1, 2, 3, 1, 5]])
    func batchNormTrainingAndEvaluation(shape: [Int]) throws {
        var rng = SeededGenerator(seed: 19)
        let c = shape[1]
        let rm = Tensor.uniform([c], in: -0.2...0.2, using: &rng), rv = Tensor.uniform([c], in: 0.5...1.5, using: &rng)
        try check([Self.away(shape, &rng), Self.away([c], &rng), Self.away([c], &rng)], step: 5e-3) {
            try batchNorm($0[0], weight: $0[1], bias: $0[2], runningMean: rm, runningVar: rv, training: true)
        }
        try check([Self.away(shape, &rng), Self.away([c], &rng), Self.away([c], &rng)]) {
            try batchNorm($0[0], weight: $0[1], bias: $0[2], runningMean: rm, runningVar: rv, training: false)
        }
    }

    @Test(arguments: [
        ([1, 2, 3, 7, 6], [3, 2, 1, 3, 3], (1, 2, 2), (0, 1, 1), false),
        ([2, 3, 5, 4, 3], [2, 3, 3, 1, 1], (2, 1, 1), (1, 0, 0), false),
        ([1, 2, 3, 5, 5], [2, 2, 1, 1, 1], (2, 2, 2), (0, 0, 0), false),
        ([2, 2, 3, 4, 5], [3, 2, 3, 3, 3], (1, 1, 1), (1, 1, 1), true),
        ([1, 3, 1, 9, 8], [2, 3, 1, 7, 7], (1, 2, 2), (0, 3, 3), true),
    ])
    func conv3dAsAnOp(x: [Int], w: [Int], stride: (Int, Int, Int), padding: (Int, Int, Int), bias: Bool) throws {
        var rng = SeededGenerator(seed: 21)
        let inputs = [Self.away(x, &rng), Self.away(w, &rng)] + (bias ? [Self.away([w[0]], &rng)] : [])
        try check(inputs) { xs in
            try conv3d(xs[0], weight: xs[1], bias: xs.count > 2 ? xs[2] : nil, stride: stride, padding: padding)
        }
    }

    @Test func aCompositeLossLikeTheSpec() throws {
        // normalise → cosine logits → log-softmax → target-weighted sum: the swapped-prediction shape.
        var rng = SeededGenerator(seed: 20)
        let target = Tensor.uniform([4, 6], in: 0...1, using: &rng)
        try check([Self.away([4, 8], &rng), Self.away([6, 8], &rng)]) { xs in
            let q = try matmul(xs[0].normalized(axis: 1), xs[1].normalized(axis: 1), transposeB: true)
            return try q.scaled(by: 10).logSoftmax(axis: 1).mul(target).sum(axis: 1).mean().scaled(by: -1)
        }
    }

    @Test func shapeMismatchesAreErrorsNotCrashes() throws {
        let a = Tensor(zeros: [2, 3]), b = Tensor(zeros: [4])
        #expect(throws: TensorError.self) { try a.add(b) }
        #expect(throws: TensorError.self) { try matmul(a, a) }
        #expect(throws: TensorError.self) { try a.reshaped([5]) }
        #expect(throws: TensorError.self) { try a.slice(axis: 1, 2..<4) }
        #expect(throws: TensorError.self) { try a.sum(axis: 2) }
        #expect(throws: TensorError.self) { try concat([a, b], axis: 0) }
        #expect(throws: TensorError.self) { try linear(a, weight: Tensor(zeros: [3, 4])) }
        #expect(throws: TensorError.self) { try Tensor([1, 2, 3], shape: [2, 2]) }
        #expect(throws: TensorError.self) {
            try batchNorm(a, weight: b, bias: b, runningMean: b, runningVar: b, training: true)
        }
    }
}
