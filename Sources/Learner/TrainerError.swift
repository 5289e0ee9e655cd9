/// An error from the learner layer: bad data, or a snapshot that cannot be written or read.
public struct TrainerError: Error, CustomStringConvertible {
    private enum Code { case invalidData, snapshotWrite, snapshotRead, noSnapshot }
    private let code: Code
    /// What went wrong.
    public let message: String
    /// The underlying error.
    public let cause: (any Error)?
    private init(_ code: Code, _ message: String, cause: (any Error)? = nil) { self.code = code; self.message = message; self.cause = cause }
    /// Clips that do not fit the model.
    public static func invalidData(_ m: String) -> TrainerError { .init(.invalidData, m) }
    /// A snapshot could not be written (earlier generations, if any, are untouched).
    public static func snapshotWrite(_ m: String, cause: (any Error)? = nil) -> TrainerError { .init(.snapshotWrite, m, cause: cause) }
    /// A snapshot is damaged or does not fit.
    public static func snapshotRead(_ m: String, cause: (any Error)? = nil) -> TrainerError { .init(.snapshotRead, m, cause: cause) }
    /// No usable snapshot exists.
    public static func noSnapshot(_ m: String) -> TrainerError { .init(.noSnapshot, m) }
    public var description: String {
        let head: String = switch code {
        case .invalidData: "invalid data"
        case .snapshotWrite: "snapshot write failed"
        case .snapshotRead: "snapshot unreadable"
        case .noSnapshot: "no snapshot"
        }
        return "\(head): \(message)" + (cause.map { " (\($0))" } ?? "")
    }
}
