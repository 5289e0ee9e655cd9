import Foundation
import SeededRandom
import TensorKernels

extension SeededGenerator {
    /// Uniform in [0, 1), as a tensor element (24 random bits).
    public mutating func uniform() -> Scalar { Scalar(next() >> 40) * (1.0 / Scalar(1 << 24)) }

    /// Standard normal (Box–Muller).
    public mutating func normal() -> Scalar {
        let u1 = Swift.max(Double(next() >> 11) * 0x1.0p-53, 1e-300), u2 = Double(next() >> 11) * 0x1.0p-53
        return Scalar((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }
}

extension Tensor {
    /// Values drawn uniformly from `range`.
    public static func uniform(_ shape: [Int], in range: ClosedRange<Scalar>, using rng: inout SeededGenerator,
                               requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(zeros: shape, requiresGrad: requiresGrad)
        let p = t.storage.pointer
        for i in 0..<t.count { p[i] = range.lowerBound + (range.upperBound - range.lowerBound) * rng.uniform() }
        return t
    }

    /// Values drawn from N(0, std²).
    public static func normal(_ shape: [Int], std: Scalar = 1, using rng: inout SeededGenerator,
                              requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(zeros: shape, requiresGrad: requiresGrad)
        let p = t.storage.pointer
        for i in 0..<t.count { p[i] = std * rng.normal() }
        return t
    }

    /// A tensor filled with `value`.
    public static func filled(_ shape: [Int], _ value: Scalar) -> Tensor {
        let t = Tensor(zeros: shape)
        let p = t.storage.pointer
        for i in 0..<t.count { p[i] = value }
        return t
    }
}
