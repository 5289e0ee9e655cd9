import CFFmpeg
import Foundation
import Testing
@testable import Media
import LibAV

@Suite struct FrameSamplerTests {
    /// Feeds `times` and returns, for every input frame, how many times it was emitted, plus the jumps.
    func run(_ times: [Double], fps: Double, maxGap: Double = 3) -> (counts: [Int], discontinuities: [Int], jumps: Int) {
        var s = FrameSampler(fps: fps, maxGap: maxGap)
        var counts = [Int](repeating: 0, count: times.count)
        var discontinuities: [Int] = []
        var heldIndex: Int? = nil
        for (i, t) in times.enumerated() {
            let step = s.push(t)
            if let h = heldIndex { counts[h] += step.emitHeld } else { #expect(step.emitHeld == 0) }
            if step.discontinuity { discontinuities.append(i) }
            if step.holdNew { heldIndex = i }
        }
        if let h = heldIndex { counts[h] += s.flush() }
        return (counts, discontinuities, s.jumps)
    }

    @Test func sameRateKeepsEveryFrame() {
        let times = (0..<20).map { Double($0) / 16 }
        let r = run(times, fps: 16)
        #expect(r.counts == [Int](repeating: 1, count: 20))
        #expect(r.jumps == 0)
    }

    @Test func doubleRateKeepsEveryOtherFrame() {
        let times = (0..<32).map { Double($0) / 32 }
        let r = run(times, fps: 16)
        #expect(r.counts.reduce(0, +) == 16)
        for (i, c) in r.counts.enumerated() { #expect(c == (i % 2 == 0 ? 1 : 0), "frame \(i)") }
    }

    @Test func halfRateRepeatsFrames() {
        let times = (0..<10).map { Double($0) / 8 }
        let r = run(times, fps: 16)
        // Ticks every 1/16 s over 0 ... 9/8 s: 19 of them, each frame owning the ticks nearest to it.
        #expect(r.counts.reduce(0, +) == 19)
        #expect(r.counts.allSatisfy { $0 == 1 || $0 == 2 })
    }

    @Test func thirtyToSixteenFollowsTimestamps() {
        let times = (0..<300).map { Double($0) / 30 }
        let r = run(times, fps: 16)
        // 10 s at 16 fps: the ticks 0 ... 9.9375 s and the last frame's own tick.
        #expect(abs(r.counts.reduce(0, +) - 160) <= 1)
        #expect(r.counts.allSatisfy { $0 <= 1 })
    }

    @Test func variableFrameRateIsSampledByTime() {
        // Bursts and gaps (below the jump threshold): ticks follow the clock, not the frame count.
        var times: [Double] = []
        var t = 0.0
        for i in 0..<60 {
            times.append(t)
            t += i % 10 < 5 ? 0.01 : 0.2
        }
        let r = run(times, fps: 10)
        let span = times.last! - times.first!
        #expect(abs(Double(r.counts.reduce(0, +)) - (span * 10 + 1)) <= 1)
    }

    @Test func backwardAndForwardJumpsAreDiscontinuities() {
        var times = (0..<10).map { Double($0) / 16 }
        times += (0..<10).map { 100 + Double($0) / 16 }  // forward by ~99 s
        times += (0..<10).map { 5 + Double($0) / 16 }  // backwards
        let r = run(times, fps: 16)
        #expect(r.jumps == 2)
        #expect(r.discontinuities == [10, 20])
        #expect(r.counts == [Int](repeating: 1, count: 30))
    }

    @Test func duplicateTimestampsAreDropped() {
        let r = run([0, 0.0625, 0.0625, 0.125], fps: 16)
        #expect(r.counts == [1, 1, 0, 1])
        #expect(r.jumps == 0)
    }
}

@Suite struct ClipCutterTests {
    func ends(length: Int, stride: Int, frames: Int) -> (ends: [Int], needed: [Int]) {
        var c = ClipCutter(length: length, stride: stride)
        var ends: [Int] = [], needed: [Int] = []
        for i in 0..<frames {
            if c.nextIsNeeded { needed.append(i) }
            if c.push() { ends.append(i) }
        }
        return (ends, needed)
    }

    @Test func overlappingClips() {
        let r = ends(length: 5, stride: 2, frames: 12)
        #expect(r.ends == [4, 6, 8, 10])
        #expect(r.needed == Array(0..<12))
    }

    @Test func adjacentClips() {
        #expect(ends(length: 4, stride: 4, frames: 13).ends == [3, 7, 11])
    }

    @Test func gapsBetweenClipsAreNotNeeded() {
        let r = ends(length: 3, stride: 5, frames: 14)
        #expect(r.ends == [2, 7, 12])
        #expect(r.needed == [0, 1, 2, 5, 6, 7, 10, 11, 12])
    }

    @Test func resetStartsOver() {
        var c = ClipCutter(length: 3, stride: 3)
        _ = c.push()
        _ = c.push()
        c.reset()
        let pushes = (0..<3).map { _ in c.push() }
        #expect(pushes == [false, false, true])
    }
}

@Suite struct OrientationTests {
    /// Turns a `h x w` grid of labels by the orientation, pixel by pixel through `sourcePixel`.
    func display(_ grid: [[Int]], _ o: Orientation) -> [[Int]] {
        let h = grid.count, w = grid[0].count
        let (dh, dw) = o.displaySize(height: h, width: w)
        return (0..<dh).map { y in
            (0..<dw).map { x in
                let (r, c) = o.sourcePixel(y: y, x: x, height: h, width: w)
                return grid[r][c]
            }
        }
    }

    let grid = [[1, 2, 3], [4, 5, 6]]

    @Test func quarterTurns() {
        #expect(display(grid, .upright) == grid)
        #expect(display(grid, Orientation(quarterTurns: 1)) == [[4, 1], [5, 2], [6, 3]])  // clockwise
        #expect(display(grid, Orientation(quarterTurns: 2)) == [[6, 5, 4], [3, 2, 1]])
        #expect(display(grid, Orientation(quarterTurns: 3)) == [[3, 6], [2, 5], [1, 4]])  // counter-clockwise
        #expect(display(grid, Orientation(quarterTurns: 0, mirrored: true)) == [[3, 2, 1], [6, 5, 4]])
    }

    @Test func anglesRoundToQuarterTurns() {
        #expect(Orientation(clockwiseDegrees: 90).quarterTurns == 1)
        #expect(Orientation(clockwiseDegrees: -90).quarterTurns == 3)
        #expect(Orientation(clockwiseDegrees: 180).quarterTurns == 2)
        #expect(Orientation(clockwiseDegrees: -180).quarterTurns == 2)
        #expect(Orientation(clockwiseDegrees: 271).quarterTurns == 3)
        #expect(Orientation(clockwiseDegrees: .nan) == .upright)
    }

    @Test func displayMatrixGivesTheTurnTheFFmpegCLIApplies() {
        func orientation(_ m: [Int32]) -> Orientation { m.withUnsafeBufferPointer { Orientation(displayMatrix: $0.baseAddress!) } }
        // The matrix FFmpeg 5.1's MOV muxer writes for a `rotate=90` tag (ffprobe: rotation=90); the CLI
        // shows it with transpose=cclock.
        #expect(orientation([0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30]) == Orientation(quarterTurns: 3))
        // ffprobe rotation=-90 (a phone's portrait clip): transpose=clock.
        #expect(orientation([0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30]) == Orientation(quarterTurns: 1))
        var m = [Int32](repeating: 0, count: 9)
        av_display_rotation_set_shim(&m, 180)
        #expect(orientation(m) == Orientation(quarterTurns: 2))
        av_display_rotation_set_shim(&m, 0)
        #expect(orientation(m) == .upright)
        // A mirrored matrix (negative determinant).
        #expect(orientation([-65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30]).mirrored)
    }
}

func av_display_rotation_set_shim(_ m: inout [Int32], _ angle: Double) {
    m.withUnsafeMutableBufferPointer { av_display_rotation_set($0.baseAddress, angle) }
}

@Suite struct ViewsTests {
    /// A batch whose value at (n, c, f, y, x) encodes its coordinates.
    func batch(n: Int, frames: Int, h: Int, w: Int, staticIndices: [Int]) throws -> ClipBatch {
        let clips = try (0..<n).map { i -> Clip in
            var data = [Float](repeating: 0, count: 3 * frames * h * w)
            for c in 0..<3 { for f in 0..<frames { for y in 0..<h { for x in 0..<w {
                data[((c * frames + f) * h + y) * w + x] = Float(i * 10000 + c * 1000 + f * f * 7 + y * 10 + x)
            } } } }
            return try Clip(source: "s", sequence: i, data: data, frames: frames, height: h, width: w,
                            staticIndex: staticIndices[i])
        }
        return try ClipBatch(clips: clips)
    }

    @Test func viewsFollowTheSpec() throws {
        let (n, f1, h, w) = (2, 5, 3, 4)
        let b = try batch(n: n, frames: f1, h: h, w: w, staticIndices: [3, 0])
        #expect(b.shape == [2, 3, 5, 3, 4])
        let views = try ClipViews(batch: b)
        let t = f1 - 1
        #expect(views.shape == [2, 3, 4, 3, 4])
        func input(_ i: Int, _ c: Int, _ f: Int, _ y: Int, _ x: Int) -> Float { b.data[(((i * 3 + c) * f1 + f) * h + y) * w + x] }
        func out(_ a: [Float], _ i: Int, _ c: Int, _ f: Int, _ y: Int, _ x: Int) -> Float { a[(((i * 3 + c) * t + f) * h + y) * w + x] }
        for i in 0..<n { for c in 0..<3 { for f in 0..<t { for y in 0..<h { for x in 0..<w {
            #expect(out(views.v, i, c, f, y, x) == input(i, c, f, y, x))
            #expect(out(views.s, i, c, f, y, x) == input(i, c, b.staticIndices[i], y, x))
            #expect(out(views.d, i, c, f, y, x) == input(i, c, f + 1, y, x) - input(i, c, f, y, x))
        } } } } }
    }

    @Test func badShapesAreErrors() throws {
        #expect(throws: MediaError.self) {
            try Clip(source: "s", sequence: 0, data: [0, 1], frames: 2, height: 1, width: 1, staticIndex: 0)
        }
        #expect(throws: MediaError.self) {
            try Clip(source: "s", sequence: 0, data: [Float](repeating: 0, count: 6), frames: 2, height: 1, width: 1,
                     staticIndex: 1)
        }
        let a = try Clip(source: "a", sequence: 0, data: [Float](repeating: 0, count: 6), frames: 2, height: 1, width: 1, staticIndex: 0)
        let b = try Clip(source: "b", sequence: 0, data: [Float](repeating: 0, count: 9), frames: 3, height: 1, width: 1, staticIndex: 0)
        let error = #expect(throws: MediaError.self) { try ClipBatch(clips: [a, b]) }
        #expect(error?.code == .shapeMismatch)
        #expect(throws: MediaError.self) {
            try [Float](repeating: 0, count: 5).withUnsafeBufferPointer {
                try ClipViews(clips: $0, count: 1, framesPlusOne: 2, height: 1, width: 1, staticIndices: [0])
            }
        }
    }

    @Test func normalisationConstants() {
        for c in 0..<3 {
            for v in [0, 1, 128, 255] {
                let expected = (Float(v) / 255 - Normalization.mean[c]) / Normalization.std[c]
                #expect(Normalization.table[c * 256 + v] == expected)
            }
        }
        #expect(abs(Normalization.normalise(255, channel: 0) - (1 - 0.43216) / 0.22803) < 1e-6)
    }
}

