import Foundation
import Synchronization
import Testing
@testable import Media
import LibAV

@Test func mediaLinksLibav() {
    #expect(MediaLibrary.libavformatVersion.hasPrefix("59") || MediaLibrary.libavformatVersion.first != "0")
}

/// A source whose thread the system refuses fails at once, with the reason, instead of leaving its reader waiting
/// (Foundation's `Thread.start()` drops `pthread_create`'s error). An impossible stack size stands in for the refusal.
@Test func aSourceWhoseThreadCannotStartFailsAtOnce() async throws {
    #expect(throws: MediaError.self) { try DetachedThread.start(name: "impossible", stackSize: Int.max / 2) {} }
    let source = try MediaSource(uri: "file:/nonexistent/clip.mp4", queue: ClipQueue(capacity: 1))
    source.threadStackSize = Int.max / 2
    source.start()
    #expect(source.isFinished)
    #expect(source.join(timeout: 0))
    await source.finished()
    let stats = source.statistics
    #expect(stats.state == .failed)
    #expect(stats.lastError?.contains("cannot start thread") == true, "\(stats.lastError ?? "no error")")
    // A normal stack runs the body, on a thread named by the first 15 bytes.
    let done = DispatchSemaphore(value: 0)
    let name = Mutex("")
    try DetachedThread.start(name: "a-very-long-thread-name", stackSize: 1 << 20) {
        let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
        name.withLock { $0 = comm.trimmingCharacters(in: .whitespacesAndNewlines) }
        done.signal()
    }
    #expect(done.wait(timeout: .now() + 10) == .success)
    #expect(name.withLock { $0 } == "a-very-long-thr")
}
