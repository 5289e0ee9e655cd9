import Testing
import SeededRandom
import ConceptTestSupport

@testable import Autograd
@testable import TensorKernels

/// Random tensors in [-1, 1) from the project's seeded generator.
private extension SeededGenerator {
    mutating func floats(_ count: Int) -> [Scalar] { (0..<count).map { _ in Scalar(symmetric()) } }
    mutating func doubles(_ count: Int) -> [Double] { (0..<count).map { _ in symmetric() } }
    mutating func index(_ count: Int) -> Int { integer(below: count) }
}

/// ||a - b|| / ||b||, with 0 when both are zero (and infinity when only b is).
private func relativeL2(_ a: [Scalar], _ b: [Scalar]) -> Double {
    var num = 0.0, den = 0.0
    for (x, y) in zip(a, b) {
        num += (Double(x) - Double(y)) * (Double(x) - Double(y))
        den += Double(y) * Double(y)
    }
    if num == 0 { return 0 }
    return den == 0 ? .infinity : (num / den).squareRoot()
}

/// Forward output and the three gradients of one conv3d implementation, from zeroed gradients.
private struct Conv3dResult {
    var out, dinp, dweight, dbias: [Scalar]
}

private typealias Forward = (UnsafeMutablePointer<Scalar>, UnsafePointer<Scalar>, UnsafePointer<Scalar>,
                             UnsafePointer<Scalar>?, Conv3dGeometry) -> Void
private typealias Backward = (UnsafeMutablePointer<Scalar>?, UnsafeMutablePointer<Scalar>?, UnsafeMutablePointer<Scalar>?,
                              UnsafePointer<Scalar>, UnsafePointer<Scalar>, UnsafePointer<Scalar>, Conv3dGeometry) -> Void

private func run(_ g: Conv3dGeometry, inp: [Scalar], weight: [Scalar], bias: [Scalar]?, dout: [Scalar],
                 forward: Forward, backward: Backward, passes: Int = 1) -> Conv3dResult {
    var r = Conv3dResult(out: [Scalar](repeating: .nan, count: g.outputCount),
                         dinp: [Scalar](repeating: 0, count: g.inputCount),
                         dweight: [Scalar](repeating: 0, count: g.weightCount),
                         dbias: [Scalar](repeating: 0, count: g.cout))
    let biasPtr = bias.map { b in UnsafeMutablePointer<Scalar>.allocate(capacity: b.count).initialized(from: b) }
    defer { biasPtr?.deallocate() }
    r.out.withUnsafeMutableBufferPointer { forward($0.baseAddress!, inp, weight, biasPtr.map { UnsafePointer($0) }, g) }
    for _ in 0..<passes {
        r.dinp.withUnsafeMutableBufferPointer { di in
            r.dweight.withUnsafeMutableBufferPointer { dw in
                r.dbias.withUnsafeMutableBufferPointer { db in
                    backward(di.baseAddress!, dw.baseAddress!, bias == nil ? nil : db.baseAddress!, dout, inp, weight, g)
                }
            }
        }
    }
    return r
}

private extension UnsafeMutablePointer where Pointee == Scalar {
    func initialized(from a: [Scalar]) -> Self {
        initialize(from: a, count: a.count)
        return self
    }
}

/// One geometry under test, with a readable name.
struct Conv3dCase: CustomTestStringConvertible, Sendable {
    var name: String
    var g: Conv3dGeometry
    var testDescription: String { "\(name) \(g)" }

    init(_ name: String, n: Int, cin: Int, t: Int, h: Int, w: Int, cout: Int,
         k: (Int, Int, Int), s: (Int, Int, Int) = (1, 1, 1), p: (Int, Int, Int) = (0, 0, 0)) {
        self.name = name
        g = Conv3dGeometry(n: n, cin: cin, t: t, h: h, w: w, cout: cout, kernel: k, stride: s, padding: p)
    }
}

