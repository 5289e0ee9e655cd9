import Foundation
import Learner
import Media
import Synchronization
import SyntheticVideo
import SeededRandom

/// A thread that keeps renaming new videos into the benchmark's watch folder, as a camera that uploads recordings.
protocol StreamFeeding: AnyObject {
    /// Writes what goes in before training and starts the thread.
    func start() throws
    /// Stops the thread and waits for it.
    func stop()
    /// Why the feeder stopped early, if it did.
    var error: (any Error)? { get }
    /// One line on what went through the folder.
    func summary(clipsSeen: Int) -> String
    /// The thread that writes the rounds (its pace, its counters).
    var thread: FeederThread { get }
    /// Videos renamed into the watch folder before training (`start()`).
    var initialFiles: Int { get }
}

extension StreamFeeding {
    /// Videos renamed into the watch folder so far, the initial ones included.
    var filesDelivered: Int { initialFiles + thread.state.withLock { $0.written } }
}

/// When a feeder thread writes its next round.
enum StreamPace: Equatable {
    /// Every so many seconds (the daemon's situation: a camera uploads on its own clock).
    case seconds(Double)
    /// When the training loop asks for it (`FeederThread.request()`), so that what the learner sees depends on the
    /// step count alone.
    case onRequest
    /// No rounds after the initial videos.
    case never
}

/// What a feeder thread counts and how it is stopped.
final class FeederThread: Sendable {
    struct State { var stopping = false, written = 0, rounds = 0, requested = 0, error: (any Error)? }
    let state = Mutex(State())
    let pace: StreamPace
    private let done = DispatchSemaphore(value: 0)
    private let started = Mutex(false)

    init(pace: StreamPace) { self.pace = pace }

    /// Runs `round(r)` for r = 0, 1, … on a thread named `name` until stopped or it throws: every `seconds` when paced
    /// by time, else each time `request()` allows one more. Nothing starts when the pace is `.never`.
    func start(name: String, round: @escaping @Sendable (Int) throws -> Int) {
        guard pace != .never else { return }
        started.withLock { $0 = true }
        let thread = Thread { [self] in
            defer { done.signal() }
            var r = 0
            while true {
                if case .onRequest = pace {
                    // Wait for a request (or the stop).
                    while !state.withLock({ $0.stopping || $0.requested > r }) { Thread.sleep(forTimeInterval: 0.005) }
                }
                if state.withLock({ $0.stopping }) { return }
                do {
                    let n = try round(r)
                    state.withLock { $0.written += n; $0.rounds = r + 1 }
                } catch {
                    state.withLock { $0.error = error }
                    return
                }
                r += 1
                if case .seconds(let every) = pace {
                    let until = Date().addingTimeInterval(every)
                    while Date() < until, !state.withLock({ $0.stopping }) { Thread.sleep(forTimeInterval: 0.1) }
                }
            }
        }
        thread.name = name
        thread.start()
    }

    /// Allows one more round (`.onRequest` pace).
    func request() { state.withLock { $0.requested += 1 } }

    /// Rounds written so far.
    var rounds: Int { state.withLock { $0.rounds } }

    func stop() {
        state.withLock { $0.stopping = true }
        if started.withLock({ $0 }) { done.wait() }
    }

    /// The pace in words, for the summary lines.
    var paceText: String {
        switch pace {
        case .seconds(let s): "one every \(String(format: "%.0f", s)) s"
        case .onRequest: "one every so many steps"
        case .never: "none"
        }
    }
}

/// The synthetic stream: `initialPerPair` videos per (background, motion) pair before training, then a round of one
/// new video per pair at the thread's pace (new seeds).
final class SyntheticStreamFeeder: StreamFeeding {
    let directory: String, staging: String
    let backgrounds: Int, motions: Int, initialPerPair: Int, size: SyntheticDataset.Size, frames: Int, fps: Double
    let nuisance: SyntheticNuisance, seed: UInt64
    let thread: FeederThread
    private(set) var initialFiles = 0

