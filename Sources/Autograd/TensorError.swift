/// An error from a tensor operation: what was wrong, in words, at the API boundary.
public struct TensorError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong, for matching (`error.code == .shapeMismatch`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// Shapes of operands do not fit the operation.
        public static let shapeMismatch = Code("shape mismatch")
        /// An argument is out of range or inconsistent.
        public static let invalidArgument = Code("invalid argument")
        /// A value that had to be finite was not.
        public static let notFinite = Code("not finite")
        public var description: String { name }
    }

    /// What went wrong.
    public let code: Code
    /// A human-readable account of the problem.
    public let message: String

    /// An error with `code` and `message`.
    public init(_ code: Code, _ message: String) { self.code = code; self.message = message }

    /// Shapes of operands do not fit the operation.
    public static func shapeMismatch(_ m: String) -> TensorError { .init(.shapeMismatch, m) }
    /// An argument is out of range or inconsistent.
    public static func invalidArgument(_ m: String) -> TensorError { .init(.invalidArgument, m) }
    /// A value that had to be finite was not.
    public static func notFinite(_ m: String) -> TensorError { .init(.notFinite, m) }

    /// Whether this is a shape mismatch.
    public var isShapeMismatch: Bool { code == .shapeMismatch }
    public var description: String { "\(code): \(message)" }
}