@Suite struct Conv3dKernelTests {
    static let cases: [Conv3dCase] = [
        Conv3dCase("stem (1,7,7) s(1,2,2)", n: 2, cin: 3, t: 3, h: 13, w: 11, cout: 5, k: (1, 7, 7), s: (1, 2, 2), p: (0, 3, 3)),
        Conv3dCase("temporal (3,1,1)", n: 2, cin: 4, t: 5, h: 6, w: 7, cout: 3, k: (3, 1, 1), p: (1, 0, 0)),
        Conv3dCase("temporal (3,1,1) s(2,1,1)", n: 3, cin: 5, t: 6, h: 4, w: 5, cout: 4, k: (3, 1, 1), s: (2, 1, 1), p: (1, 0, 0)),
        Conv3dCase("temporal on one frame (dead taps)", n: 3, cin: 4, t: 1, h: 3, w: 3, cout: 5, k: (3, 1, 1), p: (1, 0, 0)),
        Conv3dCase("temporal s(2,1,1) on two frames", n: 2, cin: 3, t: 2, h: 3, w: 2, cout: 4, k: (3, 1, 1), s: (2, 1, 1), p: (1, 0, 0)),
        Conv3dCase("spatial (1,3,3) s(1,2,2)", n: 2, cin: 4, t: 3, h: 9, w: 8, cout: 6, k: (1, 3, 3), s: (1, 2, 2), p: (0, 1, 1)),
        Conv3dCase("spatial (1,3,3) batch 1", n: 1, cin: 3, t: 2, h: 7, w: 5, cout: 4, k: (1, 3, 3), p: (0, 1, 1)),
        Conv3dCase("spatial s(1,2,1) pad H only", n: 2, cin: 2, t: 2, h: 7, w: 6, cout: 3, k: (1, 3, 3), s: (1, 2, 1), p: (0, 1, 0)),
        Conv3dCase("downsample (1,1,1) s(2,2,2)", n: 2, cin: 6, t: 5, h: 7, w: 9, cout: 5, k: (1, 1, 1), s: (2, 2, 2)),
        Conv3dCase("pointwise (1,1,1)", n: 2, cin: 5, t: 3, h: 4, w: 5, cout: 3, k: (1, 1, 1)),
        Conv3dCase("full (3,3,3) pad 1", n: 2, cin: 3, t: 5, h: 6, w: 5, cout: 4, k: (3, 3, 3), p: (1, 1, 1)),
        Conv3dCase("full (3,3,3) odd strides", n: 1, cin: 2, t: 7, h: 5, w: 9, cout: 3, k: (3, 3, 3), s: (2, 1, 2), p: (0, 1, 2)),
        Conv3dCase("even kernel (2,2,2) s2", n: 2, cin: 3, t: 4, h: 6, w: 6, cout: 2, k: (2, 2, 2), s: (2, 2, 2)),
        Conv3dCase("padding wider than kernel", n: 2, cin: 2, t: 2, h: 3, w: 3, cout: 3, k: (3, 3, 3), s: (1, 2, 1), p: (2, 2, 2)),
        Conv3dCase("all taps in padding", n: 2, cin: 2, t: 1, h: 4, w: 4, cout: 3, k: (3, 1, 1), s: (10, 1, 1), p: (5, 0, 0)),
        // Whole-frame runs of im2col/col2im (stride 1, output as wide as the input), at the edges of what they take.
        Conv3dCase("spatial (1,3,3) on 2x2 frames", n: 2, cin: 3, t: 2, h: 2, w: 2, cout: 4, k: (1, 3, 3), p: (0, 1, 1)),
        Conv3dCase("spatial (1,5,5) pad 2 on 3-wide frames", n: 2, cin: 2, t: 2, h: 4, w: 3, cout: 3, k: (1, 5, 5), p: (0, 2, 2)),
        Conv3dCase("spatial (1,3,3) pad H 2, W 1", n: 2, cin: 2, t: 3, h: 5, w: 6, cout: 3, k: (1, 3, 3), p: (0, 2, 1)),
        Conv3dCase("spatial (1,3,3) on 1-wide frames", n: 2, cin: 2, t: 2, h: 5, w: 1, cout: 3, k: (1, 3, 3), p: (0, 1, 1)),
    ]

