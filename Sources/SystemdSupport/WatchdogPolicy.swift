/// Decides when the daemon may send `WATCHDOG=1`: only when the trainer made progress since the last ping, or
/// is idle for a reason it stated recently (no data to train on). A timer only asks the question (``tick(at:)``);
/// it never earns a ping by itself, so a hung trainer stops the pings and systemd restarts the daemon.
///
/// Feed it: ``progressed(to:at:)`` whenever the trainer's progress counter grows (steps, or finer steps inside a
/// long one), ``idle(reason:at:)`` repeatedly (at least every ``idleLease``) while the trainer waits for a known
/// reason, and ``busy(at:)`` when it starts working again. Call ``tick(at:)`` every
/// ``WatchdogSettings/pingInterval`` and send a ping when it says so.
public struct WatchdogPolicy: Sendable {
    /// What to do on a tick.
    public enum Action: Sendable, Equatable {
        /// Send `WATCHDOG=1`.
        case ping
        /// Send nothing.
        case hold
        /// Send nothing; the trainer has shown no progress and no idle reason for a whole watchdog interval.
        /// Returned once per stall (for a log line); later ticks of the same stall return ``hold``.
        case stalled(progress: UInt64, since: ContinuousClock.Instant)
    }

    /// The watchdog interval.
    public let interval: Duration
    /// How long an idle report stays valid.
    public let idleLease: Duration

    private var progress: UInt64
    private var pingedProgress: UInt64
    /// When the trainer last showed a sign of life (progress, an idle report, starting work).
    private var lastSign: ContinuousClock.Instant
    private var idleReason: String?
    private var idleReportedAt: ContinuousClock.Instant?
    private var stallReported = false

    /// A policy for a watchdog `interval`; progress starts at `progress` (a resumed step count).
    /// `idleLease` defaults to half the interval.
    public init(interval: Duration, idleLease: Duration? = nil, progress: UInt64 = 0,
                now: ContinuousClock.Instant = .now) {
        self.interval = interval
        self.idleLease = idleLease ?? interval / 2
        self.progress = progress
        self.pingedProgress = progress
        self.lastSign = now
    }

    /// The reason the trainer is idle, while the report is valid.
    public func currentIdleReason(at now: ContinuousClock.Instant) -> String? {
        guard let idleReason, let at = idleReportedAt, now - at <= idleLease else { return nil }
        return idleReason
    }

    /// The trainer's progress counter grew to `counter` (smaller or equal values are ignored). Ends an idle state.
    public mutating func progressed(to counter: UInt64, at now: ContinuousClock.Instant) {
        guard counter > progress else { return }
        progress = counter
        lastSign = now
        idleReason = nil
        idleReportedAt = nil
        stallReported = false
    }

    /// The trainer is waiting for a known reason (e.g. "waiting for clips"); repeat at least every ``idleLease``.
    public mutating func idle(reason: String, at now: ContinuousClock.Instant) {
        idleReason = reason
        idleReportedAt = now
        lastSign = now
        stallReported = false
    }

    /// The trainer stopped waiting and started a step: idle reports no longer earn pings.
    public mutating func busy(at now: ContinuousClock.Instant) {
        idleReason = nil
        idleReportedAt = nil
        lastSign = now
        stallReported = false
    }

    /// Whether to ping now.
    public mutating func tick(at now: ContinuousClock.Instant) -> Action {
        if progress != pingedProgress {
            pingedProgress = progress
            return .ping
        }
        if currentIdleReason(at: now) != nil { return .ping }
        if now - lastSign >= interval && !stallReported {
            stallReported = true
            return .stalled(progress: progress, since: lastSign)
        }
        return .hold
    }
}
