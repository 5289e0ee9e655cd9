import Foundation

/// Where a source is in its life.
public enum SourceState: String, Sendable, Hashable, Codable {
    /// Opening the input (or waiting for the watch folder).
    case connecting
    /// Delivering frames.
    case live
    /// Waiting before the next reconnect.
    case backoff
    /// Done: a file decoded to its end, or the source was stopped.
    case finished
    /// Gave up: a file that cannot be read.
    case failed
}

/// A snapshot of one source's counters, readable while it runs.
public struct SourceStatistics: Sendable, Codable, Hashable {
    /// The source's name.
    public var name: String
    /// The URI it was created from.
    public var uri: String
    /// Lifecycle state.
    public var state: SourceState
    /// Video frames out of the decoder.
    public var framesDecoded: Int = 0
    /// Frames taken by the fps sampler (repeats included).
    public var framesSampled: Int = 0
    /// Clips built (queued or dropped later).
    public var clipsMade: Int = 0
    /// Clips evicted from the queue (or refused) because the consumer was slower.
    public var clipsDropped: Int = 0
    /// Packets the decoder rejected (`AVERROR_INVALIDDATA` and the like) and read errors skipped.
    public var badPackets: Int = 0
    /// Timestamps that went backwards or jumped forwards too far.
    public var timestampJumps: Int = 0
    /// Successful reopenings after the first open.
    public var reconnects: Int = 0
    /// Times a live source was reopened because no frame came for the stall time.
    public var stalls: Int = 0
    /// The size of the latest decoded frame, `WIDTHxHEIGHT` (nil before the first frame).
    public var frameSize: String?
    /// Times the decoded frame size changed within a session (a camera switching resolution); clips in progress
    /// restart when the aspect changes.
    public var sizeChanges: Int = 0
    /// Wall-clock time of the last decoded frame.
    public var lastFrameTime: Date?
    /// Decoded frames per second over the last measuring window (about a second).
    public var measuredFPS: Double = 0
    /// Average decoder time per frame in seconds (send + receive, excluding network waits).
    public var decodeSecondsPerFrame: Double = 0
    /// The last error or end reason.
    public var lastError: String?
    /// Warnings such as libav options that were not consumed (most recent last, at most 32).
    public var warnings: [String] = []
    /// Watch folders: files ingested.
    public var filesIngested: Int = 0
    /// Watch folders: files rejected (unreadable, no video).
    public var filesRejected: Int = 0
    /// Watch folders: the file being decoded now.
    public var currentFile: String?

    /// Zeroed counters for a source.
    public init(name: String, uri: String, state: SourceState = .connecting) {
        self.name = name
        self.uri = uri
        self.state = state
    }
}
