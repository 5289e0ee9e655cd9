/// A reason the daemon cannot start or did not stop cleanly, with the exit status it maps to (sysexits.h).
public struct DaemonError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, for matching (`error.code == .unusableDirectory`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// A directory the daemon needs (state, snapshots, ingest records) cannot be created, read or written by the
        /// user it runs as. Exit status 73 (`EX_CANTCREAT`).
        public static let unusableDirectory = Code("unusableDirectory")
        /// The final snapshot at shutdown could not be written; the steps since the last good one are lost. Exit
        /// status 75 (`EX_TEMPFAIL`).
        public static let finalSnapshotFailed = Code("finalSnapshotFailed")
        /// A data-parallel job cannot run or go on: it was launched with another number of ranks than `[cluster]`
        /// says, a rank was lost, or the ranks' weights drifted apart. Exit status 76 (`EX_PROTOCOL`).
        public static let cluster = Code("cluster")
        public var description: String { name }
    }

    /// What went wrong.
    public let code: Code
    /// A sentence for the operator, naming the directory or the step.
    public let message: String
    /// The underlying error, if any.
    public let cause: (any Error & Sendable)?

    /// An error with its code and message.
    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// `EX_CANTCREAT` (sysexits.h): a directory cannot be created or used.
    public static let cantCreateStatus: Int32 = 73
    /// `EX_TEMPFAIL` (sysexits.h): the final snapshot failed; trying again later (more disk) may succeed.
    public static let tempFailStatus: Int32 = 75

    /// `EX_PROTOCOL` (sysexits.h): the ranks of a data-parallel job are not in step.
    public static let protocolStatus: Int32 = 76

    /// The process exit status for this error.
    public var exitStatus: Int32 {
        switch code {
        case .unusableDirectory: Self.cantCreateStatus
        case .cluster: Self.protocolStatus
        default: Self.tempFailStatus
        }
    }

    public var description: String { message + (cause.map { " (\($0))" } ?? "") }
}
