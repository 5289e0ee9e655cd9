import CFFmpeg

/// An error from the media layer: a code to match on, a message, and for libav failures the negative
/// libav return code with its `av_strerror` text.
public struct MediaError: Error, CustomStringConvertible, Sendable {
    fileprivate enum Base: Hashable, Sendable {
        case invalidSource, invalidOptions, openFailed, noVideoStream, decoderUnavailable
        case libav, timedOut, stalled, cancelled, fileSystem, shapeMismatch, encoderUnavailable, invalidManifest
        case threadUnavailable
    }

    /// What went wrong, for matching (`error.code == .timedOut`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let base: Base
        fileprivate init(_ base: Base) { self.base = base }
        /// A source URI that cannot be parsed or names something unsupported.
        public static let invalidSource = Code(.invalidSource)
        /// Options that are out of range or inconsistent.
        public static let invalidOptions = Code(.invalidOptions)
        /// `avformat_open_input` or `avformat_find_stream_info` failed.
        public static let openFailed = Code(.openFailed)
        /// The input has no decodable video stream.
        public static let noVideoStream = Code(.noVideoStream)
        /// No decoder is available for the video codec.
        public static let decoderUnavailable = Code(.decoderUnavailable)
        /// Another libav call returned a negative code.
        public static let libav = Code(.libav)
        /// A blocking call ran past its deadline and was interrupted.
        public static let timedOut = Code(.timedOut)
        /// A live source delivered no video frame for too long.
        public static let stalled = Code(.stalled)
        /// The source was stopped while a call was in progress.
        public static let cancelled = Code(.cancelled)
        /// A file-system operation (watch folder, ledger, after-policy) failed.
        public static let fileSystem = Code(.fileSystem)
        /// Clips of different shapes were combined.
        public static let shapeMismatch = Code(.shapeMismatch)
        /// No encoder (or output container) is available for the requested codec or file name.
        public static let encoderUnavailable = Code(.encoderUnavailable)
        /// A dataset manifest that cannot be read or is malformed.
        public static let invalidManifest = Code(.invalidManifest)
        /// The operating system refused a thread (`pthread_create` failed: out of threads or memory).
        public static let threadUnavailable = Code(.threadUnavailable)

        public var description: String { "\(base)" }
    }

    /// What went wrong.
    public let code: Code
    /// A human-readable explanation.
    public let message: String
    /// The libav return code, when a libav call failed.
    public let averror: Int32?
    /// `av_strerror` text for `averror`.
    public let averrorText: String?
    /// An underlying error, if any.
    public let cause: (any Error & Sendable)?

    package init(_ code: Code, _ message: String, averror: Int32? = nil, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.averror = averror
        self.averrorText = averror.map(MediaError.describe)
        self.cause = cause
    }

    /// An error for a negative libav return code from `function`.
    package static func libav(_ function: String, _ rc: Int32, code: Code = .libav) -> MediaError {
        MediaError(code, "\(function) failed", averror: rc)
    }

    /// The `av_strerror` text of a libav return code.
    public static func describe(_ rc: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(cffmpeg_error_max_string_size()) + 1)
        if av_strerror(rc, &buffer, buffer.count) < 0 {
            return "libav error \(rc)"
        }
        return String(cBuffer: buffer)
    }

    /// A non-Sendable error's description, kept as a cause.
    package struct Underlying: Error, Sendable, CustomStringConvertible {
        package let description: String
        package init(_ error: any Error) { description = String(describing: error) }
    }

    public var description: String {
        var text = "\(code): \(message)"
        if let averrorText, let averror { text += " (\(averrorText), code \(averror))" }
        if let cause { text += " [cause: \(cause)]" }
        return text
    }
}

extension String {
    /// The text of a NUL-terminated C buffer.
    package init(cBuffer buffer: [CChar]) {
        self = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
