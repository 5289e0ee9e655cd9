import Foundation
import Logging
import LibAV

/// What a source does when the clip queue is full.
public enum OverflowPolicy: String, Sendable, Hashable, Codable {
    /// Evict the oldest queued clip of the source holding the most droppable clips (counted as dropped for
    /// that source). The default for live sources: never fall behind real time.
    case dropOldest
    /// Wait for room (back-pressure). The default for files and watch folders: nothing is lost.
    case wait
}

/// What happens to a watch-folder file once ingested.
public enum AfterIngest: Sendable, Hashable, CustomStringConvertible {
    /// Leave it in place (the ledger stops it being ingested again).
    case keep
    /// Move it into a directory (relative paths are taken from the watch folder); files that cannot be
    /// opened or hold no video go to `<dir>/rejected/`.
    case move(String)
    /// Delete it.
    case delete

    /// Parses `keep`, `delete` or `move:<dir>`.
    public init(parsing text: String) throws {
        if text == "keep" {
            self = .keep
        } else if text == "delete" {
            self = .delete
        } else if text.hasPrefix("move:"), text.count > 5 {
            self = .move(String(text.dropFirst(5)))
        } else {
            throw MediaError(.invalidOptions, "after must be keep, delete or move:<dir>, got '\(text)'")
        }
    }

    public var description: String {
        switch self {
        case .keep: return "keep"
        case .delete: return "delete"
        case .move(let dir): return "move:\(dir)"
        }
    }
}

/// Capped exponential backoff with jitter for reconnects. The delay grows only over failed connection attempts
/// (an open that fails, or a session that ends before its first frame); a session that delivered frames starts the
/// next attempt at `initial` again, however short it was, so a flapping camera is back within about `initial`
/// seconds of every return.
public struct BackoffPolicy: Sendable, Hashable, Codable {
    /// First delay in seconds.
    public var initial: Double
    /// Largest delay in seconds (the cap).
    public var maximum: Double
    /// Growth per failed attempt.
    public var multiplier: Double
    /// Relative jitter: each delay is scaled by a uniform factor in `1 - jitter ... 1 + jitter`.
    public var jitter: Double

    /// 1 s, 2 s, 4 s ... 60 s with ±20 % jitter.
    public init(initial: Double = 1, maximum: Double = 60, multiplier: Double = 2, jitter: Double = 0.2) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
    }
}

/// Watch-folder settings.
public struct WatchFolderOptions: Sendable {
    /// A file is ingested once its size and modification time stayed unchanged this long.
    public var settleSeconds: Double
    /// What to do with a file after ingest.
    public var after: AfterIngest
    /// Where the ingested-files ledger is kept (`nil`: in memory only; use `ledger` to restore one).
    public var stateDirectory: String?
    /// A ledger to start from (e.g. restored from a daemon snapshot); merged with the one on disk.
    public var ledger: IngestLedger?

    /// Settle 2 s, keep files, ledger in memory unless a state directory is given.
    public init(settleSeconds: Double = 2, after: AfterIngest = .keep, stateDirectory: String? = nil,
                ledger: IngestLedger? = nil)
    {
        self.settleSeconds = settleSeconds
        self.after = after
        self.stateDirectory = stateDirectory
        self.ledger = ledger
    }
}

/// Everything about how one source is read and cut into clips.
public struct SourceOptions: Sendable {
    /// Clip length, size, rate, stride, crop and augmentation.
    public var clip: ClipOptions
    /// libav options passed to `avformat_open_input` (e.g. `rtsp_transport`, `video_size`, `framerate`,
    /// `input_format`); each one libav does not consume is logged and listed in the statistics' warnings.
    /// For `v4l2:` sources `size`, `rate` and `format` are accepted for `video_size`, `framerate` and
    /// `input_format`.
    public var libavOptions: [String: String]
    /// Deadline for opening an input and reading its stream info, seconds.
    public var openTimeout: Double
    /// A live source with no video frame for this long is closed and reopened; also the deadline of one
    /// packet read.
    public var stallSeconds: Double
    /// Reconnect backoff.
    public var backoff: BackoffPolicy
    /// Queue overflow behaviour; `nil` picks `dropOldest` for live sources, `wait` for files and folders.
    public var overflow: OverflowPolicy?
    /// Pace decoding to the stream's timestamps (as `ffmpeg -re`); `nil` paces `lavfi` sources only.
    public var realtime: Bool?
    /// Decoder threads (0: libav decides; default: the number of cores).
    public var decoderThreads: Int
    /// Watch-folder settings (for `folder:` sources).
    public var watch: WatchFolderOptions
    /// Where the source logs (open, reconnect, unconsumed options, rejected files).
    public var logger: Logger
    /// Close the queue when the source's thread ends, so a reader blocked on it wakes at once instead of polling
    /// `isFinished`. Only for a queue the source has to itself (a file read once: probe clips); off by default, as
    /// the daemon's sources share one queue.
    public var closesQueueWhenFinished = false

    /// Defaults: paper-sized clips, 10 s open deadline, 10 s stall, 1-60 s backoff, decoder threads = cores.
    public init(
        clip: ClipOptions = ClipOptions(), libavOptions: [String: String] = [:], openTimeout: Double = 10,
        stallSeconds: Double = 10, backoff: BackoffPolicy = BackoffPolicy(), overflow: OverflowPolicy? = nil,
        realtime: Bool? = nil, decoderThreads: Int? = nil, watch: WatchFolderOptions = WatchFolderOptions(),
        logger: Logger = Logger(label: "conceptd.media")
    ) {
        self.clip = clip
        self.libavOptions = libavOptions
        self.openTimeout = openTimeout
        self.stallSeconds = stallSeconds
        self.backoff = backoff
        self.overflow = overflow
        self.realtime = realtime
        self.decoderThreads = decoderThreads ?? System.coreCount
        self.watch = watch
        self.logger = logger
    }

    /// Throws `.invalidOptions` for out-of-range values.
    public func validate() throws {
        try clip.validate()
        func check(_ ok: Bool, _ message: String) throws {
            if !ok { throw MediaError(.invalidOptions, message) }
        }
        try check(openTimeout > 0 && openTimeout.isFinite, "openTimeout must be positive")
        try check(stallSeconds > 0 && stallSeconds.isFinite, "stallSeconds must be positive")
        try check(backoff.initial > 0 && backoff.maximum >= backoff.initial && backoff.multiplier >= 1,
                  "backoff needs 0 < initial <= maximum and multiplier >= 1")
        try check(backoff.jitter >= 0 && backoff.jitter < 1, "backoff jitter must be in [0, 1)")
        try check(decoderThreads >= 0, "decoderThreads must be >= 0")
        try check(watch.settleSeconds >= 0 && watch.settleSeconds.isFinite, "settleSeconds must be >= 0")
    }
}

enum System {
    /// Cores available to this process.
    static var coreCount: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }
}
