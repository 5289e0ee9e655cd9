import Foundation
import Synchronization

/// Recycles freed tensor allocations by exact size (a training step allocates the same shapes every time), up to
/// `limitBytes` of idle memory; beyond that, memory goes back to the system. Without it, every step of a large
/// model page-faults its way through gigabytes of fresh zeroed pages (a fifth of a `paper` step, measured).
/// The limit is a quarter of physical memory, at least 768 MiB (`CONCEPT_POOL_MB` overrides).
public final class StoragePool: Sendable {
    /// The process-wide pool.
    public static let shared: StoragePool = {
        if let mb = getenv("CONCEPT_POOL_MB").flatMap({ Int(String(cString: $0)) }), mb >= 0 { return StoragePool(limitBytes: mb << 20) }
        let physical = Int(ProcessInfo.processInfo.physicalMemory)
        return StoragePool(limitBytes: Swift.max(768 << 20, physical / 4))
    }()

    /// Idle allocations by element count (addresses as integers: the pool owns them until handed out).
    private struct Idle { var free: [Int: [UInt]] = [:]; var bytes = 0 }
    private let idle = Mutex(Idle())
    private let limitBytes: Int

    init(limitBytes: Int) { self.limitBytes = limitBytes }

    /// `count` elements, 64-byte aligned, contents unspecified.
    public func take(count: Int) -> UnsafeMutablePointer<Scalar> {
        let bytes = count * MemoryLayout<Scalar>.stride
        let reused: UInt? = idle.withLock { idle in
            guard let address = idle.free[count]?.popLast() else { return nil }
            idle.bytes -= bytes
            return address
        }
        if let reused { return UnsafeMutablePointer(bitPattern: reused)! }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else { fatalError("out of memory allocating \(bytes) bytes") }
        return raw.bindMemory(to: Scalar.self, capacity: count)
    }

    /// Returns what `take(count:)` gave.
    public func give(_ p: UnsafeMutablePointer<Scalar>, count: Int) {
        let bytes = count * MemoryLayout<Scalar>.stride
        let kept = idle.withLock { idle in
            guard idle.bytes + bytes <= limitBytes else { return false }
            idle.free[count, default: []].append(UInt(bitPattern: p))
            idle.bytes += bytes
            return true
        }
        if !kept { Foundation.free(p) }
    }
}
