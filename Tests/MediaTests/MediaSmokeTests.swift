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

/// A source asked to close its queue when it ends wakes a reader blocked on that queue at once (nil after the last
/// clip); by default the queue, shared in the daemon, stays open.
@Test func aSourceClosesItsOwnQueueWhenItEndsOnlyIfAsked() throws {
    _ = TestSupport.quiet
    let dir = try TestSupport.makeDirectory("close-queue")
    defer { TestSupport.removeDirectory(dir) }
    let file = dir + "/clip.mp4"
    try TestSupport.ffmpeg(["-f", "lavfi", "-i", "testsrc=size=32x32:rate=8:duration=2", "-pix_fmt", "yuv420p", file])
    for closes in [true, false] {
        var options = TestSupport.quiet(SourceOptions(clip: ClipOptions(frames: 5, height: 32, width: 32, fps: 8, stride: 5),
                                                      decoderThreads: 1))
        options.closesQueueWhenFinished = closes
        let queue = ClipQueue(capacity: 64)
        let source = try MediaSource(uri: "file:" + file, options: options, queue: queue)
        source.start()
        defer { source.stop(); _ = source.join(timeout: 10) }
        var clips = 0
        let began = Date()
        if closes {
            // Blocks until a clip comes or the queue closes: no polling of isFinished.
            while let _ = queue.pop(timeout: 60) { clips += 1 }
            #expect(Date().timeIntervalSince(began) < 30, "the reader waited for its timeout instead of the close")
            #expect(queue.isClosed && source.isFinished)
        } else {
            #expect(source.join(timeout: 30))
            while let _ = queue.tryPop() { clips += 1 }
            #expect(!queue.isClosed, "a shared queue must outlive one source")
        }
        #expect(clips >= 2, "closes \(closes): \(clips) clips")
        #expect(source.statistics.state == .finished)
    }
}