    init(directory: String, staging: String, backgrounds: Int, motions: Int, initialPerPair: Int, size: SyntheticDataset.Size,
         frames: Int, fps: Double, nuisance: SyntheticNuisance, seed: UInt64, pace: StreamPace) throws {
        (self.directory, self.staging, self.backgrounds, self.motions) = (directory, staging, backgrounds, motions)
        (self.initialPerPair, self.size, self.frames, self.fps) = (initialPerPair, size, frames, fps)
        (self.nuisance, self.seed, self.thread) = (nuisance, seed, FeederThread(pace: pace))
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
    }

    func start() throws {
        let items = try SyntheticDataset.plan(backgrounds: backgrounds, motions: motions, clipsPerPair: initialPerPair, size: size,
                                              frames: frames, seed: seed, testFraction: 0, nuisance: nuisance)
        for (i, item) in items.enumerated() {
            try item.clip.deliver(named: String(format: "initial-%06d.mp4", i), to: directory, via: staging, fps: fps)
        }
        initialFiles = items.count
        let (directory, staging, size, frames, fps, nuisance, seed) = (directory, staging, size, frames, fps, nuisance, seed)
        let bs = Array(SyntheticBackground.allCases.prefix(backgrounds)), ms = Array(SyntheticMotion.allCases.prefix(motions))
        thread.start(name: "bench-stream") { round in
            var rng = SeededGenerator(seed: seed &+ 1 &+ UInt64(round))
            for b in bs {
                for m in ms {
                    let clip = try SyntheticClip(background: b, motion: m, width: size.width, height: size.height, frames: frames,
                                                 seed: rng.next(), nuisance: nuisance)
                    try clip.deliver(named: String(format: "fresh-r%06d-%@-%@.mp4", round, b.name, m.name), to: directory,
                                     via: staging, fps: fps)
                }
            }
            return bs.count * ms.count
        }
    }

    func stop() { thread.stop() }
    var error: (any Error)? { thread.state.withLock { $0.error } }

    func summary(clipsSeen: Int) -> String {
        let s = thread.state.withLock { ($0.written, $0.rounds) }
        return "stream: \(initialFiles) initial generated videos + \(s.0) fresh ones (\(s.1) rounds, \(thread.paceText)); \(clipsSeen) clips seen"
    }
}

/// The real stream: 3-second segments cut once from each training video (at the clip rate, the short side at the clip
/// side, centre crop), of which `segmentsPerRound` chosen at random are encoded and renamed into the watch folder at
/// the thread's pace, over and over.
final class RealSegmentFeeder: StreamFeeding {
    static let segmentsPerRound = 6
    /// Segments cut per second of video (at least one per video).
    static let segmentsPerSecond = 0.25
    let directory: String, staging: String, fps: Double, seed: UInt64
    let side: Int
    let thread: FeederThread
    let initialFiles = 0
    /// Every segment: RGB bytes, frame after frame.
    private let segments: [(name: String, frames: Int, pixels: [UInt8])]

    var segmentCount: Int { segments.count }

    init(directory: String, staging: String, videos: [String], side: Int, fps: Double, seconds: Double, seed: UInt64,
         pace: StreamPace) throws {
        (self.directory, self.staging, self.side, self.fps, self.seed) = (directory, staging, side, fps, seed)
        thread = FeederThread(pace: pace)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let frames = Swift.max(2, Int((seconds * fps).rounded()))
        let options = ProbeClipOptions(frames: frames, height: side, width: side, fps: fps)
        var cut: [(String, Int, [UInt8])] = []
        for path in videos {
            let duration = (try? VideoProbe.probe("file:" + path))?.duration ?? seconds
            let count = Swift.max(1, Int((duration.isFinite ? duration : seconds) * Self.segmentsPerSecond))
            let positions = (0..<count).map { (Double($0) + 0.5) / Double(count) }
            let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            for (i, clip) in try ProbeClipReader.read(path: path, options: options, positions: positions).enumerated() {
                cut.append(("\(name)-\(i)", frames, Self.bytes(clip.data, frames: frames, side: side)))
            }
        }
        segments = cut
    }

