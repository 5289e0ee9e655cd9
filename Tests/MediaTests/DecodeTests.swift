import Foundation
import Testing
@testable import Media
import SeededRandom
import ConceptReports

/// Real libav decoding of fixtures made with the ffmpeg CLI.
@Suite struct DecodeTests {
    init() { _ = TestSupport.quiet }

    /// The known colour of frame `k` in the colour fixtures.
    static func colour(_ k: Int) -> [UInt8] {
        [UInt8((13 * k + 20) % 256), UInt8((250 - 11 * k + 512) % 256), UInt8((21 * k + 40) % 256)]
    }

    /// `count` solid-colour frames of `w x h`, frame k coloured `colour(k)`, as lossless FFV1 at `rate` fps.
    static func colourVideo(_ path: String, count: Int, rate: Int, w: Int = 64, h: Int = 48) throws {
        var raw = Data(capacity: count * w * h * 3)
        for k in 0..<count {
            let c = colour(k)
            for _ in 0..<(w * h) { raw.append(contentsOf: c) }
        }
        try TestSupport.ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "\(w)x\(h)", "-r", "\(rate)", "-i", "-",
                                "-c:v", "ffv1", "-pix_fmt", "bgr0", path], input: raw)
    }

    /// Checks that clip frame `f` of every clip is the colour of source frame `frameOf(clip, f)`, normalised,
    /// and that the difference view is the difference of normalised colours.
    func checkColours(_ clips: [Clip], tolerance: Float, frameOf: (Int, Int) -> Int) throws {
        for clip in clips {
            let plane = clip.height * clip.width
            for f in 0..<clip.frames {
                let expected = Self.colour(frameOf(clip.sequence, f))
                for c in 0..<3 {
                    let want = (Float(expected[c]) / 255 - Normalization.mean[c]) / Normalization.std[c]
                    let base = (c * clip.frames + f) * plane
                    let values = clip.data[base..<(base + plane)]
                    let worst = values.map { abs($0 - want) }.max()!
                    #expect(worst <= tolerance, "clip \(clip.sequence) frame \(f) channel \(c): off by \(worst)")
                }
            }
            let views = try ClipViews(clip: clip)
            let t = clip.frames - 1
            for f in 0..<t {
                let a = Self.colour(frameOf(clip.sequence, f)), b = Self.colour(frameOf(clip.sequence, f + 1))
                for c in 0..<3 {
                    let want = (Float(b[c]) - Float(a[c])) / 255 / Normalization.std[c]
                    let base = (c * t + f) * plane
                    let worst = views.d[base..<(base + plane)].map { abs($0 - want) }.max()!
                    #expect(worst <= 2 * tolerance + 1e-5, "d clip \(clip.sequence) frame \(f) channel \(c): off by \(worst)")
                    let s = Self.colour(frameOf(clip.sequence, clip.staticIndex))
                    let sWant = (Float(s[c]) / 255 - Normalization.mean[c]) / Normalization.std[c]
                    #expect(abs(views.s[base] - sWant) <= tolerance + 1e-6)
                }
            }
        }
    }

    @Test func pixelLevelColoursNormalisationAndDifferences() async throws {
        let dir = try TestSupport.makeDirectory("colours")
        defer { TestSupport.removeDirectory(dir) }
        try Self.colourVideo(dir + "/c16.mkv", count: 20, rate: 16)
        // Same size, same rate: frame k of clip j is source frame 5j + k, exactly.
        let exact = ClipOptions(frames: 5, height: 48, width: 64, shortSide: 48, fps: 16, stride: 5)
        let (clips, stats) = try await TestSupport.ingestFile("file:" + dir + "/c16.mkv", clip: exact)
        #expect(stats.state == .finished)
        #expect(clips.count == 4)
        #expect(clips.map(\.sequence) == [0, 1, 2, 3])
        #expect(clips.allSatisfy { $0.shape == [3, 5, 48, 64] && (0..<4).contains($0.staticIndex) })
        #expect(stats.framesDecoded == 20 && stats.framesSampled == 20 && stats.clipsMade == 4)
        try checkColours(clips, tolerance: 1e-6) { j, f in 5 * j + f }
    }

    @Test func samplingByTimestampScalingAndRandomCrops() async throws {
        let dir = try TestSupport.makeDirectory("colours32")
        defer { TestSupport.removeDirectory(dir) }
        try Self.colourVideo(dir + "/c32.mkv", count: 40, rate: 32)
        // 32 fps sampled at 16: every other frame. Downscaled and randomly cropped and flipped: solid
        // colours stay what they are (within one 8-bit step).
        let opts = ClipOptions(frames: 4, height: 20, width: 20, shortSide: 24, fps: 16, stride: 4, crop: .random,
                               randomFlip: true, seed: 3)
        let (clips, stats) = try await TestSupport.ingestFile("file:" + dir + "/c32.mkv", clip: opts, name: "c32")
        #expect(clips.count == 5)
        #expect(stats.framesDecoded == 40)
        #expect(stats.framesSampled == 20)
        try checkColours(clips, tolerance: 1.01 / 255 / 0.216989) { j, f in 2 * (4 * j + f) }
        // The same seed gives the same static indices; another seed other ones.
        let again = try await TestSupport.ingestFile("file:" + dir + "/c32.mkv", clip: opts, name: "c32")
        #expect(again.clips.map(\.staticIndex) == clips.map(\.staticIndex))
        var other = opts
        other.seed = 4
        let different = try await TestSupport.ingestFile("file:" + dir + "/c32.mkv", clip: other, name: "c32")
        #expect(different.clips.map(\.staticIndex) != clips.map(\.staticIndex))
    }

    /// A 64 x 48 picture with four coloured quadrants (lossless PNG in MOV), tagged `rotate=degrees`.
    static func quadrantVideo(_ path: String, rotate: Int) throws {
        let w = 64, h = 48
        var raw = Data(capacity: w * h * 3 * 3)
        let tl: [UInt8] = [250, 10, 10], tr: [UInt8] = [10, 250, 10], bl: [UInt8] = [10, 10, 250], br: [UInt8] = [240, 240, 240]
        for _ in 0..<3 {
            for y in 0..<h { for x in 0..<w {
                raw.append(contentsOf: y < h / 2 ? (x < w / 2 ? tl : tr) : (x < w / 2 ? bl : br))
            } }
        }
        // FFmpeg 5.1 writes the display matrix from a `rotate` tag only when stream-copying.
        let plain = path + ".plain.mov"
        try TestSupport.ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "\(w)x\(h)", "-r", "8", "-i", "-",
                                "-c:v", "png", plain], input: raw)
        try TestSupport.ffmpeg(["-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=\(rotate)", path])
    }

    @Test(arguments: [90, 180, 270])
    func rotationMetadataIsAppliedLikeTheFFmpegCLI(degrees: Int) async throws {
        let dir = try TestSupport.makeDirectory("rotate")
        defer { TestSupport.removeDirectory(dir) }
        let path = dir + "/q.mov"
        try Self.quadrantVideo(path, rotate: degrees)
        let turned = degrees % 180 != 0
        let (h, w) = turned ? (64, 48) : (48, 64)
        let opts = ClipOptions(frames: 3, height: h, width: w, shortSide: 48, fps: 8, stride: 3)
        let (clips, stats) = try await TestSupport.ingestFile("file:" + path, clip: opts)
        #expect(stats.state == .finished)
        let clip = try #require(clips.first)
        #expect(clip.shape == [3, 3, h, w])
        // The ffmpeg CLI autorotates by default; its upright RGB must equal ours pixel for pixel.
        let out = dir + "/upright.rgb"
        try TestSupport.ffmpeg(["-i", path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", out])
        let reference = try Data(contentsOf: URL(fileURLWithPath: out))
        #expect(reference.count == h * w * 3)
        var mismatches = 0
        for y in 0..<h { for x in 0..<w { for c in 0..<3 {
            let v = clip.data[(c * clip.frames) * h * w + y * w + x]
            let byte = ((v * Normalization.std[c] + Normalization.mean[c]) * 255).rounded()
            if Int(byte) != Int(reference[(y * w + x) * 3 + c]) { mismatches += 1 }
        } } }
        #expect(mismatches == 0, "\(degrees)°: \(mismatches) values differ from ffmpeg's autorotated frame")
    }

    @Test func shortInputIsPaddedWithItsLastFrame() async throws {
        let dir = try TestSupport.makeDirectory("short")
        defer { TestSupport.removeDirectory(dir) }
        try Self.colourVideo(dir + "/three.mkv", count: 3, rate: 16)
        let opts = ClipOptions(frames: 8, height: 48, width: 48, shortSide: 48, fps: 16)
        let (clips, _) = try await TestSupport.ingestFile("file:" + dir + "/three.mkv", clip: opts)
        #expect(clips.count == 1)
        let clip = try #require(clips.first)
        #expect(clip.padded)
        try checkColours(clips, tolerance: 1e-6) { _, f in min(f, 2) }
        var noPad = opts
        noPad.padShortInputs = false
        #expect(try await TestSupport.ingestFile("file:" + dir + "/three.mkv", clip: noPad).clips.isEmpty)
    }

    @Test func brokenFilesFailWithAReason() async throws {
        let dir = try TestSupport.makeDirectory("broken")
        defer { TestSupport.removeDirectory(dir) }
        _ = FileManager.default.createFile(atPath: dir + "/empty.mp4", contents: Data())
        var random = SeededGenerator(seed: 9)
        _ = FileManager.default.createFile(atPath: dir + "/random.mp4",
                                       contents: Data((0..<50_000).map { _ in UInt8.random(in: 0...255, using: &random) }))
        try TestSupport.testVideo(dir + "/full.mp4", seconds: 2)
        let full = try Data(contentsOf: URL(fileURLWithPath: dir + "/full.mp4"))
        try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: dir + "/nomoov.mp4"))  // index at the end: lost
        try TestSupport.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=1", "-f", "lavfi", "-i",
                                "anullsrc", "-shortest", "-c:a", "aac", dir + "/audio.mp4"])
        try TestSupport.ffmpeg(["-f", "lavfi", "-i", "anullsrc", "-t", "1", "-c:a", "aac", dir + "/soundonly.m4a"])
        let opts = ClipOptions(frames: 4, height: 32, width: 32, fps: 8)
        for name in ["empty.mp4", "random.mp4", "nomoov.mp4", "missing.mp4", "soundonly.m4a"] {
            let (clips, stats) = try await TestSupport.ingestFile("file:" + dir + "/" + name, clip: opts)
            #expect(stats.state == .failed, "\(name)")
            #expect(clips.isEmpty)
            #expect(stats.lastError?.isEmpty == false, "\(name)")
        }
        let sound = try await TestSupport.ingestFile("file:" + dir + "/soundonly.m4a", clip: opts)
        #expect(sound.stats.lastError?.contains("noVideoStream") == true)
        // Audio next to video is fine.
        let withAudio = try await TestSupport.ingestFile("file:" + dir + "/audio.mp4", clip: opts)
        #expect(withAudio.stats.state == .finished && withAudio.clips.count == 2)
    }

    @Test func truncatedStreamsDecodeWhatIsThere() async throws {
        let dir = try TestSupport.makeDirectory("truncated")
        defer { TestSupport.removeDirectory(dir) }
        try TestSupport.testVideo(dir + "/full.ts", seconds: 4, extra: ["-f", "mpegts"])
        try TestSupport.testVideo(dir + "/fast.mp4", seconds: 4, extra: ["-movflags", "+faststart"])
        let opts = ClipOptions(frames: 4, height: 32, width: 32, fps: 8)
        let complete = try await TestSupport.ingestFile("file:" + dir + "/full.ts", clip: opts)
        #expect(complete.clips.count == 8)
        for name in ["full.ts", "fast.mp4"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
            // Cut mid-packet, a little past the middle.
            let cut = dir + "/cut-" + name
            try data.prefix(data.count / 2 + 333).write(to: URL(fileURLWithPath: cut))
            let (clips, stats) = try await TestSupport.ingestFile("file:" + cut, clip: opts)
            #expect(stats.state == .finished, "\(name): \(stats.lastError ?? "")")
            #expect(clips.count >= 2 && clips.count < complete.clips.count, "\(name): \(clips.count) clips")
            #expect(clips.allSatisfy { $0.shape == [3, 4, 32, 32] && $0.data.allSatisfy(\.isFinite) })
        }
    }

    @Test func elementaryStreamVariableRateAndOddTimeBase() async throws {
        let dir = try TestSupport.makeDirectory("odd")
        defer { TestSupport.removeDirectory(dir) }
        // A raw MPEG-4 part 2 elementary stream named .mp4 (no container, no timestamps).
        try TestSupport.testVideo(dir + "/raw.mp4", seconds: 2, codec: ["-c:v", "mpeg4"], extra: ["-f", "m4v"])
        // Variable frame rate (frames dropped unevenly) in an odd time base, with an audio track.
        try TestSupport.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30:duration=3", "-f", "lavfi", "-i",
                                "sine=duration=3", "-vf", "select='lt(mod(n\\,10)\\,4)+gt(n\\,60)'", "-vsync", "vfr",
                                "-c:v", "libx264", "-preset", "ultrafast", "-video_track_timescale", "12347",
                                "-c:a", "aac", dir + "/vfr.mp4"])
        let opts = ClipOptions(frames: 4, height: 32, width: 32, fps: 8)
        let raw = try await TestSupport.ingestFile("file:" + dir + "/raw.mp4", clip: opts)
        #expect(raw.stats.state == .finished)
        #expect(raw.stats.framesDecoded == 50)
        #expect(raw.clips.count == 4)
        let vfr = try await TestSupport.ingestFile("file:" + dir + "/vfr.mp4", clip: opts)
        #expect(vfr.stats.state == .finished)
        // Sampled by time: about 3 s x 8 fps whatever the uneven frame spacing.
        #expect(abs(vfr.stats.framesSampled - 24) <= 2, "\(vfr.stats.framesSampled)")
        #expect(vfr.stats.framesDecoded < 90)
        #expect(vfr.stats.timestampJumps == 0)
    }

    @Test func timestampJumpsSplitClips() async throws {
        let dir = try TestSupport.makeDirectory("jumps")
        defer { TestSupport.removeDirectory(dir) }
        // Two 0.96 s MPEG-TS segments: 8 samples each at 8 fps, one clip of 5 each with 3 left over. A clip
        // across the joint would make a third.
        try TestSupport.testVideo(dir + "/a.ts", seconds: 0.96, extra: ["-f", "mpegts"])
        try TestSupport.testVideo(dir + "/b.ts", seconds: 0.96, extra: ["-output_ts_offset", "100", "-f", "mpegts"])
        let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/a.ts"))
        let b = try Data(contentsOf: URL(fileURLWithPath: dir + "/b.ts"))
        try (a + b).write(to: URL(fileURLWithPath: dir + "/forward.ts"))
        try (b + a).write(to: URL(fileURLWithPath: dir + "/backward.ts"))
        let opts = ClipOptions(frames: 5, height: 32, width: 32, fps: 8, stride: 5)
        for name in ["forward.ts", "backward.ts"] {
            let (clips, stats) = try await TestSupport.ingestFile("file:" + dir + "/" + name, clip: opts)
            #expect(stats.timestampJumps == 1, "\(name)")
            #expect(stats.framesSampled == 16, "\(name)")
            #expect(clips.count == 2, "\(name)")
            if clips.count == 2 { #expect(abs(clips[1].startTime - clips[0].startTime) > 50, "\(name)") }
        }
        let single = try await TestSupport.ingestFile("file:" + dir + "/a.ts", clip: opts)
        #expect(single.stats.timestampJumps == 0 && single.clips.count == 1)
    }

    @Test func everySharedVideoDecodesToClipsOfTheRightShape() async throws {
        guard let folder = TestSupport.videosDirectory else {
            print("skipping: no ../shared/data/videos and no CONCEPT_VIDEOS_DIR")
            return
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted().filter {
            !["md", "tsv", "txt", "json"].contains(($0 as NSString).pathExtension.lowercased())
        }
        #expect(names.count >= 40)
        let opts = ClipOptions(frames: 9, height: 56, width: 56, shortSide: 64, fps: 8, crop: .random, randomFlip: true)
        // Two at a time (one decoder thread each) to use both cores; clips are checked, not kept.
        typealias Result = (name: String, clips: Int, wellFormed: Bool, stats: SourceStatistics)
        let shape = [3, 9, 56, 56]
        let results = try await withThrowingTaskGroup(of: Result.self) { group in
            var out: [Result] = []
            var pending = names[...]
            func add(_ n: String) {
                group.addTask {
                    let r = try await TestSupport.ingestSummary("file:" + folder + "/" + n, clip: opts, shape: shape)
                    return (n, r.clips, r.wellFormed, r.stats)
                }
            }
            for _ in 0..<2 { if let n = pending.popFirst() { add(n) } }
            while let r = try await group.next() {
                out.append(r)
                if let n = pending.popFirst() { add(n) }
            }
            return out
        }
        #expect(results.count == names.count)
        for r in results {
            #expect(r.stats.state == .finished, "\(r.name): \(r.stats.lastError ?? "")")
            #expect(r.clips > 0, "\(r.name)")
            #expect(r.wellFormed, "\(r.name)")
            #expect(r.stats.clipsMade == r.clips, "\(r.name)")
        }
    }
}