    /// Settings that push the fast kernel through each of its paths: the defaults; shifted GEMMs whenever the
    /// shape allows (transposed or not); one clip per GEMM; all clips in one GEMM; one output frame per tile;
    /// each with one worker (multithreaded sgemm, memory passes parallel or not) and with clip-parallel workers
    /// (even or uneven split).
    static let tunings: [(String, Conv3dTuning)] = [
        ("standard", .standard),
        ("shifted, 1 worker", Conv3dTuning(parallelMinWork: .max, groupMinCols: 1, shiftedMinCols: 0,
                                           shiftedTransposedMaxCin: .max, workers: 1)),
        ("shifted, 3 workers", Conv3dTuning(groupMinCols: 1, shiftedMinCols: 0, workers: 3, clipParallelMinClips: 1)),
        ("shifted untransposed", Conv3dTuning(parallelMinWork: .max, shiftedMinCols: 0, shiftedTransposedMaxCin: 0, workers: 1)),
        ("per clip, 1 worker", Conv3dTuning(parallelMinWork: .max, groupMinCols: 1, shiftedMinCols: .max, workers: 1)),
        ("per clip, 2 workers", Conv3dTuning(groupMinCols: 1, shiftedMinCols: .max, workers: 2, clipParallelMinClips: 1)),
        ("grouped, 1 worker", Conv3dTuning(parallelMinWork: 0, groupMinCols: 1 << 30, shiftedMinCols: .max, workers: 1)),
        ("grouped, 2 workers", Conv3dTuning(groupMinCols: 1 << 30, shiftedMinCols: .max, workers: 2, clipParallelMinClips: 1)),
        ("frame tiles, 1 worker", Conv3dTuning(parallelMinWork: 0, maxTileFloats: 1, groupMinCols: 1, shiftedMinCols: .max, workers: 1)),
        ("frame tiles, 2 workers", Conv3dTuning(maxTileFloats: 1, groupMinCols: 1, shiftedMinCols: .max, workers: 2, clipParallelMinClips: 1)),
    ]

    @Test(arguments: cases)
    func fastMatchesNaive(_ c: Conv3dCase) throws {
        let g = c.g
        try g.validate()
        var rng = SeededGenerator(seed: c.name.utf8.reduce(17) { $0 &* 31 &+ UInt64($1) })
        let inp = rng.floats(g.inputCount), weight = rng.floats(g.weightCount)
        let bias = rng.floats(g.cout), dout = rng.floats(g.outputCount)
        for b in [bias, nil] {
            let ref = run(g, inp: inp, weight: weight, bias: b, dout: dout,
                          forward: conv3d_forward_naive, backward: { conv3d_backward_naive(dinp: $0, dweight: $1, dbias: $2, dout: $3, inp: $4, weight: $5, $6) })
            #expect(!ref.out.contains { $0.isNaN })
            for (name, tuning) in Self.tunings {
                let fast = run(g, inp: inp, weight: weight, bias: b, dout: dout,
                               forward: { conv3dForwardFast($0, $1, $2, $3, $4, tuning) },
                               backward: { conv3dBackwardFast(dinp: $0, dweight: $1, dbias: $2, dout: $3, inp: $4, weight: $5, $6, tuning) })
                let label = "\(c.name), \(name), bias \(b != nil)"
                #expect(relativeL2(fast.out, ref.out) <= 1e-5, "forward: \(label)")
                #expect(relativeL2(fast.dinp, ref.dinp) <= 1e-5, "dinp: \(label)")
                #expect(relativeL2(fast.dweight, ref.dweight) <= 1e-5, "dweight: \(label)")
                #expect(relativeL2(fast.dbias, ref.dbias) <= 1e-5, "dbias: \(label)")
            }
        }
    }

    /// A realistic shape through the public entry points with the default plan (shifted GEMMs, grouped im2col).
    @Test(arguments: [
        Conv3dCase("tiny layer1 temporal", n: 2, cin: 12, t: 8, h: 16, w: 16, cout: 8, k: (3, 1, 1), p: (1, 0, 0)),
        Conv3dCase("tiny layer2 spatial", n: 3, cin: 8, t: 4, h: 16, w: 16, cout: 10, k: (1, 3, 3), s: (1, 2, 2), p: (0, 1, 1)),
        Conv3dCase("tiny stem", n: 1, cin: 3, t: 4, h: 32, w: 32, cout: 11, k: (1, 7, 7), s: (1, 2, 2), p: (0, 3, 3)),
    ])
    func publicFastMatchesNaiveOnLargerShapes(_ c: Conv3dCase) {
        let g = c.g
        var rng = SeededGenerator(seed: 99)
        let inp = rng.floats(g.inputCount), weight = rng.floats(g.weightCount)
        let bias = rng.floats(g.cout), dout = rng.floats(g.outputCount)
        let ref = run(g, inp: inp, weight: weight, bias: bias, dout: dout, forward: conv3d_forward_naive,
                      backward: { conv3d_backward_naive(dinp: $0, dweight: $1, dbias: $2, dout: $3, inp: $4, weight: $5, $6) })
        let fast = run(g, inp: inp, weight: weight, bias: bias, dout: dout, forward: conv3d_forward,
                       backward: { conv3d_backward(dinp: $0, dweight: $1, dbias: $2, dout: $3, inp: $4, weight: $5, $6) })
        #expect(relativeL2(fast.out, ref.out) <= 1e-5)
        #expect(relativeL2(fast.dinp, ref.dinp) <= 1e-5)
        #expect(relativeL2(fast.dweight, ref.dweight) <= 1e-5)
        #expect(relativeL2(fast.dbias, ref.dbias) <= 1e-5)
    }