    /// Normalised `3 x F x H x W` floats back to packed RGB bytes, frame after frame.
    static func bytes(_ data: [Float], frames: Int, side: Int) -> [UInt8] {
        let plane = side * side
        var out = [UInt8](repeating: 0, count: frames * plane * 3)
        for c in 0..<3 {
            let mean = Normalization.mean[c], std = Normalization.std[c]
            for f in 0..<frames {
                for p in 0..<plane {
                    let v = (data[(c * frames + f) * plane + p] * std + mean) * 255
                    out[(f * plane + p) * 3 + c] = UInt8(Swift.min(255, Swift.max(0, v.rounded())))
                }
            }
        }
        return out
    }

    func start() throws {
        let segments = segments, (directory, staging, side, fps, seed) = (directory, staging, side, fps, seed)
        thread.start(name: "bench-real-stream") { round in
            var rng = SeededGenerator(seed: seed &+ UInt64(round))
            let n = Swift.min(Self.segmentsPerRound, segments.count)
            for k in 0..<n {
                let s = segments[Int(rng.next() % UInt64(segments.count))]
                let name = String(format: "r%06d-%d-%@.mp4", round, k, s.name)
                let writer = try VideoWriter(path: staging + "/" + name, width: side, height: side, fps: fps)
                let frameBytes = side * side * 3
                for f in 0..<s.frames { try writer.write(rgb: s.pixels[(f * frameBytes)..<((f + 1) * frameBytes)]) }
                try writer.finish()
                try FileManager.default.moveItem(atPath: staging + "/" + name, toPath: directory + "/" + name)
            }
            return n
        }
    }

    func stop() { thread.stop() }
    var error: (any Error)? { thread.state.withLock { $0.error } }

    func summary(clipsSeen: Int) -> String {
        let s = thread.state.withLock { ($0.written, $0.rounds) }
        return "real stream: \(s.0) segments renamed into the watch folder (\(s.1) rounds of \(Self.segmentsPerRound), \(thread.paceText)) from \(segments.count) cut; \(clipsSeen) clips seen"
    }
}

/// Moves clips from the media queue into the replay buffer on its own thread (what the daemon's ingest service does).
/// A holding feeder keeps them aside instead, in arrival order, until `release()` moves them in: the training loop
/// then decides at which step the clips of a round enter the buffer.
final class Feeder: Sendable {
    let queue: ClipQueue
    let replay: ReplayBuffer
    let holding: Bool
    private struct Held { var clips: [ReplayClip] = [], received = 0 }
    private let held = Mutex(Held())
    private let done = DispatchSemaphore(value: 0)

    init(queue: ClipQueue, replay: ReplayBuffer, holding: Bool = false) {
        self.queue = queue
        self.replay = replay
        self.holding = holding
    }

    /// Clips taken from the queue so far.
    var received: Int { held.withLock { $0.received } }

    func start() {
        let thread = Thread { [self] in
            while true {
                if let clip = queue.pop(timeout: 0.2) {
                    let item = ReplayClip(data: clip.data, staticIndex: clip.staticIndex, source: clip.source)
                    if holding {
                        held.withLock { $0.clips.append(item); $0.received += 1 }
                    } else {
                        replay.add(item)
                        held.withLock { $0.received += 1 }
                    }
                } else if queue.isClosed {
                    break
                }
            }
            done.signal()
        }
        thread.name = "bench-feeder"
        thread.start()
    }

    /// Moves the held clips into the replay buffer, oldest first.
    func release() {
        let clips = held.withLock { h in defer { h.clips.removeAll() }; return h.clips }
        for c in clips { replay.add(c) }
    }

    func join() { done.wait() }
}
