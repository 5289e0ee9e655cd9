import Foundation
import Logging
import Synchronization
import LibAV
import SeededRandom
import ConceptReports

/// One running input: a file, a watch folder, a network stream or a device, read on its own thread
/// (decoding is blocking C work, so it stays off the Swift cooperative pool) and cut into clips that go
/// into a shared `ClipQueue`. Live sources reconnect with capped exponential backoff over failed attempts (a
/// session that delivered frames is followed by the initial delay); every blocking
/// libav call runs under a deadline; a stopped source interrupts whatever call is in progress.
public final class MediaSource: @unchecked Sendable {
    /// The source's name (clips carry it).
    public let name: String
    /// What it reads.
    public let spec: SourceSpec
    /// How it reads and cuts clips.
    public let options: SourceOptions
    /// Where its clips go.
    public let queue: ClipQueue
    /// The overflow policy in effect.
    public let overflow: OverflowPolicy

    let stats: StatisticsBox
    let deadline = Deadline()
    let logger: Logger
    private let stopFlag = Atomic<Bool>(false)
    private let wake = NSCondition()
    private let lifecycleState = Mutex<(started: Bool, finished: Bool)>((false, false))
    private let finishWaiters = Mutex<[CheckedContinuation<Void, Never>]>([])
    let ledgerBox = Mutex<IngestLedger?>(nil)
    /// The source's id for libav's log lines (see `LibavLogContext`).
    private let logID: Int

    /// A source for `uri` (see `SourceSpec`) that will put clips into `queue`; `name` defaults to the URI.
    /// Throws `.invalidSource` / `.invalidOptions` for what can be checked before starting.
    public init(uri: String, name: String? = nil, options: SourceOptions = SourceOptions(), queue: ClipQueue) throws {
        let spec = try SourceSpec(uri)
        try options.validate()
        self.spec = spec
        self.name = name ?? uri
        self.options = options
        self.queue = queue
        overflow = options.overflow ?? (spec.isLive && !spec.isFolder ? .dropOldest : .wait)
        stats = StatisticsBox(name: self.name, uri: uri)
        logID = LibavLogContext.register(self.name)
        var logger = options.logger
        logger[metadataKey: "source"] = "\(self.name)"
        self.logger = logger
        if case .folder = spec.kind {
            ledgerBox.withLock { $0 = options.watch.ledger ?? IngestLedger() }
        }
    }

    deinit { LibavLogContext.unregister(logID) }

    /// Starts the source's thread (once).
    public func start() {
        let first = lifecycleState.withLock { state -> Bool in
            if state.started { return false }
            state.started = true
            return true
        }
        guard first else { return }
        do {
            try DetachedThread.start(name: "media:\(name)", stackSize: threadStackSize) { [self] in
                LibavLogContext.enter(logID)
                run()
                markFinished()
            }
        } catch {
            // Nothing will ever read: the source fails at once, so no consumer waits for it.
            logger.error("source cannot start", metadata: ["error": "\(error)"])
            stats.update {
                $0.state = .failed
                $0.lastError = "\(error)"
            }
            markFinished()
        }
    }

    /// The stack of the source's thread (libav's demuxers and decoders want more than the default on some codecs).
    var threadStackSize = 4 << 20

    private func markFinished() {
        lifecycleState.withLock { $0.finished = true }
        if options.closesQueueWhenFinished { queue.close() }
        resumeWaiters()
    }

    /// Resumes (and forgets) every `finished()` caller waiting now.
    private func resumeWaiters() {
        let waiters = finishWaiters.withLock { w -> [CheckedContinuation<Void, Never>] in
            defer { w.removeAll() }
            return w
        }
        for w in waiters { w.resume() }
    }

    /// Asks the source to stop: interrupts a blocking libav call, a backoff wait, or a blocked queue push.
    /// Returns at once; `finished()` waits for the thread to end.
    public func stop() {
        stopFlag.store(true, ordering: .relaxed)
        deadline.cancel()
        wake.lock()
        wake.broadcast()
        wake.unlock()
    }

    /// Whether `stop()` was called.
    public var isStopping: Bool { stopFlag.load(ordering: .relaxed) }

    /// Whether the thread has ended (finished, failed or stopped).
    public var isFinished: Bool { lifecycleState.withLock { $0.finished } }

