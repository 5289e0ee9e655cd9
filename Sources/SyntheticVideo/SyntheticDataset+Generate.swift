import Foundation
import Synchronization
import LibAV

extension SyntheticDataset {
    /// Renders and encodes the clips `plan` lists into `directory` (created when missing), then writes
    /// `manifest.tsv` last (atomically): a folder with a manifest is complete. Blocks the calling thread
    /// (and `threads` workers) until done; from async code, call it off the cooperative pool.
    ///
    /// - Parameters:
    ///   - backgrounds: how many background classes, the first of `SyntheticBackground.allCases`.
    ///   - motions: how many motion classes, the first of `SyntheticMotion.allCases`.
    ///   - clipsPerPair: clips per (background, motion) pair.
    ///   - size: frame size, both sides even and at least 16.
    ///   - frames: frames per clip.
    ///   - fps: frame rate of the videos (16 by default, the learner's default sampling rate, so every
    ///     frame is sampled once).
    ///   - seed: fixes every pixel: the same arguments give byte-identical files.
    ///   - testFraction: share of each pair's clips in the test split.
    ///   - codec: H.264 (libx264) when present by default, else MPEG-4 Part 2.
    ///   - overwrite: replace a dataset already in `directory` (its manifest and the videos in its `train/`
    ///     and `test/` folders; nothing else is touched). Without it such a folder is an error.
    ///   - threads: clips encoded in parallel (0: one per core).
    ///   - nuisance: camera nuisances over every clip (none by default).
    /// - Throws: `.invalidOptions` for bad arguments (before anything is written), `.fileSystem` for an
    ///   existing dataset or an unwritable folder, `.encoderUnavailable` for a missing codec. Videos of a
    ///   failed run are removed.
    public static func generate(
        directory: String, backgrounds: Int, motions: Int, clipsPerPair: Int, size: Size, frames: Int,
        fps: Double = 16, seed: UInt64, testFraction: Double = 0.25, codec: VideoWriter.Codec = .automatic,
        overwrite: Bool = false, threads: Int = 0, nuisance: SyntheticNuisance = .none
    ) throws -> Summary {
        let items = try plan(backgrounds: backgrounds, motions: motions, clipsPerPair: clipsPerPair, size: size,
                             frames: frames, seed: seed, testFraction: testFraction, nuisance: nuisance)
        return try generate(directory: directory, items: items, fps: fps, codec: codec, overwrite: overwrite, threads: threads)
    }

    /// `generate` with the motion classes named (see `plan(backgrounds:motionKinds:...)`).
    public static func generate(
        directory: String, backgrounds: Int, motionKinds: [SyntheticMotion], clipsPerPair: Int, size: Size, frames: Int,
        fps: Double = 16, seed: UInt64, testFraction: Double = 0.25, codec: VideoWriter.Codec = .automatic,
        overwrite: Bool = false, threads: Int = 0, nuisance: SyntheticNuisance = .none
    ) throws -> Summary {
        let items = try plan(backgrounds: backgrounds, motionKinds: motionKinds, clipsPerPair: clipsPerPair, size: size,
                             frames: frames, seed: seed, testFraction: testFraction, nuisance: nuisance)
        return try generate(directory: directory, items: items, fps: fps, codec: codec, overwrite: overwrite, threads: threads)
    }

    /// Renders and encodes planned `items`.
    package static func generate(directory: String, items: [Item], fps: Double, codec: VideoWriter.Codec, overwrite: Bool,
                         threads: Int) throws -> Summary {
        let start = Date()
        guard fpsRange.contains(fps) else {
            throw MediaError(.invalidOptions, "fps must be in \(fpsRange.lowerBound) ... \(fpsRange.upperBound), got \(fps)")
        }
        guard threads >= 0 else { throw MediaError(.invalidOptions, "threads must be at least 0, got \(threads)") }
        let options = VideoWriter.Options(codec: codec)
        _ = try VideoWriter.findEncoder(codec)
        try prepare(directory: directory, overwrite: overwrite)

        let workers = min(items.count, threads > 0 ? threads : max(1, ProcessInfo.processInfo.activeProcessorCount))
        let next = Atomic<Int>(0)
        let outcome = Mutex<(bytes: [Int], codec: String?, error: (any Error)?)>(
            (bytes: [Int](repeating: 0, count: items.count), codec: nil, error: nil))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while outcome.withLock({ $0.error == nil }) {
                let i = next.add(1, ordering: .relaxed).oldValue
                guard i < items.count else { return }
                let path = directory + "/" + items[i].path
                do {
                    let codecName = try items[i].clip.write(to: path, fps: fps, options: options)
                    let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
                    outcome.withLock {
                        $0.bytes[i] = size
                        $0.codec = codecName
                    }
                } catch {
                    outcome.withLock { if $0.error == nil { $0.error = error } }
                }
            }
        }
        let (bytes, codecName, failure) = outcome.withLock { ($0.bytes, $0.codec, $0.error) }
        if let failure {
            for item in items { try? FileManager.default.removeItem(atPath: directory + "/" + item.path) }
            throw failure
        }
        let manifestPath = directory + "/" + SyntheticManifest.fileName
        try SyntheticManifest(entries: items.map(\.entry)).write(to: manifestPath)
        return Summary(directory: directory, manifestPath: manifestPath, items: items, codec: codecName ?? "?",
                       fps: fps, bytes: bytes.reduce(0, +), seconds: Date().timeIntervalSince(start))
    }

    /// Creates `directory/train` and `directory/test`; refuses (or with `overwrite` clears) an existing
    /// dataset.
    private static func prepare(directory: String, overwrite: Bool) throws {
        let fm = FileManager.default
        let manifest = directory + "/" + SyntheticManifest.fileName
        func videos(in split: SyntheticManifest.Split) -> [String] {
            let folder = directory + "/" + split.rawValue
            return ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".mp4") }
                .map { folder + "/" + $0 }
        }
        let existing = SyntheticManifest.Split.allCases.flatMap(videos(in:))
        if fm.fileExists(atPath: manifest) || !existing.isEmpty {
            guard overwrite else {
                throw MediaError(.fileSystem,
                                 "'\(directory)' already holds a dataset (manifest.tsv or train/test videos); overwrite it explicitly or pick another folder")
            }
            do {
                if fm.fileExists(atPath: manifest) { try fm.removeItem(atPath: manifest) }
                for file in existing { try fm.removeItem(atPath: file) }
            } catch {
                throw MediaError(.fileSystem, "cannot clear the dataset in '\(directory)'", cause: MediaError.Underlying(error))
            }
        }
        do {
            for split in SyntheticManifest.Split.allCases {
                try fm.createDirectory(atPath: directory + "/" + split.rawValue, withIntermediateDirectories: true)
            }
        } catch {
            throw MediaError(.fileSystem, "cannot create the dataset folders in '\(directory)'",
                             cause: MediaError.Underlying(error))
        }
    }
}
