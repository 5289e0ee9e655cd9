import Foundation
import Testing
@testable import Media
import LibAV
import ConceptTestSupport

/// Live sources: lavfi devices and loopback network streams that come, go and hang.
@Suite(.serialized) struct LiveSourceTests {
    init() { _ = TestSupport.quiet }

    static let smallClip = ClipOptions(frames: 5, height: 32, width: 32, fps: 8, stride: 5)

    @Test func lavfiDeviceProducesClipsInRealTime() async throws {
        let queue = ClipQueue(capacity: 16)
        let source = try MediaSource(
            uri: "lavfi:testsrc2=size=64x48:rate=25", name: "lavfi",
            options: TestSupport.quiet(SourceOptions(clip: Self.smallClip, libavOptions: ["no_such_option": "1"])), queue: queue)
        source.start()
        defer { source.stop() }
        let started = Date()
        #expect(await TestSupport.eventually(timeout: 10) { source.statistics.clipsMade >= 3 })
        let elapsed = Date().timeIntervalSince(started)
        let stats = source.statistics
        #expect(stats.state == .live)
        // Paced like `ffmpeg -re`: 3 clips of 5 frames at 8 fps take about 1.9 s of stream time.
        #expect(elapsed > 1.5, "\(elapsed) s")
        #expect(stats.measuredFPS > 12 && stats.measuredFPS < 40, "\(stats.measuredFPS) fps")
        #expect(stats.decodeSecondsPerFrame > 0)
        #expect(stats.lastFrameTime != nil)
        #expect(stats.warnings.contains { $0.contains("no_such_option") })
        let clips = TestSupport.drain(queue)
        #expect(clips.count >= 3)
        #expect(clips.allSatisfy { $0.shape == [3, 5, 32, 32] && $0.source == "lavfi" })
        // The test pattern moves: consecutive frames differ.
        let views = try ClipViews(clip: clips[0])
        #expect(views.d.contains { abs($0) > 0.1 })
        source.stop()
        #expect(await TestSupport.finishes(source, within: 2))
        #expect(source.statistics.state == .finished)
    }

    @Test func streamGoesLiveDropsBacksOffAndReconnects() async throws {
        let port = try TestSupport.freePort()
        var server: ChildProcess? = try ChildProcess.streamServer(port: port)
        defer { server?.stop() }
        let queue = ClipQueue(capacity: 8)
        let options = SourceOptions(
            clip: Self.smallClip, libavOptions: ["analyzeduration": "500000", "probesize": "100000"],
            openTimeout: 3, stallSeconds: 3,
            backoff: BackoffPolicy(initial: 0.2, maximum: 1, multiplier: 2, jitter: 0.1))
        let source = try MediaSource(uri: "tcp://127.0.0.1:\(port)", options: TestSupport.quiet(options), queue: queue)
        source.start()
        defer { source.stop() }
        #expect(await TestSupport.eventually(timeout: 20) { source.statistics.clipsMade >= 2 },
                "never went live: \(source.statistics)")
        #expect(source.statistics.state == .live)
        #expect(source.statistics.warnings.isEmpty, "\(source.statistics.warnings)")
        #expect(source.overflow == .dropOldest)

