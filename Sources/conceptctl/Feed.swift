import ArgumentParser
import Foundation
import Media
import LibAV
import SyntheticVideo
import SeededRandom

/// `conceptctl feed DIR`: keeps dropping freshly generated synthetic clips into a watch folder, the way a camera
/// uploads recordings (the embedded demo's feeder).
struct Feed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed",
        abstract: "Drop newly generated synthetic clips into a watch folder at a steady pace.",
        discussion: """
            Every --every seconds, renders --clips new clips (random background and motion of the first B and M \
            patterns, a new seed each) next to DIR and renames them in, so the watcher never sees a half-written \
            file. Runs until interrupted, or for --rounds rounds.
            """)

    @Argument(help: "The watch folder (created when missing).")
    var directory: String

    @Option(help: "Seconds between rounds.")
    var every: Double = 5

    @Option(help: "Clips per round.")
    var clips: Int = 2

    @Option(help: "Background patterns to draw from (the first B).")
    var backgrounds: Int = 4

    @Option(help: "Motion patterns to draw from (the first M).")
    var motions: Int = 4

    @Option(help: "Frame size WxH or N.")
    var size: String = "96x96"

    @Option(help: "Frames per clip.")
    var frames: Int = 48

    @Option(help: "Frame rate of the clips.")
    var fps: Double = 16

    @Option(help: "Seed of the first round (round r uses seed + r).")
    var seed: UInt64 = 1000

    @Option(help: "Stop after this many rounds (default: run until interrupted).")
    var rounds: Int?

    func validate() throws {
        guard every >= 0, every.isFinite else { throw ValidationError("--every must be a non-negative number of seconds") }
        guard (1...64).contains(clips) else { throw ValidationError("--clips must be in 1 ... 64") }
        guard (1...SyntheticBackground.allCases.count).contains(backgrounds) else {
            throw ValidationError("--backgrounds must be in 1 ... \(SyntheticBackground.allCases.count)")
        }
        guard (1...SyntheticMotion.allCases.count).contains(motions) else {
            throw ValidationError("--motions must be in 1 ... \(SyntheticMotion.allCases.count)")
        }
        guard SyntheticDataset.fpsRange.contains(fps) else { throw ValidationError("--fps must be in \(SyntheticDataset.fpsRange)") }
        if let rounds, rounds < 1 { throw ValidationError("--rounds must be at least 1") }
        do {
            let s = try SyntheticDataset.Size(parsing: size)
            try SyntheticClip.validate(width: s.width, height: s.height, frames: frames)
        } catch let error as MediaError { throw ValidationError(error.message) }
    }

    func run() throws {
        MediaLibrary.routeLibavLogs(to: nil, level: .error)
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Write beside the folder, not in it: a rename within one file system is atomic.
        let staging = (directory as NSString).deletingLastPathComponent + "/.feed-staging-\(getpid())"
        try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: staging) }
        let s = try SyntheticDataset.Size(parsing: size)
        let bs = Array(SyntheticBackground.allCases.prefix(backgrounds)), ms = Array(SyntheticMotion.allCases.prefix(motions))
        var round = 0
        while rounds.map({ round < $0 }) ?? true {
            var rng = SplitMixGenerator(seed: seed &+ UInt64(round))
            for i in 0..<clips {
                let b = bs.randomElement(using: &rng)!, m = ms.randomElement(using: &rng)!
                let clip = try SyntheticClip(background: b, motion: m, width: s.width, height: s.height, frames: frames, seed: rng.next())
                let name = String(format: "feed-r%06d-%02d-%@-%@.mp4", round, i, b.name, m.name)
                try clip.deliver(named: name, to: directory, via: staging, fps: fps)
                print("\(directory)/\(name)")
            }
            fflush(nil)
            round += 1
            if rounds.map({ round < $0 }) ?? true { Thread.sleep(forTimeInterval: every) }
        }
    }
}
