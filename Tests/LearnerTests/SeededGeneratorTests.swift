import Foundation
import SeededRandom
import Testing

/// The one seeded generator: SplitMix64's published sequence, its saved state, legacy snapshot states, the draws.
@Suite struct SeededGeneratorTests {
    @Test func matchesTheReferenceSequence() {
        // SplitMix64 seeded with 1234567 (Vigna's splitmix64.c).
        var g = SeededGenerator(seed: 1234567)
        #expect([g.next(), g.next(), g.next()] == [6457827717110365317, 3203168211198807973, 9817491932198370423])
    }

    @Test func savedStateRoundTripsAndContinuesTheSameSequence() throws {
        var a = SeededGenerator(seed: 42)
        for _ in 0..<5 { _ = a.next() }
        #expect(a.savedState.count == 1)
        var b = try #require(SeededGenerator(savedState: a.savedState))
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
        var c = try JSONDecoder().decode(SeededGenerator.self, from: JSONEncoder().encode(a))
        #expect(a.next() == c.next())
        #expect(String(decoding: try JSONEncoder().encode(SeededGenerator(seed: 9)), as: UTF8.self) == "[9]")
    }

    @Test func legacyFourWordStatesResumeOnAFixedFoldedSequenceAndBadStatesAreRefused() throws {
        // Snapshots written before the merge hold xoshiro256**'s four words.
        let legacy: [UInt64] = [0x0123_4567_89ab_cdef, 42, 0, 0xffff_ffff_ffff_ffff]
        var a = try #require(SeededGenerator(savedState: legacy))
        var b = try #require(SeededGenerator(savedState: legacy))
        #expect((0..<5).map { _ in a.next() } == (0..<5).map { _ in b.next() })
        let other = try #require(SeededGenerator(savedState: [0x0123_4567_89ab_cdef, 43, 0, 0xffff_ffff_ffff_ffff]))
        #expect(other != SeededGenerator(savedState: legacy))
        #expect(a.savedState.count == 1)
        #expect(SeededGenerator(savedState: [0, 0, 0, 0]) == nil)
        #expect(SeededGenerator(savedState: [1, 2]) == nil)
        #expect(SeededGenerator(savedState: []) == nil)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(SeededGenerator.self, from: Data("[1,2]".utf8)) }
        let old = try JSONDecoder().decode(SeededGenerator.self, from: Data("[81985529216486895,42,0,18446744073709551615]".utf8))
        #expect(old == SeededGenerator(savedState: legacy))
    }

    @Test func drawsStayInTheirRanges() {
        var g = SeededGenerator(seed: 3)
        for _ in 0..<10_000 {
            let u = g.unit(), x = g.uniform(-2, 5), k = g.integer(below: 7), s = g.sign()
            #expect(u >= 0 && u < 1 && x >= -2 && x < 5 && (0..<7).contains(k) && (s == 1 || s == -1))
        }
        let n = 20_000
        let draws = (0..<n).map { _ in g.gaussian() }
        let mean = draws.reduce(0, +) / Double(n)
        let variance = draws.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
        #expect(abs(mean) < 0.05 && abs(variance - 1) < 0.05)
        #expect(SeededGenerator(seed: 5, name: "a") != SeededGenerator(seed: 5, name: "b"))
        #expect(SeededGenerator.derived(5, 1) != SeededGenerator.derived(5, 2))
    }
}