        server?.stop()
        server = nil
        #expect(await TestSupport.eventually(timeout: 8) {
            let s = source.statistics
            return s.state == .backoff || s.state == .connecting
        }, "did not notice the server going away: \(source.statistics)")
        let clipsBefore = source.statistics.clipsMade
        try await Task.sleep(nanoseconds: 700_000_000)  // a few failed attempts against a closed port
        #expect(source.statistics.state != .live)

        server = try ChildProcess.streamServer(port: port)
        #expect(await TestSupport.eventually(timeout: 20) {
            let s = source.statistics
            return s.reconnects >= 1 && s.state == .live && s.clipsMade >= clipsBefore + 2
        }, "did not reconnect: \(source.statistics)")
        source.stop()
        #expect(await TestSupport.finishes(source, within: 3))
    }

    @Test func serverThatNeverSendsCannotHangTheSource() async throws {
        let silent = try SilentServer()
        defer { silent.stop() }
        let queue = ClipQueue(capacity: 16)
        // stallSeconds (and with it libav's own rw_timeout) is long: only the interrupt deadline can end the
        // open after 1 s.
        let options = SourceOptions(clip: Self.smallClip, openTimeout: 1, stallSeconds: 60,
                                    backoff: BackoffPolicy(initial: 0.3, maximum: 0.5, jitter: 0))
        let stuck = try MediaSource(uri: "tcp://127.0.0.1:\(silent.port)", name: "silent", options: TestSupport.quiet(options), queue: queue)
        // A healthy source next to it keeps going.
        let healthy = try MediaSource(uri: "lavfi:testsrc2=size=64x48:rate=25", name: "healthy",
                                      options: TestSupport.quiet(SourceOptions(clip: Self.smallClip)), queue: queue)
        let started = Date()
        stuck.start()
        healthy.start()
        defer {
            stuck.stop()
            healthy.stop()
        }
        // Without the deadline an open would wait the 60 s stall time, so bounds of 10 and 15 s tell the two apart with
        // room for a loaded machine. The error is sticky, unlike the 0.3 s backoff state, which a poll can miss.
        #expect(await TestSupport.eventually(timeout: 10) { stuck.statistics.lastError?.contains("timedOut") == true },
                "no timed-out open after \(Date().timeIntervalSince(started)) s: \(stuck.statistics)")
        // It keeps retrying; each attempt is cut at the deadline (three opens would take over 120 s without it).
        #expect(await TestSupport.eventually(timeout: 15) { silent.acceptedCount >= 3 },
                "\(silent.acceptedCount) opens after \(Date().timeIntervalSince(started)) s")
        #expect(healthy.statistics.clipsMade >= 2, "the healthy source stalled: \(healthy.statistics)")
        // Stop interrupts a blocked open at once.
        #expect(await TestSupport.eventually(timeout: 15) { stuck.statistics.state == .connecting })
        // Timed on this thread (`join` blocks it), not across a task suspension, which a busy test pool can stretch
        // by seconds on a loaded machine.
        let stopAt = Date()
        stuck.stop()
        #expect(stuck.join(timeout: 2))
        #expect(Date().timeIntervalSince(stopAt) < 1)
        #expect(stuck.statistics.state == .finished)
    }

    @Test func streamThatStopsDeliveringIsReopened() async throws {
        let dir = try TestSupport.makeDirectory("stall")
        defer { TestSupport.removeDirectory(dir) }
        try TestSupport.testVideo(dir + "/one.ts", seconds: 1.5, extra: ["-f", "mpegts"])
        let payload = try Data(contentsOf: URL(fileURLWithPath: dir + "/one.ts"))
        // Sends 1.5 s of stream at once, then holds the connection open in silence.
        let server = try SilentServer(payload: payload)
        defer { server.stop() }
        let queue = ClipQueue(capacity: 16)
        // A short probe, so the open finishes on the data sent and the stall happens while reading.
        let options = SourceOptions(clip: Self.smallClip, libavOptions: ["analyzeduration": "300000"],
                                    openTimeout: 2, stallSeconds: 1,
                                    backoff: BackoffPolicy(initial: 0.2, maximum: 0.4, jitter: 0))
        let source = try MediaSource(uri: "tcp://127.0.0.1:\(server.port)", options: TestSupport.quiet(options), queue: queue)
        source.start()
        defer { source.stop() }
        #expect(await TestSupport.eventually(timeout: 10) {
            let s = source.statistics
            return s.stalls >= 2 && s.reconnects >= 1
        }, "\(source.statistics)")
        let s = source.statistics
        #expect(s.framesDecoded >= 2 * 37)
        #expect(s.clipsMade >= 4)
        #expect(server.acceptedCount >= 2)
        source.stop()
        #expect(await TestSupport.finishes(source, within: 2))
    }

    @Test func ingestHubRunsSourcesAndBatches() async throws {
        let ingest = MediaIngest(queueCapacity: 8)
        try ingest.add("lavfi:testsrc2=size=64x48:rate=50", name: "a", options: TestSupport.quiet(SourceOptions(clip: Self.smallClip)))
        try ingest.add("lavfi:mandelbrot=size=64x48:rate=50", name: "b", options: TestSupport.quiet(SourceOptions(clip: Self.smallClip)))
        #expect(throws: MediaError.self) { try ingest.add("lavfi:testsrc2", name: "a") }
        #expect(throws: MediaError.self) { try ingest.add("nosuch://x") }
        let batch = try #require(await ingest.queue.nextBatch(count: 4))
        #expect(batch.shape == [4, 3, 5, 32, 32])
        #expect(batch.staticIndices.allSatisfy { (0..<4).contains($0) })
        let views = try ClipViews(batch: batch)
        #expect(views.shape == [4, 3, 4, 32, 32])
        #expect(Set(ingest.statistics().map(\.name)) == ["a", "b"])
        await ingest.remove(named: "b")
        #expect(ingest.sources.map(\.name) == ["a"])
        await ingest.shutdown()
        #expect(ingest.queue.isClosed)
        #expect(ingest.statistics().allSatisfy { $0.state == .finished })
    }
}
