import CBLAS
import Dispatch
import Glibc
import Synchronization

/// The one worker count of the compute kernels: memory-bound loops, clip-parallel convolutions and OpenBLAS.
/// It starts at the machine's online cores (at most 8) and is changed only through `configure(_:)`, an explicit
/// value from the configuration (`threads`) or a command-line option, before training starts.
public enum ComputeThreads {
    private static let value = Atomic<Int>(defaultCount)

    /// The online cores, at most 8 (the target boxes have 2).
    public static let defaultCount: Int = max(1, min(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 8))

    /// Workers the kernels split their loops over.
    public static var count: Int { value.load(ordering: .relaxed) }

    /// Sets the worker count of the kernels and of OpenBLAS (`n >= 1`; 0 keeps the default).
    public static func configure(_ n: Int) {
        guard n > 0 else { return }
        value.store(n, ordering: .relaxed)
        openblas_set_num_threads(Int32(n))
    }
}

/// The one parallel-for of the kernels: splits `0..<count` into up to `ComputeThreads.count` contiguous chunks
/// and runs `body` on each, in parallel when `work` (an estimate of the elements touched) reaches `minWork`,
/// else inline on the calling thread. The chunks must write disjoint memory.
@inline(__always)
public func parallelFor(_ count: Int, work: Int, minWork: Int = 1 << 16, workers: Int = ComputeThreads.count,
                        _ body: (Range<Int>) -> Void) {
    let parts = work >= minWork ? min(workers, count) : 1
    if parts <= 1 { body(0..<count); return }
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            box.value(count * p / parts ..< count * (p + 1) / parts)
        }
    }
}

/// `parallelFor` with the work estimated as `count * costPerItem`.
@inline(__always)
public func parallelChunks(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
    parallelFor(count, work: count * costPerItem, body)
}

/// Carries a value into a `@Sendable` closure when the caller guarantees disjoint use (chunked kernels).
public struct UncheckedSendable<T>: @unchecked Sendable {
    /// The carried value.
    public let value: T
    /// Wraps `value`.
    public init(_ value: T) { self.value = value }
}

/// Keeps OpenBLAS single-threaded while `body` runs: clip-parallel conv workers each call sgemm, and small products
/// are not worth waking (and then spinning) OpenBLAS's threads. Calls may overlap and nest (a count of callers
/// inside); the thread count found on entry is restored when the last one leaves.
enum BLASThreads {
    private struct State { var inside = 0; var saved: Int32 = 1 }
    private static let state = Mutex(State())

    static func singleThreaded(_ body: () -> Void) {
        state.withLock { s in
            if s.inside == 0 {
                s.saved = Int32(openblas_get_num_threads())
                if s.saved != 1 { openblas_set_num_threads(1) }
            }
            s.inside += 1
        }
        body()
        state.withLock { s in
            s.inside -= 1
            if s.inside == 0 && s.saved != 1 { openblas_set_num_threads(s.saved) }
        }
    }
}
