import Foundation
import Testing
@testable import Media
import LibAV

func tinyClip(_ source: String, _ sequence: Int) -> Clip {
    try! Clip(source: source, sequence: sequence, data: [Float](repeating: Float(sequence), count: 6), frames: 2,
              height: 1, width: 1, staticIndex: 0)
}

@Suite struct ClipQueueTests {
    @Test func fifoAndBoundedWithPerSourceDrops() {
        let q = ClipQueue(capacity: 4)
        for i in 0..<6 { q.push(tinyClip("a", i), policy: .dropOldest) }
        #expect(q.count == 4)
        #expect(q.dropped(source: "a") == 2)
        #expect(TestSupport.drain(q).map(\.sequence) == [2, 3, 4, 5])
    }

    @Test func aFastSourceCannotPushOutASlowOne() {
        let q = ClipQueue(capacity: 4)
        q.push(tinyClip("slow", 0), policy: .dropOldest)
        for i in 0..<10 { q.push(tinyClip("fast", i), policy: .dropOldest) }
        let left = TestSupport.drain(q)
        #expect(left.filter { $0.source == "slow" }.count == 1)
        #expect(left.filter { $0.source == "fast" }.map(\.sequence) == [7, 8, 9])
        #expect(q.dropped(source: "fast") == 7)
        #expect(q.dropped(source: "slow") == 0)
        #expect(q.droppedBySource == ["fast": 7])
    }

    @Test func waitingProducerBlocksUntilTheConsumerTakes() async {
        let q = ClipQueue(capacity: 4)  // waiting producers may fill 3 slots
        let pushed = ManagedAtomicCounter()
        let t = Thread {
            for i in 0..<5 {
                if q.push(tinyClip("file", i), policy: .wait) { pushed.increment() }
            }
        }
        t.start()
        #expect(await TestSupport.eventually(timeout: 2) { pushed.value == 3 })
        try? await Task.sleep(nanoseconds: 100_000_000)
        #expect(pushed.value == 3)  // still blocked: nothing lost, nothing dropped
        #expect(q.tryPop()?.sequence == 0)
        #expect(q.tryPop()?.sequence == 1)
        #expect(await TestSupport.eventually(timeout: 2) { pushed.value == 5 })
        #expect(TestSupport.drain(q).map(\.sequence) == [2, 3, 4])
        #expect(q.dropped(source: "file") == 0)
        // A live clip still finds room next to a full share of waiting clips.
        for i in 0..<3 { q.push(tinyClip("file", i), policy: .wait) }
        q.push(tinyClip("live", 0), policy: .dropOldest)
        #expect(q.count == 4)
    }

    @Test func blockedProducerReturnsOnCancelAndClose() async {
        let q = ClipQueue(capacity: 1)
        q.push(tinyClip("f", 0), policy: .wait)
        let cancel = ManagedAtomicCounter()
        let result = ManagedAtomicCounter()
        let t = Thread {
            let ok = q.push(tinyClip("f", 1), policy: .wait, isCancelled: { cancel.value > 0 })
            result.add(ok ? 1 : 2)
        }
        t.start()
        try? await Task.sleep(nanoseconds: 100_000_000)
        #expect(result.value == 0)
        cancel.increment()
        #expect(await TestSupport.eventually(timeout: 2) { result.value == 2 })
        let t2 = Thread {
            let ok = q.push(tinyClip("f", 2), policy: .wait)
            result.add(ok ? 10 : 20)
        }
        t2.start()
        try? await Task.sleep(nanoseconds: 50_000_000)
        q.close()
        #expect(await TestSupport.eventually(timeout: 2) { result.value == 22 })
        #expect(!q.push(tinyClip("f", 3), policy: .dropOldest))
        // Closed queues still hand out what they hold, then nil.
        #expect(await q.next()?.sequence == 0)
        #expect(await q.next() == nil)
    }

    @Test func asyncConsumerWakesOnPushAndBatches() async throws {
        let q = ClipQueue(capacity: 8)
        let consumer = Task { await q.nextBatch(count: 3) }
        try await Task.sleep(nanoseconds: 50_000_000)
        let producer = Thread {
            for i in 0..<3 {
                q.push(tinyClip("x", i), policy: .dropOldest)
                usleep(10_000)
            }
        }
        producer.start()
        let batch = try #require(await consumer.value)
        #expect(batch.shape == [3, 3, 2, 1, 1])
        #expect(batch.data == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2])
        #expect(batch.staticIndices == [0, 0, 0])
    }

    @Test func cancellingAWaitingConsumerReturnsNil() async {
        let q = ClipQueue(capacity: 2)
        let consumer = Task { await q.next() }
        try? await Task.sleep(nanoseconds: 50_000_000)
        consumer.cancel()
        #expect(await consumer.value == nil)
        // The cancelled waiter is gone: a later clip goes to the queue, not to it.
        q.push(tinyClip("x", 5), policy: .dropOldest)
        #expect(q.count == 1)
    }

