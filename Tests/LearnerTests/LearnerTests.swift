import ConceptModel
import Foundation
import Testing
import Synchronization
@testable import Learner
import Autograd
import SeededRandom

@Suite struct SHA256Tests {
    @Test func standardVectors() {
        #expect(SHA256.hex(Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var s = SHA256()
        for _ in 0..<1000 { s.update([UInt8](repeating: 0x61, count: 1000)) }   // one million 'a'
        #expect(s.finalizeHex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}

@Suite struct ReplayBufferTests {
    static func clip(_ source: String, _ v: Float) -> ReplayClip { ReplayClip(data: [v], staticIndex: 0, source: source) }

    @Test func fifoEvictsFromTheSourceHoldingTheMost() {
        let buffer = ReplayBuffer(capacity: 6, policy: .fifo)
        for i in 0..<20 { buffer.add(Self.clip("bursty", Float(i))) }
        buffer.add(Self.clip("quiet", 100))
        buffer.add(Self.clip("quiet", 101))
        #expect(buffer.count == 6)
        #expect(buffer.countsBySource == ["bursty": 4, "quiet": 2])
        #expect(buffer.totalSeen == 22)
    }

    @Test func samplingIsBalancedOverSources() {
        let buffer = ReplayBuffer(capacity: 100, policy: .fifo)
        for i in 0..<90 { buffer.add(Self.clip("a", Float(i))) }
        for i in 0..<10 { buffer.add(Self.clip("b", Float(i))) }
        var rng = SeededGenerator(seed: 1)
        let draws = (0..<200).flatMap { _ in buffer.sample(8, using: &rng)! }
        let fromB = draws.filter { $0.source == "b" }.count
        #expect(fromB > 650 && fromB < 950, "source b drawn \(fromB) of 1600 times; balanced sampling gives ~800")
        #expect(ReplayBuffer(capacity: 4).sample(1, using: &rng) == nil)
    }

    @Test func reservoirKeepsAUniformSampleOfTheStream() {
        var early = 0
        for seed in 0..<200 {
            let buffer = ReplayBuffer(capacity: 10, policy: .reservoir, seed: UInt64(seed))
            for i in 0..<100 { buffer.add(Self.clip("s", Float(i))) }
            var rng = SeededGenerator(seed: UInt64(seed))
            early += buffer.sample(10, using: &rng)!.filter { $0.data[0] < 50 }.count
        }
        #expect(early > 850 && early < 1150, "half of the stream should be in the reservoir half the time, got \(early) of 2000")
    }

    /// The waiter is a thread of its own, as the trainer's is: a test task of the cooperative pool, which a loaded
    /// machine can hold back for seconds, would make the wait time out before the clips were added.
    @Test func waitBlocksUntilEnoughClipsWithoutSpinning() throws {
        let buffer = ReplayBuffer(capacity: 10)
        let start = Date()
        #expect(!buffer.wait(forAtLeast: 2, timeout: 0.2))
        #expect(Date().timeIntervalSince(start) >= 0.19)
        let woke = Mutex<Bool?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let ok = buffer.wait(forAtLeast: 2, timeout: 300)
            woke.withLock { $0 = ok }
            done.signal()
        }.start()
        Thread.sleep(forTimeInterval: 0.05)
        buffer.add(Self.clip("s", 1))
        #expect(woke.withLock { $0 } == nil, "the wait returned with one clip")
        buffer.add(Self.clip("s", 2))
        #expect(done.wait(timeout: .now() + 300) == .success)
        #expect(woke.withLock { $0 } == true)
        let closed = ReplayBuffer(capacity: 4)
        closed.close()
        #expect(!closed.wait(forAtLeast: 1, timeout: 10))
    }
}

@Suite struct PolicyTests {
    @Test func nonFiniteGuardSkipsThenRollsBack() {
        var g = NonFiniteGuard(limit: 3)
        #expect(g.record(finite: false) == .skip)
        #expect(g.record(finite: false) == .skip)
        #expect(g.record(finite: true) == .proceed)
        #expect(g.record(finite: false) == .skip)
        #expect(g.record(finite: false) == .skip)
        #expect(g.record(finite: false) == .rollback)
        #expect(g.consecutive == 0 && g.total == 5)
    }

    @Test func snapshotScheduleBySteps_andSeconds() {
        var s = SnapshotSchedule(everySteps: 10, everySeconds: 60, now: 0)
        #expect(!s.isDue(step: 9, now: 5))
        #expect(s.isDue(step: 10, now: 5))
        s.didSnapshot(step: 10, now: 5)
        #expect(!s.isDue(step: 11, now: 30))
        #expect(s.isDue(step: 11, now: 66))
        #expect(!s.isDue(step: 10, now: 1000), "no snapshot without progress")
        let never = SnapshotSchedule(everySteps: nil, everySeconds: nil, now: 0)
        #expect(!never.isDue(step: 1_000_000, now: 1e9))
    }
}

@Suite struct SnapshotTests {
    static func tempDir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("conceptd-snap-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    static func config() throws -> ModelConfig {
        var c = try ModelConfig.preset("tiny")
        c.widths = [4, 8, 8, 8]; c.stem = 4; c.blocks = [1, 1, 1, 1]; c.ks = 6; c.kd = 6; c.topK = 2
        c.frames = 2; c.height = 16; c.width = 16; c.queueLength = 8
        return c
    }