    /// Calling backward twice must add the gradient twice, on every path and in the naive kernel.
    @Test(arguments: [cases[0], cases[1], cases[3], cases[8], cases[11]])
    func backwardAccumulates(_ c: Conv3dCase) {
        let g = c.g
        var rng = SeededGenerator(seed: 5)
        let inp = rng.floats(g.inputCount), weight = rng.floats(g.weightCount)
        let bias = rng.floats(g.cout), dout = rng.floats(g.outputCount)
        var backwards: [(String, Backward)] = [
            ("naive", { conv3d_backward_naive(dinp: $0, dweight: $1, dbias: $2, dout: $3, inp: $4, weight: $5, $6) }),
        ]
        for (name, tuning) in Self.tunings {
            backwards.append((name, { conv3dBackwardFast(dinp: $0, dweight: $1, dbias: $2, dout: $3, inp: $4, weight: $5, $6, tuning) }))
        }
        for (name, backward) in backwards {
            let once = run(g, inp: inp, weight: weight, bias: bias, dout: dout, forward: conv3d_forward_naive, backward: backward)
            let twice = run(g, inp: inp, weight: weight, bias: bias, dout: dout, forward: conv3d_forward_naive,
                            backward: backward, passes: 2)
            #expect(relativeL2(twice.dinp, once.dinp.map { 2 * $0 }) <= 1e-6, "dinp \(name)")
            #expect(relativeL2(twice.dweight, once.dweight.map { 2 * $0 }) <= 1e-6, "dweight \(name)")
            #expect(relativeL2(twice.dbias, once.dbias.map { 2 * $0 }) <= 1e-6, "dbias \(name)")
            #expect(once.dweight.contains { $0 != 0 } && once.dbias.contains { $0 != 0 }, "gradient is zero: \(name)")
        }
    }

    /// A fresh input gradient (`accumulateDinp: false`, contents unspecified: here NaN) is overwritten with exactly
    /// what accumulating into zeros gives, on every path, with and without the weight gradient.
    @Test(arguments: cases)
    func freshInputGradientIsOverwritten(_ c: Conv3dCase) {
        let g = c.g
        var rng = SeededGenerator(seed: 6)
        let inp = rng.floats(g.inputCount), weight = rng.floats(g.weightCount), dout = rng.floats(g.outputCount)
        for (name, tuning) in Self.tunings {
            for withWeight in [true, false] {
                var zeroed = [Scalar](repeating: 0, count: g.inputCount), fresh = [Scalar](repeating: .nan, count: g.inputCount)
                var dw1 = [Scalar](repeating: 0, count: g.weightCount), dw2 = dw1
                dw1.withUnsafeMutableBufferPointer { dw in
                    conv3dBackwardFast(dinp: &zeroed, dweight: withWeight ? dw.baseAddress : nil, dbias: nil, dout: dout,
                                       inp: inp, weight: weight, g, tuning)
                }
                dw2.withUnsafeMutableBufferPointer { dw in
                    conv3dBackwardFast(dinp: &fresh, dweight: withWeight ? dw.baseAddress : nil, dbias: nil, dout: dout,
                                       inp: inp, weight: weight, g, tuning, accumulateDinp: false)
                }
                #expect(fresh == zeroed, "\(c.name), \(name), dweight \(withWeight)")
                #expect(dw1 == dw2)
            }
        }
    }

