/// The learner's seedable random generator (xoshiro256**, seeded through SplitMix64): model initialisation and
/// batch sampling draw from it, so a seed reproduces a run on every toolchain (the standard library's algorithms may
/// change). Its state can be saved and restored (snapshots keep the trainer's). Media and the scene generator still
/// draw from `SplitMixGenerator` below.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Hashable, Codable {
    private var s0, s1, s2, s3: UInt64

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    /// Restores a saved `state` (four words, not all zero); nil for anything else.
    public init?(state: [UInt64]) {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else { return nil }
        (s0, s1, s2, s3) = (state[0], state[1], state[2], state[3])
    }

    /// The four state words, for saving.
    public var state: [UInt64] { [s0, s1, s2, s3] }

    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    // Saved as the array of the four words.
    public init(from decoder: any Decoder) throws {
        let words = try decoder.singleValueContainer().decode([UInt64].self)
        guard let g = SeededGenerator(state: words) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "a generator state needs four words, not all zero"))
        }
        self = g
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(state)
    }
}

/// SplitMix64, the stream of the media layer and the scene generator (crops, flips, static frames, backoff jitter,
/// generated videos). Kept apart from `SeededGenerator` for now so that generated datasets, the learning
/// benchmark's streams and the tests tuned on them stay byte-identical; merging the two changes every generated
/// scene and is a separate, measured step.
public struct SplitMixGenerator: RandomNumberGenerator, Sendable, Hashable {
    private var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed }

    /// A generator for `name` derived from `seed` (FNV-1a of the name mixed in), so sources differ.
    public init(seed: UInt64, name: String) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        state = seed ^ h
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// A generator for the sub-stream `tags` of `seed`.
    public static func derived(_ seed: UInt64, _ tags: UInt64...) -> SplitMixGenerator {
        var g = SplitMixGenerator(seed: seed)
        for t in tags { g = SplitMixGenerator(seed: g.next() ^ (t &* 0x9e37_79b9_7f4a_7c15)) }
        return g
    }

    /// Uniform in [0, 1), with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}
