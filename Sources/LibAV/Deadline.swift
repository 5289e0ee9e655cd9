import CFFmpeg
import Glibc
import Synchronization

/// Nanoseconds on the monotonic clock (unaffected by wall-clock changes).
@inline(__always)
package func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Seconds on the monotonic clock.
@inline(__always)
package func monotonicSeconds() -> Double { Double(monotonicNanos()) / 1e9 }

/// A monotonic deadline and a cancel flag that libav's interrupt callback polls. Every blocking libav call
/// (open, stream info, read) is preceded by `arm(seconds:)`; `cancel()` interrupts whatever runs now.
package final class Deadline: Sendable {
    private let deadline = Atomic<UInt64>(.max)
    private let cancelled = Atomic<Bool>(false)
    private let fired = Atomic<Bool>(false)

    /// A deadline that is not armed.
    package init() {}

    /// Sets the deadline `seconds` from now and clears the fired mark.
    package func arm(seconds: Double) {
        let ns = seconds.isFinite && seconds >= 0 ? UInt64(seconds * 1e9) : UInt64.max / 2
        deadline.store(monotonicNanos() &+ ns, ordering: .relaxed)
        fired.store(false, ordering: .relaxed)
    }

    /// Removes the deadline (the cancel flag still applies).
    package func disarm() { deadline.store(.max, ordering: .relaxed) }

    /// Interrupts the current and every later blocking call.
    package func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// Whether `cancel()` was called.
    package var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    /// Whether the interrupt callback stopped a call because the deadline passed (since the last `arm`).
    package var didFire: Bool { fired.load(ordering: .relaxed) }

    /// What the interrupt callback answers: true stops the blocking call.
    package func shouldInterrupt() -> Bool {
        if cancelled.load(ordering: .relaxed) { return true }
        if monotonicNanos() >= deadline.load(ordering: .relaxed) {
            fired.store(true, ordering: .relaxed)
            return true
        }
        return false
    }

    /// The libav interrupt callback whose opaque pointer is this deadline (unretained: the owner of the
    /// format context keeps the deadline alive).
    package var interruptCallback: AVIOInterruptCB {
        AVIOInterruptCB(callback: deadlineInterruptCallback, opaque: Unmanaged.passUnretained(self).toOpaque())
    }
}

private func deadlineInterruptCallback(_ opaque: UnsafeMutableRawPointer?) -> Int32 {
    guard let opaque else { return 0 }
    return Unmanaged<Deadline>.fromOpaque(opaque).takeUnretainedValue().shouldInterrupt() ? 1 : 0
}