@Suite struct OptionsAndSpecTests {
    @Test func parsesEveryKindOfSource() throws {
        #expect(try SourceSpec("file:/a/b.mp4").kind == .file(path: "/a/b.mp4"))
        #expect(try SourceSpec("file:///a/b.mp4").kind == .file(path: "/a/b.mp4"))
        #expect(try SourceSpec("/a/b.mp4").kind == .file(path: "/a/b.mp4"))
        #expect(try SourceSpec("clips/x.mkv").kind == .file(path: "clips/x.mkv"))
        #expect(try SourceSpec("folder:/srv/in").kind == .folder(path: "/srv/in"))
        #expect(try SourceSpec(NSTemporaryDirectory()).isLive)  // a bare directory is a watch folder
        #expect(try SourceSpec("rtsp://cam/stream").kind == .network(url: "rtsp://cam/stream", scheme: "rtsp"))
        #expect(try SourceSpec("tcp://127.0.0.1:9000").kind == .network(url: "tcp://127.0.0.1:9000", scheme: "tcp"))
        #expect(try SourceSpec("udp://0.0.0.0:5000").isLive)
        #expect(try SourceSpec("v4l2:/dev/video0").kind == .device(format: "video4linux2", url: "/dev/video0"))
        #expect(try SourceSpec("lavfi:testsrc2=size=64x48:rate=25").kind
                == .device(format: "lavfi", url: "testsrc2=size=64x48:rate=25"))
        #expect(try !SourceSpec("file:/x.mp4").isLive)
        for bad in ["", "   ", "file:", "lavfi:", "gopher://x", "smb:share", "rtsp://"] {
            let e = #expect(throws: MediaError.self, "\(bad)") { try SourceSpec(bad) }
            #expect(e?.code == .invalidSource)
        }
    }

    @Test func rejectsOutOfRangeOptions() {
        for clip in [ClipOptions(frames: 1), ClipOptions(height: 0), ClipOptions(fps: 0), ClipOptions(fps: .nan),
                     ClipOptions(stride: 0)]
        {
            #expect(throws: MediaError.self) { try clip.validate() }
        }
        #expect(throws: MediaError.self) { try SourceOptions(openTimeout: 0).validate() }
        #expect(throws: MediaError.self) { try SourceOptions(backoff: BackoffPolicy(jitter: 1)).validate() }
        #expect(throws: MediaError.self) { try MediaSource(uri: "file:/x.mp4", options: SourceOptions(stallSeconds: -1), queue: ClipQueue()) }
        #expect(throws: Never.self) { try SourceOptions().validate() }
    }

    @Test func afterPolicyParses() throws {
        #expect(try AfterIngest(parsing: "keep") == .keep)
        #expect(try AfterIngest(parsing: "delete") == .delete)
        #expect(try AfterIngest(parsing: "move:done") == .move("done"))
        #expect(throws: MediaError.self) { try AfterIngest(parsing: "move:") }
        #expect(throws: MediaError.self) { try AfterIngest(parsing: "archive") }
    }

    @Test func rtspDefaultsToTCPWithAMicrosecondTimeout() throws {
        let s = try MediaSource(uri: "rtsp://127.0.0.1:1/x", options: SourceOptions(stallSeconds: 2.5), queue: ClipQueue())
        let (opts, defaults) = s.libavOptions()
        #expect(opts["rtsp_transport"] == "tcp")
        #expect(opts["timeout"] == "2500000")
        #expect(opts["stimeout"] == nil)
        #expect(defaults == ["rtsp_transport", "timeout", "analyzeduration"])
        #expect(opts["analyzeduration"] == "5000000")
        let udp = try MediaSource(uri: "rtsp://127.0.0.1:1/x",
                                  options: SourceOptions(libavOptions: ["rtsp_transport": "udp"]), queue: ClipQueue())
        #expect(udp.libavOptions().options["rtsp_transport"] == "udp")
        #expect(!udp.libavOptions().defaults.contains("rtsp_transport"))
        let camera = try MediaSource(
            uri: "v4l2:/dev/video9",
            options: SourceOptions(libavOptions: ["size": "640x480", "rate": "15", "format": "mjpeg", "standard": "PAL"]),
            queue: ClipQueue())
        #expect(camera.libavOptions().options == ["video_size": "640x480", "framerate": "15", "input_format": "mjpeg",
                                                 "standard": "PAL", "analyzeduration": "5000000"])
        let tcp = try MediaSource(uri: "tcp://127.0.0.1:9/x", options: SourceOptions(stallSeconds: 3), queue: ClipQueue())
        #expect(tcp.libavOptions().options["rw_timeout"] == "3000000")
        let file = try MediaSource(uri: "file:/x.mp4", queue: ClipQueue())
        #expect(file.libavOptions().options.isEmpty)
    }

    @Test func missingCaptureDeviceFailsOpenAndBacksOff() async throws {
        // No camera here: the v4l2 open fails cleanly and the source keeps retrying (a camera can be plugged in).
        let source = try MediaSource(
            uri: "v4l2:/dev/video-conceptd-missing",
            options: TestSupport.quiet(SourceOptions(backoff: BackoffPolicy(initial: 0.2, maximum: 0.2, jitter: 0))),
            queue: ClipQueue())
        source.start()
        defer { source.stop() }
        #expect(await TestSupport.eventually(timeout: 5) { source.statistics.state == .backoff })
        #expect(source.statistics.lastError?.contains("openFailed") == true, "\(source.statistics.lastError ?? "")")
        source.stop()
        #expect(await TestSupport.finishes(source, within: 2))
    }
}
