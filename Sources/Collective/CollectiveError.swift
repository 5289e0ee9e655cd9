/// A failed collective call: what went wrong, matchable by `code`, with the transport's own error as `cause`.
public struct CollectiveError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// A count, rank or buffer the call cannot take.
        public static let invalidArgument = Code("invalidArgument")
        /// The transport (Open MPI) reported an error.
        public static let library = Code("library")
        /// The ranks disagree (lengths, a parameter checksum): the job cannot go on in step.
        public static let mismatch = Code("mismatch")
        /// No transport: the library is missing or was not started by a launcher.
        public static let unavailable = Code("unavailable")
        public var description: String { name }
    }

    /// What kind of failure.
    public let code: Code
    /// What happened, for a log line.
    public let message: String
    /// The underlying error, if any.
    public let cause: (any Error & Sendable)?

    /// An error of kind `code`.
    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code; self.message = message; self.cause = cause
    }

    public var description: String {
        cause.map { "\(message) (\($0))" } ?? message
    }
}