    /// The tiled transpose (with and without bias, accumulating or not) equals the element-by-element one, for sizes
    /// around its 4 x 4 tiles and 64 x 64 blocks.
    @Test func transposeMatchesElementByElement() {
        var rng = SeededGenerator(seed: 12)
        for (rows, cols) in [(1, 1), (3, 5), (4, 4), (13, 7), (67, 9), (16, 130), (130, 16)] {
            let src = rng.floats(rows * cols), bias = rng.floats(cols), ldd = rows + 3
            for withBias in [false, true] {
                for accumulate in [false, true] where !(withBias && accumulate) {
                    let start = rng.floats(cols * ldd)
                    var expected = start, got = start
                    for c in 0..<cols {
                        for i in 0..<rows {
                            let v = src[i * cols + c]
                            expected[c * ldd + i] = accumulate ? expected[c * ldd + i] + v : v + (withBias ? bias[c] : 0)
                        }
                    }
                    bias.withUnsafeBufferPointer { b in
                        Conv3dMemory.transpose(src, rows: rows, cols: cols, &got, ldd: ldd, bias: withBias ? b.baseAddress : nil,
                                               accumulate: accumulate)
                    }
                    #expect(got == expected, "\(rows) x \(cols), bias \(withBias), accumulate \(accumulate)")
                }
            }
        }
    }

    /// Gradients left nil are not touched and the others still come out right.
    @Test func nilGradientsAreSkipped() {
        let g = Self.cases[5].g
        var rng = SeededGenerator(seed: 8)
        let inp = rng.floats(g.inputCount), weight = rng.floats(g.weightCount), dout = rng.floats(g.outputCount)
        var ref = [Scalar](repeating: 0, count: g.weightCount), fast = ref
        conv3d_backward_naive(dinp: nil, dweight: &ref, dbias: nil, dout: dout, inp: inp, weight: weight, g)
        conv3d_backward(dinp: nil, dweight: &fast, dbias: nil, dout: dout, inp: inp, weight: weight, g)
        #expect(relativeL2(fast, ref) <= 1e-5)
        var dinpRef = [Scalar](repeating: 0, count: g.inputCount), dinpFast = dinpRef
        conv3d_backward_naive(dinp: &dinpRef, dweight: nil, dbias: nil, dout: dout, inp: inp, weight: weight, g)
        conv3d_backward(dinp: &dinpFast, dweight: nil, dbias: nil, dout: dout, inp: inp, weight: weight, g)
        #expect(relativeL2(dinpFast, dinpRef) <= 1e-5)
    }

    /// The naive backward agrees with central differences of the naive forward (both in Double) for the loss
    /// sum(out * R), so the reference is trusted on its own.
    @Test(arguments: [
        Conv3dCase("(3,3,3) mixed", n: 2, cin: 2, t: 4, h: 4, w: 5, cout: 3, k: (3, 3, 3), s: (2, 1, 1), p: (1, 1, 0)),
        Conv3dCase("stem-like", n: 1, cin: 2, t: 2, h: 7, w: 6, cout: 2, k: (1, 5, 5), s: (1, 2, 2), p: (0, 2, 2)),
        Conv3dCase("temporal s2", n: 2, cin: 3, t: 5, h: 2, w: 3, cout: 2, k: (3, 1, 1), s: (2, 1, 1), p: (1, 0, 0)),
    ])
    func naiveBackwardMatchesFiniteDifferences(_ c: Conv3dCase) {
        let g = c.g
        var rng = SeededGenerator(seed: 1234)
        let inp = rng.doubles(g.inputCount), weight = rng.doubles(g.weightCount), bias = rng.doubles(g.cout)
        let r = rng.doubles(g.outputCount)
        func loss(_ inp: [Double], _ weight: [Double], _ bias: [Double]) -> Double {
            var out = [Double](repeating: 0, count: g.outputCount)
            conv3dForwardReference(&out, inp, weight, bias, g)
            return zip(out, r).reduce(0) { $0 + $1.0 * $1.1 }
        }
        var dinp = [Double](repeating: 0, count: g.inputCount)
        var dweight = [Double](repeating: 0, count: g.weightCount)
        var dbias = [Double](repeating: 0, count: g.cout)
        conv3dBackwardReference(dinp: &dinp, dweight: &dweight, dbias: &dbias, dout: r, inp: inp, weight: weight, g)
        let eps = 1e-6
        /// Central difference of the loss along element i of the tensor `which` (0 inp, 1 weight, 2 bias).
        func centralDifference(_ which: Int, _ i: Int) -> Double {
            var values = [inp, weight, bias]
            values[which][i] += eps
            let up = loss(values[0], values[1], values[2])
            values[which][i] -= 2 * eps
            let down = loss(values[0], values[1], values[2])
            return (up - down) / (2 * eps)
        }
        for (which, grad, what) in [(0, dinp, "dinp"), (1, dweight, "dweight"), (2, dbias, "dbias")] {
            for _ in 0..<6 {
                let i = rng.index(grad.count)
                let fd = centralDifference(which, i)
                #expect(abs(fd - grad[i]) <= 1e-6 * max(1, abs(grad[i])), "\(what)[\(i)]: fd \(fd) vs \(grad[i])")
            }
        }
        #expect(dinp.contains { $0 != 0 } && dweight.contains { $0 != 0 })
    }