    @Test func asyncSequenceEndsAfterClose() async {
        let q = ClipQueue(capacity: 8)
        for i in 0..<3 { q.push(tinyClip("x", i), policy: .wait) }
        q.close()
        var seen: [Int] = []
        for await c in q { seen.append(c.sequence) }
        #expect(seen == [0, 1, 2])
    }
}

/// A tiny lock-protected counter for tests.
final class ManagedAtomicCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var v = 0
    var value: Int { lock.withLock { v } }
    func increment() { add(1) }
    func add(_ n: Int) { lock.withLock { v += n } }
}

@Suite struct LedgerTests {
    @Test func recordsMatchesAndRoundTrips() throws {
        var ledger = IngestLedger()
        ledger.record(.init(path: "/in/a.mp4", size: 100, modified: 5, outcome: .ingested, clips: 3))
        ledger.record(.init(path: "/in/b.mp4", size: 0, modified: 6, outcome: .rejected, reason: "empty"))
        #expect(ledger.contains(path: "/in/a.mp4", size: 100, modified: 5))
        #expect(!ledger.contains(path: "/in/a.mp4", size: 101, modified: 5))  // replaced file
        #expect(!ledger.contains(path: "/in/a.mp4", size: 100, modified: 7))
        #expect(!ledger.contains(path: "/in/c.mp4", size: 100, modified: 5))
        let dir = try TestSupport.makeDirectory("ledger")
        defer { TestSupport.removeDirectory(dir) }
        let path = IngestLedger.path(stateDirectory: dir, folder: "/in")
        #expect(path.hasPrefix(dir + "/ledger-in-"))
        #expect(path != IngestLedger.path(stateDirectory: dir, folder: "/other/in"))
        try ledger.save(to: path)
        let back = try IngestLedger.load(from: path)
        #expect(back.entries.map(\.path) == ["/in/a.mp4", "/in/b.mp4"])
        #expect(back.entry(for: "/in/b.mp4")?.reason == "empty")
        #expect(back.contains(path: "/in/a.mp4", size: 100, modified: 5))
        #expect(try IngestLedger.load(from: dir + "/missing.json").count == 0)
        try Data("not json".utf8).write(to: URL(fileURLWithPath: dir + "/bad.json"))
        let e = #expect(throws: MediaError.self) { try IngestLedger.load(from: dir + "/bad.json") }
        #expect(e?.code == .fileSystem)
    }

    @Test func mergeKeepsTheNewerEntryAndPruneDrops() {
        var a = IngestLedger()
        a.record(.init(path: "/x", size: 1, modified: 1, outcome: .ingested, recorded: Date(timeIntervalSince1970: 10)))
        var b = IngestLedger()
        b.record(.init(path: "/x", size: 2, modified: 2, outcome: .ingested, recorded: Date(timeIntervalSince1970: 20)))
        b.record(.init(path: "/y", size: 3, modified: 3, outcome: .rejected, recorded: Date(timeIntervalSince1970: 5)))
        a.merge(b)
        #expect(a.entry(for: "/x")?.size == 2)
        #expect(a.count == 2)
        a.prune { $0.path != "/y" }
        #expect(a.entries.map(\.path) == ["/x"])
    }
}

@Suite struct WatchHelpersTests {
    @Test func skipsHiddenAndTemporaryNames() {
        for ok in ["a.mp4", "clip.MKV", "x", "movie.part.mp4"] { #expect(WatchFileFilter.isCandidate(ok), "\(ok)") }
        for skip in [".hidden.mp4", "a.tmp", "b.PART", "c.partial", "d.crdownload", "e.mp4~", ""] {
            #expect(!WatchFileFilter.isCandidate(skip), "\(skip)")
        }
    }

    @Test func fileIsReadyOnlyAfterItStopsChanging() {
        var t = SettleTracker(settle: 2)
        let wall = 1_000_000.0
        let fresh = Int64(wall * 1e9)
        t.observe("/a", identity: FileIdentity(size: 10, modified: fresh, isRegular: true), now: 0, wallNow: wall)
        #expect(t.takeReady(now: 1.9).isEmpty)
        // It grew: the clock starts again.
        t.observe("/a", identity: FileIdentity(size: 20, modified: fresh + 1, isRegular: true), now: 1.9, wallNow: wall + 1.9)
        #expect(t.takeReady(now: 3.0).isEmpty)
        // Unchanged observations do not restart it.
        t.observe("/a", identity: FileIdentity(size: 20, modified: fresh + 1, isRegular: true), now: 3.5, wallNow: wall + 3.5)
        #expect(t.takeReady(now: 3.95) == ["/a"])
        #expect(t.isEmpty)
        // A file whose modification time is already old is ready at once; a removed one never.
        t.observe("/old", identity: FileIdentity(size: 5, modified: fresh - 10_000_000_000, isRegular: true), now: 10, wallNow: wall)
        t.observe("/gone", identity: FileIdentity(size: 5, modified: fresh, isRegular: true), now: 10, wallNow: wall)
        t.remove("/gone")
        #expect(t.takeReady(now: 10) == ["/old"])
        #expect(t.takeReady(now: 100).isEmpty)
    }
}
