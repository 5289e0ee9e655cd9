import Dispatch
import Foundation
import Synchronization
import Media

/// How probe clips are cut from a video: `frames` (`T + 1`) consecutive frames sampled at `fps`, the frame resized so
/// its short side is `max(height, width)`, centre-cropped to `height x width`, and normalised with the training
/// statistics (`Media.Normalization`). Nothing is random: the same video always gives the same clips.
public struct ProbeClipOptions: Sendable, Equatable, Hashable, Codable {
    /// Frames per clip, `T + 1`.
    public var frames: Int
    /// Clip height.
    public var height: Int
    /// Clip width.
    public var width: Int
    /// Sampling rate in frames per second (the daemon's default clip rate is 16).
    public var fps: Double

    /// Options for clips of `frames x height x width` at `fps`.
    public init(frames: Int, height: Int, width: Int, fps: Double = 16) {
        self.frames = frames
        self.height = height
        self.width = width
        self.fps = fps
    }

    /// Clip length in seconds.
    public var seconds: Double { Double(frames) / fps }

    /// The media layer's clip options: centre crop, no flip, a clip starting every `stride` sampled frames.
    func clipOptions(stride: Int) -> ClipOptions {
        ClipOptions(frames: frames, height: height, width: width, shortSide: Swift.max(height, width), fps: fps,
                    stride: stride, crop: .center, randomFlip: false, seed: 0, padShortInputs: true)
    }

    /// Throws `ProbeError.invalidOptions` for values the media layer refuses.
    public func validate() throws {
        do { try clipOptions(stride: 1).validate() } catch {
            throw ProbeError.invalidOptions("probe clips: \(error)")
        }
    }
}

/// One decoded probe clip.
public struct ProbeClip: Sendable, Equatable {
    /// `3 x frames x height x width` normalised floats.
    public var data: [Float]
    /// Seconds from the first sampled frame to the clip's first frame.
    public var start: Double
    /// The requested position (share of the video's duration at the clip's centre).
    public var position: Double
}

/// Cuts probe clips from video files with the media layer's decoder and clip builder (`MediaSource` on a `file:`
/// source), so probe clips are made exactly like training clips, minus the random crop, flip and static frame.
public enum ProbeClipReader {
    /// Decodes `path` once and returns one clip per entry of `positions` (each a share of the video's duration in
    /// [0, 1], where the clip's centre should fall; 0.5 is the middle). A clip starts every `max(1, frames / 4)`
    /// sampled frames, and for each position the one whose start is nearest the ideal start is kept. When the
    /// container does not state a duration, the video is decoded twice (once to count its clips).
    public static func read(path: String, options: ProbeClipOptions, positions: [Double] = [0.5]) throws -> [ProbeClip] {
        try options.validate()
        guard !positions.isEmpty, positions.allSatisfy({ (0...1).contains($0) }) else {
            throw ProbeError.invalidOptions("clip positions must be shares of the duration in [0, 1], got \(positions)")
        }
        guard ProbeSet.isRegularFile(path) else { throw ProbeError.missingFile(path, manifest: nil, line: nil) }
        let stride = Swift.max(1, options.frames / 4)
        let duration: Double
        if let d = (try? VideoProbe.probe("file:" + path))?.duration, d.isFinite, d > 0 {
            duration = d
        } else {
            // No stated duration: one pass to find when the last clip starts.
            var last = 0.0
            try decode(path: path, options: options, stride: stride) { start, _ in last = start; return false }
            duration = last + options.seconds
        }
        let ideal = positions.map { p in Swift.min(Swift.max(0, p * duration - options.seconds / 2), Swift.max(0, duration - options.seconds)) }
        var best = [ProbeClip?](repeating: nil, count: positions.count)
        try decode(path: path, options: options, stride: stride) { start, clip in
            var wanted = false
            for (i, target) in ideal.enumerated() {
                if let b = best[i], Swift.abs(b.start - target) <= Swift.abs(start - target) { continue }
                best[i] = ProbeClip(data: clip().data, start: start, position: positions[i])
                wanted = true
            }
            return wanted
        }
        guard best.allSatisfy({ $0 != nil }) else { throw ProbeError.decode("no clip could be cut from it", file: path) }
        return best.map { $0! }
    }

