import CBLAS
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Worker count for memory-bound loops: the machine's cores (2 on the target boxes).
/// Override with `CONCEPT_THREADS`.
public let tensorThreads: Int = {
    if let v = getenv("CONCEPT_THREADS").flatMap({ Int(String(cString: $0)) }), v >= 1 { return v }
    return max(1, min(ProcessInfoCores.count, 8))
}()

enum ProcessInfoCores {
    static let count: Int = {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return 1
        #endif
    }()
}

/// Splits `0..<count` into contiguous chunks run on up to `tensorThreads` threads when the work is large
/// enough (`count * costPerItem >= 1<<16`), else runs inline.
@inline(__always)
func parallelChunks(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
    let chunks = (count * costPerItem >= 1 << 16) ? min(tensorThreads, count) : 1
    if chunks <= 1 { body(0..<count); return }
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            box.value(lo..<hi)
        }
    }
}

/// Carries a value into a `@Sendable` closure when the caller guarantees disjoint use (chunked kernels).
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Sets how many threads tensor kernels and OpenBLAS use (`n >= 1`; 0 keeps one per core). Call once, before
/// the first tensor operation: kernels read their thread counts when first used.
public func configureComputeThreads(_ n: Int) {
    guard n > 0 else { return }
    setenv("CONCEPT_THREADS", "\(n)", 1)
    setenv("CONV3D_WORKERS", "\(n)", 1)
    openblas_set_num_threads(Int32(n))
}

/// Keeps OpenBLAS single-threaded while `body` runs: clip-parallel conv workers each call sgemm, and small products
/// are not worth waking (and then spinning) OpenBLAS's threads. Calls may overlap and nest (a count of callers
/// inside); the thread count found on entry is restored when the last one leaves.
enum BLASThreads {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var inside = 0
    nonisolated(unsafe) private static var saved: Int32 = 1

    static func singleThreaded(_ body: () -> Void) {
        lock.lock()
        if inside == 0 {
            saved = Int32(openblas_get_num_threads())
            if saved != 1 { openblas_set_num_threads(1) }
        }
        inside += 1
        lock.unlock()
        body()
        lock.lock()
        inside -= 1
        if inside == 0 && saved != 1 { openblas_set_num_threads(saved) }
        lock.unlock()
    }
}
