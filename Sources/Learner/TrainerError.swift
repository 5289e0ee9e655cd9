/// An error from the learner layer: bad data, or a snapshot that cannot be written or read.
public struct TrainerError: Error, CustomStringConvertible {
    /// What went wrong, for matching (`error.code == .snapshotRead`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// Clips that do not fit the model.
        public static let invalidData = Code("invalid data")
        /// A snapshot could not be written (earlier generations, if any, are untouched).
        public static let snapshotWrite = Code("snapshot write failed")
        /// A snapshot is damaged or does not fit.
        public static let snapshotRead = Code("snapshot unreadable")
        /// No usable snapshot exists.
        public static let noSnapshot = Code("no snapshot")
        /// The ranks of a data-parallel job disagree (parameters drifted apart) or a collective call failed.
        public static let cluster = Code("cluster out of step")

        public var description: String { name }
    }

    /// What went wrong.
    public let code: Code
    /// A human-readable explanation.
    public let message: String
    /// The underlying error.
    public let cause: (any Error)?

    /// An error with `code`, `message` and an optional `cause`.
    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// Clips that do not fit the model.
    public static func invalidData(_ m: String) -> TrainerError { .init(.invalidData, m) }
    /// A snapshot could not be written (earlier generations, if any, are untouched).
    public static func snapshotWrite(_ m: String, cause: (any Error)? = nil) -> TrainerError { .init(.snapshotWrite, m, cause: cause) }
    /// A snapshot is damaged or does not fit.
    public static func snapshotRead(_ m: String, cause: (any Error)? = nil) -> TrainerError { .init(.snapshotRead, m, cause: cause) }
    /// No usable snapshot exists.
    public static func noSnapshot(_ m: String) -> TrainerError { .init(.noSnapshot, m) }

    /// The ranks of a data-parallel job disagree, or a collective call failed.
    public static func cluster(_ m: String, cause: (any Error)? = nil) -> TrainerError { .init(.cluster, m, cause: cause) }

    public var description: String { "\(code): \(message)" + (cause.map { " (\($0))" } ?? "") }
}
