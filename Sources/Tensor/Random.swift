import Foundation

/// A small, fast, seedable generator (xoshiro256**), so runs and tests reproduce; its state can be saved.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable, Codable {
    /// The four state words.
    public private(set) var state: [UInt64]

    /// A generator seeded through SplitMix64 from `seed`.
    public init(seed: UInt64) {
        var s = seed
        var words: [UInt64] = []
        for _ in 0..<4 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            words.append(z ^ (z >> 31))
        }
        state = words
    }

    /// Restores a saved state (four words).
    public init(state: [UInt64]) throws {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else {
            throw TensorError.invalidArgument("generator state needs four words, not all zero")
        }
        self.state = state
    }

    public mutating func next() -> UInt64 {
        let result = ((state[1] &* 5) << 7 | (state[1] &* 5) >> 57) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]; state[3] ^= state[1]; state[1] ^= state[2]; state[0] ^= state[3]
        state[2] ^= t
        state[3] = (state[3] << 45) | (state[3] >> 19)
        return result
    }

    /// Uniform in [0, 1).
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