    @Test func geometryComputesOutputExtentAndFlops() throws {
        let g = Conv3dGeometry(n: 24, cin: 3, t: 8, h: 64, w: 64, cout: 11, kernel: (1, 7, 7), stride: (1, 2, 2), padding: (0, 3, 3))
        try g.validate()
        #expect(g.to == 8 && g.ho == 32 && g.wo == 32)
        #expect(g.flops == 2 * Double(24 * 11 * 8 * 32 * 32) * Double(3 * 49))
        let d = Conv3dGeometry(n: 1, cin: 4, t: 5, h: 7, w: 9, cout: 2, kernel: (1, 1, 1), stride: (2, 2, 2))
        #expect(d.to == 3 && d.ho == 4 && d.wo == 5)
    }

    @Test(arguments: [
        (Conv3dGeometry(n: 0, cin: 3, t: 4, h: 4, w: 4, cout: 2, kernel: (1, 1, 1)), Conv3dGeometryError.nonPositiveSize),
        (Conv3dGeometry(n: 1, cin: 3, t: 4, h: 4, w: 4, cout: -1, kernel: (1, 1, 1)), .nonPositiveSize),
        (Conv3dGeometry(n: 1, cin: 3, t: 4, h: 4, w: 4, cout: 2, kernel: (0, 1, 1)), .nonPositiveSize),
        (Conv3dGeometry(n: 1, cin: 3, t: 4, h: 4, w: 4, cout: 2, kernel: (1, 1, 1), stride: (1, 0, 1)), .nonPositiveStride),
        (Conv3dGeometry(n: 1, cin: 3, t: 4, h: 4, w: 4, cout: 2, kernel: (1, 1, 1), padding: (0, 0, -1)), .negativePadding),
        (Conv3dGeometry(n: 1, cin: 3, t: 2, h: 4, w: 4, cout: 2, kernel: (3, 1, 1)), .kernelLargerThanPaddedInput),
        (Conv3dGeometry(n: 1, cin: 3, t: 4, h: 4, w: 4, cout: 2, kernel: (1, 7, 7), padding: (0, 1, 1)), .kernelLargerThanPaddedInput),
        (Conv3dGeometry(n: 1 << 20, cin: 1 << 20, t: 1 << 20, h: 4, w: 4, cout: 2, kernel: (1, 1, 1)), .tooLarge),
        (Conv3dGeometry(n: 1, cin: 3, t: 4, h: 4, w: 4, cout: 2, kernel: (1, 1, 1), padding: (Int.max / 2, 0, 0)), .tooLarge),
    ])
    func validateRejectsBadGeometry(_ g: Conv3dGeometry, _ expected: Conv3dGeometryError) {
        let error = #expect(throws: Conv3dGeometryError.self) { try g.validate() }
        #expect(error == expected, "\(error?.message ?? "no error")")
        #expect(error?.message.contains("conv3d") == true)
        // Invalid geometries still answer their derived sizes without trapping.
        _ = (g.to, g.ho, g.wo, g.flops, g.outputCount)
    }

    @Test func validateAcceptsKernelEqualToPaddedInput() throws {
        try Conv3dGeometry(n: 1, cin: 1, t: 1, h: 3, w: 1, cout: 1, kernel: (3, 5, 3), padding: (1, 1, 1)).validate()
    }
}
