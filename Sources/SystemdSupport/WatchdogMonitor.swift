import Synchronization

/// Drives the systemd watchdog from the trainer's progress: the trainer reports (from any thread), and
/// ``run(notifier:onEvent:)`` asks the ``WatchdogPolicy`` every ``WatchdogSettings/pingInterval`` and sends
/// `WATCHDOG=1` only when the policy says so.
public final class WatchdogMonitor: Sendable {
    /// What the monitor reports besides its pings.
    public enum Event: Sendable, Equatable {
        /// No progress and no idle reason for a whole interval (the pings have stopped): progress counter and how
        /// long ago the trainer last showed a sign of life.
        case stalled(progress: UInt64, silentFor: Duration)
        /// A ping could not be sent.
        case sendFailed(String)
    }

    /// The service manager's watchdog settings.
    public let settings: WatchdogSettings
    private let policy: Mutex<WatchdogPolicy>

    /// A monitor for `settings`; progress starts at `progress` (a resumed step count).
    public init(settings: WatchdogSettings, progress: UInt64 = 0, idleLease: Duration? = nil) {
        self.settings = settings
        policy = Mutex(WatchdogPolicy(interval: settings.interval, idleLease: idleLease, progress: progress))
    }

    /// The trainer's progress counter (steps, or finer units inside long steps) grew to `counter`.
    public func progressed(to counter: UInt64) {
        let now = ContinuousClock.now
        policy.withLock { $0.progressed(to: counter, at: now) }
    }

    /// The trainer waits for a known reason; call again at least every idle lease (half the interval by default).
    public func idle(reason: String) {
        let now = ContinuousClock.now
        policy.withLock { $0.idle(reason: reason, at: now) }
    }

    /// The trainer started working again.
    public func busy() {
        let now = ContinuousClock.now
        policy.withLock { $0.busy(at: now) }
    }

    /// Pings while the policy allows, until the task is cancelled.
    public func run(notifier: SystemdNotifier, onEvent: @Sendable (Event) -> Void = { _ in }) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: settings.pingInterval) } catch { return }
            let now = ContinuousClock.now
            let action = policy.withLock { $0.tick(at: now) }
            switch action {
            case .ping:
                do { try notifier.send(.watchdog) } catch { onEvent(.sendFailed(error.description)) }
            case .hold:
                break
            case .stalled(let progress, let since):
                onEvent(.stalled(progress: progress, silentFor: now - since))
            }
        }
    }
}
