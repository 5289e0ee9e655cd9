/// An error from the probe evaluator: a bad probe set (manifest, folder, missing or undecodable video), bad options,
/// a model that does not take the weights, or a history file that cannot be written.
///
/// Match on the kind with the static members (`error.kind == .manifest`); `file` and `line` say where a
/// problem in the probe set is, when it has a place.
public struct ProbeError: Error, CustomStringConvertible, Sendable {
    fileprivate enum Code: Hashable, Sendable {
        case manifest, missingFile, decode, invalidSet, invalidOptions, model, history, cancelled
    }

    /// What kind of problem, for matching.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        fileprivate let code: Code
        /// A manifest that cannot be read or parsed (header, row, label or split).
        public static let manifest = Kind(code: .manifest)
        /// A video the probe set names does not exist or is not a file.
        public static let missingFile = Kind(code: .missingFile)
        /// A video could not be decoded into a clip.
        public static let decode = Kind(code: .decode)
        /// The set as a whole cannot be probed (no videos, one class, an empty split).
        public static let invalidSet = Kind(code: .invalidSet)
        /// Evaluator or solver options out of range.
        public static let invalidOptions = Kind(code: .invalidOptions)
        /// The weights do not fit the model, or the forward pass failed.
        public static let model = Kind(code: .model)
        /// The history or baseline file cannot be written or read.
        public static let history = Kind(code: .history)
        /// The evaluator was cancelled.
        public static let cancelled = Kind(code: .cancelled)

        public var description: String { "\(code)" }
    }

    fileprivate let code: Code
    /// What went wrong.
    public let message: String
    /// The file the problem is in or about (a manifest, a video, a history file), if any.
    public let file: String?
    /// The 1-based line of `file`, for manifest problems.
    public let line: Int?
    /// The underlying error, if any.
    public let cause: (any Error & Sendable)?

    /// The kind of problem.
    public var kind: Kind { Kind(code: code) }

    private init(_ code: Code, _ message: String, file: String? = nil, line: Int? = nil, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
        self.cause = cause
    }

    /// A malformed manifest: `file`, 1-based `line` (nil: the file as a whole) and why.
    public static func manifest(_ message: String, file: String, line: Int? = nil, cause: (any Error & Sendable)? = nil) -> ProbeError {
        .init(.manifest, message, file: file, line: line, cause: cause)
    }
    /// A named video that is missing (`file` is the video; `manifest`/`line` where it was named, if any).
    public static func missingFile(_ video: String, manifest: String?, line: Int?) -> ProbeError {
        let place = manifest.map { " (named in \($0)\(line.map { ":\($0)" } ?? ""))" } ?? ""
        return .init(.missingFile, "video '\(video)' does not exist or is not a regular file\(place)", file: manifest ?? video, line: line)
    }
    /// A video that could not be decoded into a clip.
    public static func decode(_ message: String, file: String, cause: (any Error & Sendable)? = nil) -> ProbeError {
        .init(.decode, message, file: file, cause: cause)
    }
    /// A probe set that cannot be probed as a whole.
    public static func invalidSet(_ message: String, file: String? = nil) -> ProbeError { .init(.invalidSet, message, file: file) }
    /// Options out of range.
    public static func invalidOptions(_ message: String) -> ProbeError { .init(.invalidOptions, message) }
    /// The model could not take the weights or run.
    public static func model(_ message: String, cause: (any Error & Sendable)? = nil) -> ProbeError { .init(.model, message, cause: cause) }
    /// The history or baseline file failed.
    public static func history(_ message: String, file: String, cause: (any Error & Sendable)? = nil) -> ProbeError {
        .init(.history, message, file: file, cause: cause)
    }

    /// The evaluator was cancelled (`ProbeEvaluator.cancel()`).
    public static func cancelled() -> ProbeError { .init(.cancelled, "the evaluator was cancelled") }

    public var description: String {
        let head: String = switch code {
        case .manifest: "bad probe manifest"
        case .missingFile: "missing probe video"
        case .decode: "probe video not decodable"
        case .invalidSet: "unusable probe set"
        case .invalidOptions: "invalid probe options"
        case .model: "probe model"
        case .history: "probe history"
        case .cancelled: "probe evaluation stopped"
        }
        var place = ""
        if let file, code != .missingFile { place = "\(file)\(line.map { ":\($0)" } ?? ""): " }
        return "\(head): \(place)\(message)" + (cause.map { " (\($0))" } ?? "")
    }
}

/// Carries a non-Sendable error's text as a cause.
struct ProbeUnderlying: Error, Sendable, CustomStringConvertible {
    let description: String
    init(_ error: any Error) { description = "\(error)" }
}
