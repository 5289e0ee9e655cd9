import Foundation

/// conceptd's one seedable random generator: SplitMix64 (Steele, Lea and Flood; Vigna's `splitmix64.c`). Model
/// initialisation, batch sampling, the media layer (crops, flips, static frames, backoff jitter) and the scene
/// generator all draw from it, with the draws defined here rather than through the standard library's
/// `random(in:using:)`, whose algorithm may change, so a seed reproduces a run on every toolchain. Its state is one
/// word; snapshots save the trainer's.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Hashable, Codable {
    /// The state word: the next output is the SplitMix64 mix of `state` plus the golden-ratio increment.
    public private(set) var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed }

    /// A generator for `name` derived from `seed` (FNV-1a of the name mixed in), so sources differ.
    public init(seed: UInt64, name: String) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        state = seed ^ h
    }

    /// Restores a state saved as `savedState`: its one word, or the four words of the xoshiro256** generator that
    /// snapshots written before the generators were merged (2026-12-06) hold. Those cannot continue their old sequence;
    /// they are folded into one word, so a resumed legacy snapshot draws a fixed, fresh sequence. Nil for any other
    /// length and for four zero words (never a valid xoshiro256** state).
    public init?(savedState words: [UInt64]) {
        switch words.count {
        case 1:
            state = words[0]
        case 4 where words.contains(where: { $0 != 0 }):
            var g = SeededGenerator(seed: words[0])
            for w in words.dropFirst() { g = SeededGenerator(seed: g.next() ^ w) }
            state = g.state
        default:
            return nil
        }
    }

    /// The state as saved in snapshots (one word).
    public var savedState: [UInt64] { [state] }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// A generator for the sub-stream `tags` of `seed`.
    public static func derived(_ seed: UInt64, _ tags: UInt64...) -> SeededGenerator {
        var g = SeededGenerator(seed: seed)
        for t in tags { g = SeededGenerator(seed: g.next() ^ (t &* 0x9e37_79b9_7f4a_7c15)) }
        return g
    }

    /// Uniform in [0, 1), with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in [a, b).
    public mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * unit() }

    /// Uniform integer in 0 ..< n (n > 0; by modulo, a bias below n / 2^64).
    public mutating func integer(below n: Int) -> Int {
        precondition(n > 0, "integer(below:) needs a positive bound")
        return Int(next() % UInt64(n))
    }

    /// Standard normal (Box-Muller, one draw per call).
    public mutating func gaussian() -> Double {
        let u = max(unit(), 0x1p-60)
        return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Double.pi * unit())
    }

    /// -1 or +1.
    public mutating func sign() -> Double { next() & 1 == 0 ? -1 : 1 }

    // Saved as an array of words (one; four in snapshots from before the merge).
    public init(from decoder: any Decoder) throws {
        let words = try decoder.singleValueContainer().decode([UInt64].self)
        guard let g = SeededGenerator(savedState: words) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "a generator state is one word (or a legacy four, not all zero), got \(words.count)"))
        }
        self = g
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(savedState)
    }
}
