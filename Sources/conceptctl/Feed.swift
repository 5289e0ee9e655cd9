import ArgumentParser
import Foundation
import Media
import LibAV
import SyntheticVideo
import SyntheticVideoCLI
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

    @Option(help: "Seed of the first round (round r uses seed + r).")
    var seed: UInt64 = 1000

    @Option(help: "Stop after this many rounds (default: run until interrupted).")
    var rounds: Int?

    @OptionGroup(title: "Generated videos")
    var video: GeneratedVideoOptions

    func validate() throws {
        guard every >= 0, every.isFinite else { throw ValidationError("--every must be a non-negative number of seconds") }
        guard (1...64).contains(clips) else { throw ValidationError("--clips must be in 1 ... 64") }
        if let rounds, rounds < 1 { throw ValidationError("--rounds must be at least 1") }
    }

    func run() throws {
        MediaLibrary.routeLibavLogs(to: nil, level: .error)
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Write beside the folder, not in it: a rename within one file system is atomic.
        let staging = (directory as NSString).deletingLastPathComponent + "/.feed-staging-\(getpid())"
        try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: staging) }
        let s = try video.resolvedSize()
        let bs = video.backgroundClasses, ms = video.motionClasses, nuisance = try video.camera.resolved()
        var round = 0
        while rounds.map({ round < $0 }) ?? true {
            var rng = SeededGenerator(seed: seed &+ UInt64(round))
            for i in 0..<clips {
                let b = bs.randomElement(using: &rng)!, m = ms.randomElement(using: &rng)!
                let clip = try SyntheticClip(background: b, motion: m, width: s.width, height: s.height, frames: video.frames, seed: rng.next(), nuisance: nuisance)
                let name = String(format: "feed-r%06d-%02d-%@-%@.mp4", round, i, b.name, m.name)
                try clip.deliver(named: name, to: directory, via: staging, fps: video.fps)
                print("\(directory)/\(name)")
            }
            fflush(nil)
            round += 1
            if rounds.map({ round < $0 }) ?? true { Thread.sleep(forTimeInterval: every) }
        }
    }
}