    /// Batch `k` of a fixed, reproducible data order.
    static func batch(_ k: Int) -> Tensor {
        var rng = SeededGenerator(seed: UInt64(1000 + k))
        return Tensor.normal([3, 3, 3, 16, 16], using: &rng)
    }

    @Test func generationsAreWrittenAtomicallyPrunedAndVerified() throws {
        let dir = try Self.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let store = SnapshotStore(directory: dir, keep: 2)
        for step in 1...3 { try store.write(step: step, configHash: "h", files: ["a.bin": [UInt8](repeating: UInt8(step), count: 100)]) }
        #expect(store.generations().map(\.lastPathComponent) == ["snapshot-000000000003", "snapshot-000000000002"])
        // Damage the newest: it is skipped with a reason and the previous one loads.
        let newest = store.generations()[0].appendingPathComponent("a.bin")
        try Data([9, 9, 9]).write(to: newest)
        let (found, skipped) = store.newestValid()
        #expect(found?.0.step == 2)
        #expect(skipped.count == 1 && skipped[0].contains("checksum"))
        // A half-written temporary directory of a dead writer is not a generation and is cleaned up.
        let stale = dir.appendingPathComponent(".tmp-snapshot-000000000009-999999-1")
        try FileManager.default.createDirectory(at: stale, withIntermediateDirectories: true)
        #expect(store.newestValid().snapshot?.0.step == 2)
        store.prune()
        #expect(!FileManager.default.fileExists(atPath: stale.path))
    }

    @Test func anUnwritableDirectoryIsAnErrorAndTheLastGoodSnapshotStays() throws {
        let dir = try Self.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let store = SnapshotStore(directory: dir, keep: 3)
        try store.write(step: 1, configHash: "h", files: ["a": [1, 2, 3]])
        let blocked = SnapshotStore(directory: dir.appendingPathComponent("a-file"), keep: 3)
        try Data([0]).write(to: dir.appendingPathComponent("a-file"))
        #expect(throws: TrainerError.self) { try blocked.write(step: 2, configHash: "h", files: ["a": [1]]) }
        #expect(store.newestValid().snapshot?.0.step == 1)
    }

    /// A run resumed from a snapshot continues exactly; with split heads held as one for the first `k` steps
    /// (`v_heads_shared_steps = k`, the snapshot taken at step k), the resumed run makes the heads' copy as the
    /// straight run does.
    @Test(arguments: [false, true])
    func aResumedRunContinuesExactly(sharedHeads: Bool) throws {
        let dir = try Self.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let k = 3
        var config = try Self.config()
        if sharedHeads { config.vHeads = .split; config.vHeadsInit = .identity; config.vHeadsSharedSteps = k }
        // One run of 2k steps.
        let straight = try Trainer(config: config, batchSize: 3, warmupSteps: 2, seed: 5, store: nil)
        for i in 0..<(2 * k) { _ = try straight.step(frames: Self.batch(i)) }
        // k steps, snapshot, a new process-like trainer resumes, k more.
        let first = try Trainer(config: config, batchSize: 3, warmupSteps: 2, seed: 5, store: SnapshotStore(directory: dir))
        for i in 0..<k { _ = try first.step(frames: Self.batch(i)) }
        try first.snapshot()
        let second = try Trainer(config: config, batchSize: 3, warmupSteps: 2, seed: 99, store: SnapshotStore(directory: dir))
        let (loaded, skipped) = try second.resume()
        #expect(loaded?.manifest.step == k && skipped.isEmpty)
        #expect(second.state.step == k)
        for i in k..<(2 * k) { _ = try second.step(frames: Self.batch(i)) }
        #expect(second.state == straight.state)
        let a = straight.learner.model.namedParameters() + straight.learner.model.namedBuffers()
        let b = second.learner.model.namedParameters() + second.learner.model.namedBuffers()
        var worst: Double = 0
        for (x, y) in zip(a, b) {
            for (u, v) in zip(x.1.values, y.1.values) { worst = Swift.max(worst, Double(Swift.abs(u - v))) }
        }
        #expect(worst <= 1e-6, "largest weight difference \(worst)")
        #expect(second.learner.optimizer.momentumBuffer == straight.learner.optimizer.momentumBuffer)
        #expect(second.learner.queues == straight.learner.queues)
        if sharedHeads {
            let p = second.learner.model.parameters!
            #expect(!second.learner.model.splitHeadsShared && p["sigma_vd.0.weight"]!.values != p["sigma_vs.0.weight"]!.values)
        }
    }

