import Foundation
import SeededRandom
import ConceptReports

/// Capped exponential backoff with jitter: delay `n` (from 0) is
/// `min(maximum, initial * multiplier^n)` scaled by a uniform factor in `1 ± jitter`, capped again.
struct Backoff: Sendable {
    let policy: BackoffPolicy
    /// Failed attempts since the last reset.
    private(set) var attempt = 0

    init(policy: BackoffPolicy) { self.policy = policy }

    /// The next delay in seconds, drawing jitter from `generator`.
    mutating func nextDelay<G: RandomNumberGenerator>(using generator: inout G) -> Double {
        let exponent = Double(min(attempt, 64))
        let base = min(policy.maximum, policy.initial * Foundation.pow(policy.multiplier, exponent))
        attempt += 1
        guard policy.jitter > 0 else { return base }
        // One draw mapped straight to [-1, 1] (no rejection loop, so any generator works).
        let u = Double(generator.next() >> 11) / Double((1 as UInt64) << 53 - 1) * 2 - 1
        return min(policy.maximum, max(0, base * (1 + policy.jitter * u)))
    }

    /// Back to the initial delay.
    mutating func reset() { attempt = 0 }
}

/// The source lifecycle as a state machine: events in, actions out. The runner performs the actions;
/// the machine holds no libav state, so every transition is testable alone. Times are monotonic seconds.
struct SourceLifecycle: Sendable {
    /// What the runner must do next, in order.
    enum Action: Equatable, Sendable {
        /// Open the input.
        case open
        /// Read and decode, emitting clips, until the stream ends, stalls or fails.
        case emit
        /// Close the input (free the libav objects).
        case close
        /// Wait this many seconds (interruptible by stop), then report `backoffElapsed`.
        case sleep(Double)
        /// Stop for good; the source is finished.
        case finish
        /// Stop for good; the source failed for this reason.
        case fail(String)
    }

    private(set) var state: SourceState = .connecting
    /// Whether ended/failed inputs are reopened.
    let live: Bool
    private var backoff: Backoff
    private var generator: SeededGenerator
    /// Whether the current session delivered a frame (then the next attempt starts at the initial delay).
    private var sessionDelivered = false
    /// Successful reopenings after the first open.
    private(set) var reconnects = 0
    private var openedOnce = false
    private(set) var lastError: String?
    private var stopped = false

    init(live: Bool, policy: BackoffPolicy, seed: UInt64) {
        self.live = live
        backoff = Backoff(policy: policy)
        generator = SeededGenerator(seed: seed)
    }

    /// The failed attempts counted toward the next delay.
    var backoffAttempt: Int { backoff.attempt }

    /// The first event.
    mutating func start() -> [Action] {
        state = .connecting
        return [.open]
    }

    /// The input opened at `now`.
    mutating func opened(at now: Double) -> [Action] {
        guard !stopped else { return [.close, .finish] }
        state = .live
        sessionDelivered = false
        if openedOnce { reconnects += 1 }
        openedOnce = true
        return [.emit]
    }

    /// Opening failed. A file fails for good; a live source backs off and retries.
    mutating func openFailed(_ reason: String, at now: Double) -> [Action] {
        lastError = reason
        guard !stopped else { return [.finish] }
        if !live {
            state = .failed
            return [.fail(reason)]
        }
        return enterBackoff(closing: false)
    }

    /// The open session decoded frames: it counts as a successful connection, so whatever ends it, the next
    /// attempt waits only the initial delay.
    mutating func delivered() {
        sessionDelivered = true
    }

    /// The stream reached its end. A file is finished; a live source reconnects after a backoff.
    mutating func ended(at now: Double) -> [Action] {
        guard !stopped else { return [.close, .finish] }
        if !live {
            state = .finished
            return [.close, .finish]
        }
        lastError = "stream ended"
        resetBackoffIfDelivered()
        return enterBackoff(closing: true)
    }

    /// A file ended without a single decodable video frame: it fails with `reason`. (A live source treats
    /// it like any other end.)
    mutating func endedEmpty(_ reason: String, at now: Double) -> [Action] {
        guard live, !stopped else {
            if stopped { return [.close, .finish] }
            lastError = reason
            state = .failed
            return [.close, .fail(reason)]
        }
        return ended(at: now)
    }

    /// Reading failed, or no frame came for the stall time. A file ends (what was decoded counts); a
    /// live source reconnects after a backoff.
    mutating func failed(_ reason: String, at now: Double) -> [Action] {
        lastError = reason
        guard !stopped else { return [.close, .finish] }
        if !live {
            state = .finished
            return [.close, .finish]
        }
        resetBackoffIfDelivered()
        return enterBackoff(closing: true)
    }

    /// The backoff wait is over.
    mutating func backoffElapsed() -> [Action] {
        guard !stopped else { return [.finish] }
        state = .connecting
        return [.open]
    }

    /// Stop requested (from any state).
    mutating func stop() -> [Action] {
        stopped = true
        let wasOpen = state == .live
        if state != .failed { state = .finished }
        return wasOpen ? [.close, .finish] : [.finish]
    }

    /// A session that delivered frames was a successful connection: the failed-attempt count starts over. A
    /// session that opened but ended before its first frame counts as one more failed attempt.
    private mutating func resetBackoffIfDelivered() {
        if sessionDelivered { backoff.reset() }
        sessionDelivered = false
    }

    private mutating func enterBackoff(closing: Bool) -> [Action] {
        state = .backoff
        let delay = backoff.nextDelay(using: &generator)
        return closing ? [.close, .sleep(delay)] : [.sleep(delay)]
    }
}
