import Foundation
import LibAV
import SeededRandom

/// A generated static/dynamic dataset: every (background, motion) pair of the first `B` backgrounds and
/// first `M` motions, `clipsPerPair` clips each (a full factorial design, so neither label predicts the
/// other), encoded as video files under `train/` and `test/` with a `manifest.tsv`.
///
/// ```swift
/// let summary = try SyntheticDataset.generate(
///     directory: "/tmp/data", backgrounds: 6, motions: 6, clipsPerPair: 4,
///     size: .init(width: 64, height: 64), frames: 24, seed: 1)
/// ```
public enum SyntheticDataset {
    /// A frame size, parsed from `WxH` (or `N` for a square).
    public struct Size: Sendable, Hashable, CustomStringConvertible {
        /// Width in pixels.
        public var width: Int
        /// Height in pixels.
        public var height: Int

        /// A size.
        public init(width: Int, height: Int) {
            self.width = width
            self.height = height
        }

        /// Parses `64x48` or `64` (square). Throws `.invalidOptions` on anything else; ranges are checked
        /// by `generate`.
        public init(parsing text: String) throws {
            let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let w = Int(parts[0]), let h = Int(parts.last!) else {
                throw MediaError(.invalidOptions, "size '\(text)' must be WxH (e.g. 64x64) or N")
            }
            self.init(width: w, height: h)
        }

        public var description: String { "\(width)x\(height)" }
    }

    /// One planned clip: its file, split and the clip itself (labels and seed).
    public struct Item: Sendable, Hashable {
        /// The video file, relative to the dataset folder.
        public var path: String
        /// Train or test.
        public var split: SyntheticManifest.Split
        /// The clip (labels, size, frame count, seed).
        public var clip: SyntheticClip
        /// The clip's index among the clips of its (background, motion) pair.
        public var index: Int

        /// The manifest row for this item.
        public var entry: SyntheticManifest.Entry {
            SyntheticManifest.Entry(path: path, background: clip.background.name, motion: clip.motion.name, split: split)
        }
    }

    /// What `generate` wrote.
    public struct Summary: Sendable {
        /// The dataset folder.
        public var directory: String
        /// The manifest's full path.
        public var manifestPath: String
        /// Every clip, in manifest order.
        public var items: [Item]
        /// The codec's short name (`h264`, `mpeg4`).
        public var codec: String
        /// Frames per second of every video.
        public var fps: Double
        /// Bytes of video written.
        public var bytes: Int
        /// Wall time of the whole generation, in seconds.
        public var seconds: Double

        /// The manifest of `items`.
        public var manifest: SyntheticManifest { SyntheticManifest(entries: items.map(\.entry)) }
        /// Clips in the train split.
        public var trainCount: Int { items.count { $0.split == .train } }
        /// Clips in the test split.
        public var testCount: Int { items.count { $0.split == .test } }
    }

    /// Most clips one dataset may hold.
    public static let maxClips = 100_000
    /// Frame rates `generate` accepts.
    public static let fpsRange = 0.1...240.0

    /// The clips `generate` writes for these arguments, in manifest order, without rendering anything.
    /// Clip `(b, m, i)` gets a seed derived from `(seed, b, m, i)` alone, so a larger dataset with the same
    /// seed contains the smaller one's clips. In each pair, `round(clipsPerPair * testFraction)` clips,
    /// chosen at random, go to the test split. Throws `.invalidOptions` for out-of-range arguments.
    public static func plan(backgrounds: Int, motions: Int, clipsPerPair: Int, size: Size, frames: Int, seed: UInt64,
                            testFraction: Double = 0.25, nuisance: SyntheticNuisance = .none) throws -> [Item]
    {
        let nm = SyntheticMotion.allCases.count
        guard (1...nm).contains(motions) else {
            throw MediaError(.invalidOptions, "motions must be in 1 ... \(nm) (the patterns there are), got \(motions)")
        }
        return try plan(backgrounds: backgrounds, motionKinds: Array(SyntheticMotion.allCases.prefix(motions)),
                        clipsPerPair: clipsPerPair, size: size, frames: frames, seed: seed, testFraction: testFraction,
                        nuisance: nuisance)
    }

    /// `plan` with the motion classes named rather than counted (e.g. `[.translateRight, .translateLeft]`, whose
    /// labels no single frame tells apart). Each must appear once. A clip's seed still depends on its motion's
    /// raw value, so a clip is the same whichever list it was planned from.
    public static func plan(backgrounds: Int, motionKinds: [SyntheticMotion], clipsPerPair: Int, size: Size, frames: Int,
                            seed: UInt64, testFraction: Double = 0.25, nuisance: SyntheticNuisance = .none) throws -> [Item]
    {
        func check(_ ok: Bool, _ message: String) throws {
            if !ok { throw MediaError(.invalidOptions, message) }
        }
        let nb = SyntheticBackground.allCases.count
        let motions = motionKinds.count
        try check((1...nb).contains(backgrounds), "backgrounds must be in 1 ... \(nb) (the patterns there are), got \(backgrounds)")
        try check(motions >= 1, "at least one motion is needed")
        try check(Set(motionKinds).count == motions, "motions must not repeat, got \(motionKinds.map(\.name))")
        try check(clipsPerPair >= 1, "clips per pair must be at least 1, got \(clipsPerPair)")
        try check(clipsPerPair <= maxClips / (backgrounds * motions),
                  "\(backgrounds) x \(motions) x \(clipsPerPair) clips is more than the \(maxClips) allowed")
        try SyntheticClip.validate(width: size.width, height: size.height, frames: frames)
        try check(testFraction.isFinite && testFraction >= 0 && testFraction < 1,
                  "test fraction must be in [0, 1), got \(testFraction)")
        let testPerPair = Int((Double(clipsPerPair) * testFraction).rounded())
        try check(testFraction == 0 || testPerPair > 0,
                  "test fraction \(testFraction) of \(clipsPerPair) clips per pair rounds to no test clip; use more clips per pair or test fraction 0")
        try check(testPerPair < clipsPerPair,
                  "test fraction \(testFraction) of \(clipsPerPair) clips per pair leaves no training clip")
        let digits = max(3, String(clipsPerPair - 1).count)
        var items: [Item] = []
        items.reserveCapacity(backgrounds * motions * clipsPerPair)
        for b in SyntheticBackground.allCases.prefix(backgrounds) {
            for m in motionKinds {
                // Which clips of the pair are test clips: a seeded shuffle of the indices.
                var order = Array(0..<clipsPerPair)
                var splitRNG = SeededGenerator.derived(seed, 2, UInt64(b.rawValue), UInt64(m.rawValue))
                for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, splitRNG.integer(below: i + 1)) }
                let test = Set(order.prefix(testPerPair))
                for i in 0..<clipsPerPair {
                    var seedRNG = SeededGenerator.derived(seed, 1, UInt64(b.rawValue), UInt64(m.rawValue), UInt64(i))
                    let clipSeed = seedRNG.next()
                    let clip = try SyntheticClip(background: b, motion: m, width: size.width, height: size.height,
                                                 frames: frames, seed: clipSeed, nuisance: nuisance)
                    let split: SyntheticManifest.Split = test.contains(i) ? .test : .train
                    let number = String(i)
                    let padded = String(repeating: "0", count: max(0, digits - number.count)) + number
                    items.append(Item(path: "\(split.rawValue)/\(b.name)_\(m.name)_\(padded).mp4", split: split,
                                      clip: clip, index: i))
                }
            }
        }
        return items
    }
}
