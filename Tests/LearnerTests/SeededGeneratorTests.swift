import Foundation
import SeededRandom
import Testing

/// The seeded generators: SplitMix64's published sequence (the test data, media and scenes draw from it), and the
/// learner's generator state saved in snapshots.
@Suite struct SeededGeneratorTests {
    @Test func splitMixMatchesItsReferenceSequence() {
        // SplitMix64 seeded with 1234567 (Vigna's splitmix64.c).
        var g = SplitMixGenerator(seed: 1234567)
        #expect([g.next(), g.next(), g.next()] == [6457827717110365317, 3203168211198807973, 9817491932198370423])
    }

    @Test func learnerStateRoundTripsAndContinuesTheSameSequence() throws {
        var a = SeededGenerator(seed: 42)
        for _ in 0..<5 { _ = a.next() }
        var b = try #require(SeededGenerator(state: a.state))
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
        var c = try JSONDecoder().decode(SeededGenerator.self, from: JSONEncoder().encode(a))
        #expect(a.next() == c.next())
        #expect(SeededGenerator(state: [0, 0, 0, 0]) == nil)
        #expect(SeededGenerator(state: [1, 2]) == nil)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(SeededGenerator.self, from: Data("[1,2]".utf8)) }
    }
}