    /// A snapshot of another model configuration (say, the previous default method's) is refused with the keys that
    /// differ and their values on both sides, and the refusal changes nothing.
    @Test func aSnapshotOfAnotherConfigurationIsRefusedWithTheKeysThatDiffer() throws {
        let dir = try Self.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let first = try Trainer(config: Self.config(), batchSize: 3, warmupSteps: 2, seed: 5, store: SnapshotStore(directory: dir))
        _ = try first.step(frames: Self.batch(0))
        try first.snapshot()
        var other = try Self.config()
        other.nceTau = 0.2; other.vHeads = .split; other.vHeadsInit = .identity; other.staticConsistency = 10
        let second = try Trainer(config: other, batchSize: 3, warmupSteps: 2, seed: 5, store: SnapshotStore(directory: dir))
        let before = second.learner.model.parameters.values.buffer.map { $0 }
        do {
            try second.resume()
            Issue.record("a snapshot of another configuration was resumed")
        } catch let error as TrainerError {
            #expect(error.code == .snapshotRead)
            for part in ["another model configuration", "nce_tau = 0.07 there, 0.2 here", "v_heads = shared there, split here",
                         "v_heads_init = random there, identity here", "static_consistency = 0.0 there, 10.0 here",
                         "set those [model] keys to resume it"] {
                #expect(error.message.contains(part), "\(error.message) lacks \(part)")
            }
            #expect(!error.message.contains("nce_reverse"), "an option equal on both sides is not listed: \(error.message)")
        }
        #expect(second.state.step == 0 && second.learner.model.parameters.values.buffer.map { $0 } == before)
        // The same configuration resumes.
        let third = try Trainer(config: Self.config(), batchSize: 3, warmupSteps: 2, seed: 5, store: SnapshotStore(directory: dir))
        #expect(try third.resume().loaded?.manifest.step == 1)
    }

    @Test func aSnapshotFromBeforeTheGeneratorMergeResumesAndABadGeneratorStateIsRefused() throws {
        // Before 2026-12-06 trainer.json held xoshiro256**'s four state words; such a snapshot resumes on a sequence
        // folded from them (the same one every time), and is saved back with one word.
        let trainer = try Trainer(config: Self.config(), batchSize: 3, warmupSteps: 2, seed: 5, store: nil)
        _ = try trainer.step(frames: Self.batch(0))
        func files(rng: String) throws -> [String: [UInt8]] {
            var f = try trainer.snapshotFiles()
            var json = try #require(JSONSerialization.jsonObject(with: Data(f["trainer.json"]!)) as? [String: Any])
            json["rng"] = try JSONSerialization.jsonObject(with: Data(rng.utf8))
            f["trainer.json"] = Array(try JSONSerialization.data(withJSONObject: json))
            return f
        }
        let legacy = try files(rng: "[1311768467294899695, 42, 7, 9]")
        let a = try Trainer(config: Self.config(), batchSize: 3, warmupSteps: 2, seed: 8, store: nil)
        let b = try Trainer(config: Self.config(), batchSize: 3, warmupSteps: 2, seed: 9, store: nil)
        try a.restore(files: legacy)
        try b.restore(files: legacy)
        #expect(a.state.step == 1 && a.state == b.state)
        _ = try a.step(frames: Self.batch(1))
        _ = try b.step(frames: Self.batch(1))
        #expect(a.state == b.state && a.state.rng.count == 1)
        #expect(a.learner.model.parameters.values.buffer.map { $0 } == b.learner.model.parameters.values.buffer.map { $0 })
        for bad in ["[0, 0, 0, 0]", "[1, 2]", "[]"] {
            #expect(throws: TrainerError.self, "rng \(bad)") { try a.restore(files: files(rng: bad)) }
        }
        #expect(a.state.step == 2, "a refused snapshot changes nothing")
    }

    @Test func nonFiniteStepsAreSkippedThenRolledBack() throws {
        let dir = try Self.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let trainer = try Trainer(config: Self.config(), batchSize: 3, warmupSteps: 0, seed: 1, store: SnapshotStore(directory: dir), nonFiniteLimit: 2)
        _ = try trainer.step(frames: Self.batch(0))
        try trainer.snapshot()
        let good = trainer.learner.model.parameters.values.buffer.map { $0 }
        let poison = Tensor.filled([3, 3, 3, 16, 16], .nan)
        let statsBefore = trainer.learner.model.namedBuffers().map { $0.1.values }
        guard case .skipped = try trainer.step(frames: poison) else { Issue.record("a NaN batch must be skipped"); return }
        #expect(trainer.learner.model.namedBuffers().map { $0.1.values } == statsBefore, "a skipped step must not touch batch-norm statistics")
        #expect(trainer.learner.model.parameters.values.buffer.map { $0 } == good)
        guard case .rolledBack(let snap) = try trainer.step(frames: poison) else { Issue.record("the second NaN in a row must roll back"); return }
        #expect(snap != nil)
        #expect(trainer.learner.model.parameters.values.buffer.map { $0 } == good)
        #expect(trainer.state.step == 1 && trainer.state.skippedSteps == 2 && trainer.state.rollbacks == 1)
    }
}