    /// Waits until the source's thread ends (returns at once if it never started).
    public func finished() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = lifecycleState.withLock { !$0.started || $0.finished }
            if done {
                c.resume()
                return
            }
            finishWaiters.withLock { $0.append(c) }
            // The thread may have ended between the check and the append.
            if lifecycleState.withLock({ $0.finished }) { resumeWaiters() }
        }
    }

    /// Blocks the calling thread until the source ends or `timeout` seconds pass; true if it ended.
    public func join(timeout: Double) -> Bool {
        let until = monotonicSeconds() + timeout
        while monotonicSeconds() < until {
            if lifecycleState.withLock({ !$0.started || $0.finished }) { return true }
            usleep(10_000)
        }
        return lifecycleState.withLock { !$0.started || $0.finished }
    }

    /// The source's counters now (clips dropped come from the queue).
    public var statistics: SourceStatistics {
        var s = stats.snapshot
        s.clipsDropped = queue.dropped(source: name)
        return s
    }

    /// For watch folders: the ingested-files ledger now (nil for other sources).
    public var ledger: IngestLedger? { ledgerBox.withLock { $0 } }

    // MARK: - Runner

    /// Seed of the reconnect jitter, derived from the clip seed and the name.
    var lifecycleSeed: UInt64 {
        var g = SeededGenerator(seed: options.clip.seed, name: name)
        return g.next()
    }

    private func run() {
        switch spec.kind {
        case .folder(let path):
            runFolder(path)
        default:
            runStream()
        }
    }

    /// Sleeps up to `seconds`, returning early when stopped.
    func sleep(_ seconds: Double) {
        let until = Date(timeIntervalSinceNow: seconds)
        wake.lock()
        while !isStopping && Date() < until {
            _ = wake.wait(until: until)
        }
        wake.unlock()
    }

    func setState(_ state: SourceState) {
        stats.update { $0.state = state }
    }

    /// libav options for the input: the caller's, plus protocol defaults (RTSP over TCP, socket timeouts)
    /// that the caller did not set. Returns the options and the keys that were defaults.
    func libavOptions() -> (options: [String: String], defaults: Set<String>) {
        var opts = options.libavOptions
        if case .device("video4linux2", _) = spec.kind {
            for (alias, name) in [("size", "video_size"), ("rate", "framerate"), ("format", "input_format")] {
                if let v = opts.removeValue(forKey: alias), opts[name] == nil { opts[name] = v }
            }
        }
        var defaults = Set<String>()
        func setDefault(_ key: String, _ value: String) {
            if opts[key] == nil {
                opts[key] = value
                defaults.insert(key)
            }
        }
        let micros = String(Int64(options.stallSeconds * 1_000_000))
        if spec.isLive && !spec.isFolder {
            // Probe at most half the open deadline, so stream info completes before the deadline cuts it.
            setDefault("analyzeduration", String(Int64(min(5, options.openTimeout / 2) * 1_000_000)))
        }
        if case .network(_, let scheme) = spec.kind {
            switch scheme {
            case "rtsp", "rtsps":
                setDefault("rtsp_transport", "tcp")
                setDefault("timeout", micros)  // FFmpeg 5.1: socket I/O timeout in microseconds
            default:
                setDefault("rw_timeout", micros)
            }
        }
        return (opts, defaults)
    }

    /// Opens the stream input and reports options libav left unconsumed.
    func openInput(url: String, format: String?) throws -> VideoInput {
        let (opts, defaults) = libavOptions()
        let input = try VideoInput(url: url, format: format, options: opts, deadline: deadline,
                                   openTimeout: options.openTimeout, threads: options.decoderThreads)
        for (key, value) in input.unconsumedOptions.sorted(by: { $0.key < $1.key }) where !defaults.contains(key) {
            let message = "libav did not use option \(key)=\(value)"
            logger.warning("\(message)")
            stats.warn(message)
        }
        return input
    }

    /// Queues a clip under the source's overflow policy; throws `.cancelled` when stopped or the queue closed.
    func deliver(_ clip: Clip) throws {
        let accepted = queue.push(clip, policy: overflow, isCancelled: { [self] in isStopping })
        if !accepted { throw MediaError(.cancelled, "source stopped or queue closed") }
    }

    /// The clip assembler of this source; nil (the source marked failed, with the reason) when its options are
    /// unusable.
    func makeAssembler() -> ClipAssembler? {
        do {
            return try ClipAssembler(source: name, options: options.clip)
        } catch {
            stats.update {
                $0.state = .failed
                $0.lastError = "\(error)"
            }
            return nil
        }
    }

    private func runStream() {
        let url: String
        var format: String? = nil
        switch spec.kind {
        case .file(let path): url = path
        case .network(let u, _): url = u
        case .device(let f, let u):
            url = u
            format = f
        case .folder: return
        }
        let realtime = options.realtime ?? (format == "lavfi")
        guard let assembler = makeAssembler() else { return }
        var input: VideoInput? = nil
        var pendingBadPackets = 0
        runSessions(live: spec.isLive, announceReconnects: true, open: {
            do {
                let opened = try openInput(url: url, format: format)
                input = opened
                assembler.orientation = opened.orientation
                logger.info("opened", metadata: ["orientation": "\(opened.orientation)"])
                return .opened(delivering: false)
            } catch let error as MediaError where error.code == .cancelled {
                return .cancelled
            } catch {
                logger.warning("open failed: \(error)")
                return .failed("\(error)")
            }
        }, emit: {
            guard let input else { return .failed("no open input", delivered: false) }
            let before = stats.snapshot.framesDecoded
            defer { pendingBadPackets += input.badPackets }
            do {
                try emitClips(from: input, assembler: assembler, realtime: realtime, badPacketsBefore: pendingBadPackets)
                return stats.snapshot.framesDecoded == before ? .endedEmpty("no video frame could be decoded") : .ended
            } catch let error as MediaError where error.code == .cancelled {
                return .cancelled
            } catch {
                if let e = error as? MediaError, e.code == .stalled || e.code == .timedOut {
                    stats.update { $0.stalls += 1 }
                }
                logger.warning("stream interrupted: \(error)")
                return .failed("\(error)", delivered: stats.snapshot.framesDecoded > before)
            }
        }, close: {
            if let readError = input?.readError { stats.update { $0.lastError = readError } }
            input = nil
            assembler.reset()
        })
        input = nil
    }

    /// Decodes `input` to its end, emitting clips. Throws on stall, read failure (live) or stop.
    private func emitClips(from input: VideoInput, assembler: ClipAssembler, realtime: Bool, badPacketsBefore: Int)
        throws
    {
        let frame = try Frame()
        var pacing: (wall: Double, stream: Double)? = nil
        var lastPublish = 0.0
        var lastSize: (width: Int, height: Int)? = nil
        let publish = { [self] in
            stats.update {
                $0.framesSampled = assembler.framesSampled
                $0.clipsMade = assembler.clipsMade
                $0.timestampJumps = assembler.timestampJumps
                $0.badPackets = badPacketsBefore + input.badPackets
                if let size = lastSize { $0.frameSize = "\(size.width)x\(size.height)" }
            }
        }
        defer { publish() }
        while true {
            if isStopping { throw MediaError(.cancelled, "source stopped") }
            guard let time = try input.nextFrame(
                into: frame, readTimeout: options.stallSeconds, stallAfter: options.stallSeconds,
                tolerateReadErrors: !spec.isLive)
            else { break }
            stats.framesDecoded(1, decodeSeconds: input.takeDecodeSeconds())
            if let size = lastSize, size != (frame.width, frame.height) {
                stats.update { $0.sizeChanges += 1 }
                logger.notice("frame size changed from \(size.width)x\(size.height) to \(frame.width)x\(frame.height)")
            }
            lastSize = (frame.width, frame.height)
            if realtime {
                let now = monotonicSeconds()
                if let p = pacing {
                    let ahead = (time - p.stream) - (now - p.wall)
                    if ahead > options.clip.maxTimestampGap || ahead < -options.clip.maxTimestampGap {
                        pacing = (now, time)
                    } else if ahead > 0 {
                        sleep(ahead)
                    }
                } else {
                    pacing = (now, time)
                }
            }
            try assembler.push(frame, time: time) { clip in try deliver(clip) }
            let now = monotonicSeconds()
            if now - lastPublish > 0.05 {
                publish()
                lastPublish = now
            }
        }
        try assembler.finish(pad: !spec.isLive) { clip in try deliver(clip) }
    }
}

extension SourceSpec {
    var isFolder: Bool {
        if case .folder = kind { return true }
        return false
    }
}
