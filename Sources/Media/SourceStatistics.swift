import Foundation
import Synchronization
import ConceptReports
import LibAV

/// The lock-protected live counters behind `SourceStatistics`, updated by the source's thread.
final class StatisticsBox: Sendable {
    private struct Inner {
        var stats: SourceStatistics
        var windowStart: Double = monotonicSeconds()
        var windowFrames = 0
        var decodeSeconds = 0.0
        var decodeFrames = 0
    }

    private let inner: Mutex<Inner>

    init(name: String, uri: String) {
        inner = Mutex(Inner(stats: SourceStatistics(name: name, uri: uri)))
    }

    /// The counters now; a rate window older than two seconds (a stalled source) is reported as it stands.
    var snapshot: SourceStatistics {
        let now = monotonicSeconds()
        return inner.withLock { s in
            var stats = s.stats
            let elapsed = now - s.windowStart
            if elapsed >= 2 { stats.measuredFPS = Double(s.windowFrames) / elapsed }
            return stats
        }
    }

    func update(_ body: (inout SourceStatistics) -> Void) {
        inner.withLock { body(&$0.stats) }
    }

    func warn(_ message: String) {
        inner.withLock {
            $0.stats.warnings.append(message)
            if $0.stats.warnings.count > 32 { $0.stats.warnings.removeFirst($0.stats.warnings.count - 32) }
        }
    }

    /// Records `frames` decoded frames that took `decodeSeconds` of decoder time.
    func framesDecoded(_ frames: Int, decodeSeconds: Double) {
        let now = monotonicSeconds()
        inner.withLock { s in
            s.stats.framesDecoded += frames
            s.stats.lastFrameTime = Date()
            s.windowFrames += frames
            s.decodeSeconds += decodeSeconds
            s.decodeFrames += frames
            if s.decodeFrames > 0 { s.stats.decodeSecondsPerFrame = s.decodeSeconds / Double(s.decodeFrames) }
            let elapsed = now - s.windowStart
            if elapsed >= 1 {
                s.stats.measuredFPS = Double(s.windowFrames) / elapsed
                s.windowFrames = 0
                s.windowStart = now
            }
        }
    }
}
