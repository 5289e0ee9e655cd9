import ArgumentParser
import Foundation
import Media
import LibAV
import SyntheticVideo
import SyntheticVideoCLI

/// `conceptctl make-dataset DIR --backgrounds 6 --motions 6 --clips-per-pair 4 --size 64x64 --frames 24
/// --seed 1`: a synthetic static/dynamic video dataset with a manifest.
struct MakeDataset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-dataset",
        abstract: "Generate synthetic videos labelled by background scene and foreground motion.",
        discussion: """
            Every (background, motion) pair of the first B backgrounds and first M motions gets the same number \
            of clips, so neither label predicts the other. Writes DIR/train/*.mp4, DIR/test/*.mp4 and \
            DIR/manifest.tsv (path, background, motion, split).
            Backgrounds: \(SyntheticBackground.allCases.map(\.name).joined(separator: ", ")).
            Motions: \(SyntheticMotion.allCases.map(\.name).joined(separator: ", ")).
            """)

    @Argument(help: "Output folder (created when missing).")
    var directory: String

    @OptionGroup(title: "Generated videos")
    var video: GeneratedVideoOptions

    @Option(help: "Clips per (background, motion) pair.")
    var clipsPerPair: Int

    @Option(help: "Random seed: the same arguments give byte-identical files.")
    var seed: UInt64

    @Option(help: "Share of each pair's clips in the test split, in [0, 1).")
    var testFraction: Double = 0.25

    @Option(help: "Encoder: auto (H.264 via libx264 when present, else mpeg4), h264 or mpeg4.")
    var codec: VideoWriter.Codec = .automatic

    @Option(help: "Clips encoded in parallel (0: one per core).")
    var threads: Int = 0

    @Flag(help: "Replace a dataset already in DIR (its manifest and train/test videos).")
    var overwrite = false

    func validate() throws {
        guard threads >= 0 else { throw ValidationError("--threads must be at least 0, got \(threads)") }
        // The library's own checks (counts, size, frames, split), reported with this command's usage.
        do {
            _ = try SyntheticDataset.plan(
                backgrounds: video.backgrounds, motions: video.motions, clipsPerPair: clipsPerPair,
                size: try video.resolvedSize(), frames: video.frames, seed: seed, testFraction: testFraction)
        } catch let error as MediaError {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        MediaLibrary.routeLibavLogs(to: nil, level: .error)
        let summary = try SyntheticDataset.generate(
            directory: directory, backgrounds: video.backgrounds, motions: video.motions, clipsPerPair: clipsPerPair,
            size: try video.resolvedSize(), frames: video.frames, fps: video.fps, seed: seed,
            testFraction: testFraction, codec: codec, overwrite: overwrite,
            threads: threads, nuisance: try video.camera.resolved())
        let megabytes = Double(summary.bytes) / 1_000_000
        print("""
            wrote \(summary.items.count) clips (\(summary.trainCount) train, \(summary.testCount) test): \
            \(video.backgrounds) backgrounds x \(video.motions) motions x \(clipsPerPair), \(try video.resolvedSize()) x \(video.frames) frames at \
            \(video.fps) fps, nuisances \(try video.camera.resolved()), \(summary.codec), \(String(format: "%.2f", megabytes)) MB in \
            \(String(format: "%.2f", summary.seconds)) s
            manifest: \(summary.manifestPath)
            """)
    }
}

extension VideoWriter.Codec: ExpressibleByArgument {}
