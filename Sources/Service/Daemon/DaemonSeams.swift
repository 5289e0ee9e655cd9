/// Seams a test injects into the real daemon to provoke what production never does on purpose: a snapshot write
/// slow enough that a SIGKILL lands inside it, or a trainer that hangs. The shipped `conceptd` never sets them
/// (there are no environment hooks); `conceptd-testhost` (Tests/ConceptdTestHost) runs the same daemon with them.
public struct DaemonSeams: Sendable {
    /// Called after each file of a snapshot is written and synced, with the file's name.
    public var afterSnapshotFile: (@Sendable (String) -> Void)?
    /// The trainer stops making progress (without exiting) once it reaches this step.
    public var stallAfterSteps: Int?

    /// No seams: the production daemon.
    public init(afterSnapshotFile: (@Sendable (String) -> Void)? = nil, stallAfterSteps: Int? = nil) {
        self.afterSnapshotFile = afterSnapshotFile
        self.stallAfterSteps = stallAfterSteps
    }
}
