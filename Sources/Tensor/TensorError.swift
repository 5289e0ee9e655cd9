/// An error from a tensor operation: what was wrong, in words, at the API boundary.
public struct TensorError: Error, CustomStringConvertible, Equatable {
    private enum Code: Equatable { case shapeMismatch, invalidArgument, notFinite }
    private let code: Code
    /// A human-readable account of the problem.
    public let message: String

    private init(_ code: Code, _ message: String) { self.code = code; self.message = message }

    /// Shapes of operands do not fit the operation.
    public static func shapeMismatch(_ m: String) -> TensorError { .init(.shapeMismatch, m) }
    /// An argument is out of range or inconsistent.
    public static func invalidArgument(_ m: String) -> TensorError { .init(.invalidArgument, m) }
    /// A value that had to be finite was not.
    public static func notFinite(_ m: String) -> TensorError { .init(.notFinite, m) }

    /// Whether this is a shape mismatch.
    public var isShapeMismatch: Bool { code == .shapeMismatch }
    public var description: String {
        switch code {
        case .shapeMismatch: "shape mismatch: \(message)"
        case .invalidArgument: "invalid argument: \(message)"
        case .notFinite: "not finite: \(message)"
        }
    }
}