    /// Decodes `path`, calling `body(start, clip)` for every clip in order (`start` relative to the first clip;
    /// `clip()` gives the clip itself). Throws `ProbeError.decode` when the file cannot be opened or decoded.
    static func decode(path: String, options: ProbeClipOptions, stride: Int,
                       _ body: (Double, () -> Clip) throws -> Bool) throws {
        var source = SourceOptions(clip: options.clipOptions(stride: stride), decoderThreads: 1)
        source.logger.logLevel = .critical
        // The queue is this file's alone: closed when the source ends, the last pop returns at once (polling
        // `isFinished` every 50 ms cost a wait per video: 40 s of 1536 small probe videos on two cores).
        source.closesQueueWhenFinished = true
        let queue = ClipQueue(capacity: 8)
        let media: MediaSource
        do { media = try MediaSource(uri: "file:" + path, name: path, options: source, queue: queue) } catch {
            throw ProbeError.decode("cannot open it", file: path, cause: ProbeUnderlying(error))
        }
        media.start()
        defer {
            media.stop()
            _ = media.join(timeout: 10)
        }
        var first: Double? = nil
        var count = 0
        func take(_ clip: Clip) throws {
            let t0 = first ?? clip.startTime
            first = t0
            count += 1
            _ = try body(clip.startTime - t0, { clip })
        }
        while true {
            if let clip = queue.pop(timeout: 1) {
                try take(clip)
            } else if media.isFinished {
                while let clip = queue.tryPop() { try take(clip) }
                break
            }
        }
        let stats = media.statistics
        guard stats.state == .finished, count > 0 else {
            let why = stats.lastError ?? (count == 0 ? "no video frame decoded" : "\(stats.state)")
            throw ProbeError.decode("decoding failed: \(why)", file: path)
        }
    }

    /// Reads one clip per video per position, decoding up to `workers` videos at a time (0: one per core).
    /// Result `[v][p]` is video `v`'s clip at `positions[p]`. The first failure is thrown.
    public static func read(paths: [String], options: ProbeClipOptions, positions: [Double] = [0.5],
                            workers: Int = 0) throws -> [[ProbeClip]] {
        try options.validate()
        let count = Swift.min(paths.count, workers > 0 ? workers : Swift.max(1, ProcessInfo.processInfo.activeProcessorCount))
        guard count > 0 else { return [] }
        let box = ResultBox(count: paths.count)
        DispatchQueue.concurrentPerform(iterations: count) { _ in
            while let i = box.next() {
                do { box.set(i, .success(try read(path: paths[i], options: options, positions: positions))) } catch {
                    box.set(i, .failure((error as? any Error & Sendable) ?? ProbeUnderlying(error)))
                }
            }
        }
        return try box.results()
    }

    /// Shared work list and results of the parallel reader.
    private final class ResultBox: Sendable {
        private struct State {
            var cursor = 0
            var failed = false
            var slots: [Result<[ProbeClip], any Error & Sendable>?]
        }
        private let state: Mutex<State>
        init(count: Int) { state = Mutex(State(slots: Array(repeating: nil, count: count))) }
        func next() -> Int? {
            state.withLock { s in
                guard !s.failed, s.cursor < s.slots.count else { return nil }
                s.cursor += 1
                return s.cursor - 1
            }
        }
        func set(_ i: Int, _ r: Result<[ProbeClip], any Error & Sendable>) {
            state.withLock { s in
                if case .failure = r { s.failed = true }
                s.slots[i] = r
            }
        }
        func results() throws -> [[ProbeClip]] {
            let slots = state.withLock { s in s.slots }
            for case .failure(let e)? in slots { throw e }
            return slots.map { (try? $0?.get()) ?? [] }
        }
    }
}
