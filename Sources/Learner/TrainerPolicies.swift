import Foundation

/// What to do after a step whose loss or gradients were not finite: the step is skipped; after `limit` in a row
/// the model rolls back to the last good snapshot. A struct state machine, tested alone.
public struct NonFiniteGuard: Sendable, Equatable, Codable {
    /// Actions after a step.
    public enum Action: Sendable, Equatable { case proceed, skip, rollback }
    /// Non-finite steps in a row that trigger a rollback.
    public let limit: Int
    /// Non-finite steps in a row so far.
    public private(set) var consecutive = 0
    /// Non-finite steps in total.
    public private(set) var total = 0

    public init(limit: Int = 5) { self.limit = Swift.max(1, limit) }

    /// Records a step's outcome and says what to do.
    public mutating func record(finite: Bool) -> Action {
        if finite { consecutive = 0; return .proceed }
        consecutive += 1
        total += 1
        if consecutive >= limit { consecutive = 0; return .rollback }
        return .skip
    }
}

/// When to write a snapshot: every `everySteps` steps and/or every `everySeconds` seconds (either triggers).
public struct SnapshotSchedule: Sendable, Equatable {
    public let everySteps: Int?
    public let everySeconds: TimeInterval?
    private var lastStep: Int
    private var lastTime: TimeInterval

    public init(everySteps: Int?, everySeconds: TimeInterval?, startStep: Int = 0, now: TimeInterval) {
        self.everySteps = everySteps.flatMap { $0 > 0 ? $0 : nil }
        self.everySeconds = everySeconds.flatMap { $0 > 0 ? $0 : nil }
        lastStep = startStep
        lastTime = now
    }

    /// Whether a snapshot is due at `step`, `now` (monotonic seconds).
    public func isDue(step: Int, now: TimeInterval) -> Bool {
        guard step > lastStep else { return false }
        if let s = everySteps, step - lastStep >= s { return true }
        if let t = everySeconds, now - lastTime >= t { return true }
        return false
    }

    /// Notes that a snapshot was written (or attempted) at `step`, `now`.
    public mutating func didSnapshot(step: Int, now: TimeInterval) { lastStep = step; lastTime = now }
}
