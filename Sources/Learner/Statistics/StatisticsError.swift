/// An error from the live statistics: options out of range, or inputs that do not fit the model.
public struct StatisticsError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, for matching (`error.code == .invalidOptions`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// Options out of range.
        public static let invalidOptions = Code("invalid statistics options")
        /// Codes, targets or clips whose shape does not fit the model configuration.
        public static let invalidInput = Code("invalid statistics input")
        public var description: String { name }
    }

    /// What went wrong.
    public let code: Code
    /// A human-readable explanation.
    public let message: String
    /// The underlying error, if any.
    public let cause: (any Error & Sendable)?

    /// An error with `code`, `message` and an optional `cause`.
    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// Options out of range.
    public static func invalidOptions(_ m: String) -> StatisticsError { .init(.invalidOptions, m) }
    /// Codes, targets or clips whose shape does not fit the model configuration.
    public static func invalidInput(_ m: String) -> StatisticsError { .init(.invalidInput, m) }

    public var description: String { "\(code): \(message)" + (cause.map { " (\($0))" } ?? "") }
}
