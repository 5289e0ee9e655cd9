/// An error from the live statistics: options out of range, or inputs that do not fit the model.
public struct StatisticsError: Error, CustomStringConvertible, Sendable {
    private enum Code: Sendable { case invalidOptions, invalidInput }
    private let code: Code
    /// What went wrong.
    public let message: String
    private init(_ code: Code, _ message: String) { self.code = code; self.message = message }
    /// Options out of range.
    public static func invalidOptions(_ m: String) -> StatisticsError { .init(.invalidOptions, m) }
    /// Codes, targets or clips whose shape does not fit the model configuration.
    public static func invalidInput(_ m: String) -> StatisticsError { .init(.invalidInput, m) }
    public var description: String {
        let head: String = switch code {
        case .invalidOptions: "invalid statistics options"
        case .invalidInput: "invalid statistics input"
        }
        return "\(head): \(message)"
    }
}
