import Foundation
import Testing
@testable import Media
import LibAV
import SyntheticVideo
import SeededRandom

/// The synthetic static/dynamic generator: real encoded videos, decoded back through the media layer.
@Suite struct SyntheticDatasetTests {
    init() { _ = TestSupport.quiet }

    // MARK: Helpers

    /// Decodes every frame of `path` with the media layer's input, decoder and scaler, as packed RGB24.
    static func decode(_ path: String) throws -> RGBVideo {
        let input = try VideoInput(url: path, format: nil, options: [:], deadline: Deadline(), openTimeout: 10,
                                   threads: 1)
        let frame = try Frame()
        let scaler = Scaler()
        var pixels: [UInt8] = []
        var count = 0, width = 0, height = 0
        while try input.nextFrame(into: frame, readTimeout: 10, stallAfter: 10, tolerateReadErrors: false) != nil {
            if count == 0 { (width, height) = (frame.width, frame.height) }
            #expect(frame.width == width && frame.height == height)
            // libswscale writes past the end of a row: aligned rows with slack, as the frame ring has.
            let linesize = (width * 3 + 63) & ~63
            var bgr = [UInt8](repeating: 0, count: linesize * height + 64)
            try bgr.withUnsafeMutableBufferPointer {
                try scaler.scale(frame, width: width, height: height, into: $0.baseAddress!, stride: linesize)
            }
            for y in 0..<height {
                for x in 0..<width {
                    let i = y * linesize + 3 * x
                    pixels += [bgr[i + 2], bgr[i + 1], bgr[i]]
                }
            }
            count += 1
        }
        var video = RGBVideo(width: width, height: height, frameCount: count)
        video.pixels = pixels
        return video
    }

    /// Foreground pixels of frame `f`: some channel differs from the clip's own background by more than 40.
    static func foreground(_ video: RGBVideo, frame f: Int, background: RGBVideo) -> [Bool] {
        let frame = Array(video.frame(f)), bg = background.pixels
        return (0..<(video.width * video.height)).map { p in
            (0..<3).contains { c in abs(Int(frame[3 * p + c]) - Int(bg[3 * p + c])) > 40 }
        }
    }

    /// Centroid (x, y) and pixel count of a mask.
    static func centroid(_ mask: [Bool], width: Int) -> (x: Double, y: Double, area: Int) {
        var sx = 0.0, sy = 0.0, n = 0
        for (p, on) in mask.enumerated() where on {
            sx += Double(p % width)
            sy += Double(p / width)
            n += 1
        }
        return n > 0 ? (sx / Double(n), sy / Double(n), n) : (.nan, .nan, 0)
    }

    /// Luma (BT.601) of frame `f`.
    static func luma(_ video: RGBVideo, frame f: Int) -> [Double] {
        let px = Array(video.frame(f))
        return (0..<(video.width * video.height)).map { (p: Int) -> Double in
            let r = Double(px[3 * p]), g = Double(px[3 * p + 1]), b = Double(px[3 * p + 2])
            return 0.299 * r + 0.587 * g + 0.114 * b
        }
    }

    /// Mean absolute luma change between consecutive frames.
    static func differenceEnergy(_ video: RGBVideo) -> Double {
        var total = 0.0
        var previous = luma(video, frame: 0)
        for f in 1..<video.frameCount {
            let current = luma(video, frame: f)
            total += zip(current, previous).reduce(0) { $0 + abs($1.0 - $1.1) } / Double(current.count)
            previous = current
        }
        return total / Double(video.frameCount - 1)
    }

    /// Pearson's chi-square statistic of a contingency table.
    static func chiSquare(_ table: [[Int]]) -> Double {
        let rows = table.map { $0.reduce(0, +) }
        let columns = table[0].indices.map { j in table.reduce(0) { $0 + $1[j] } }
        let n = Double(rows.reduce(0, +))
        var chi = 0.0
        for i in table.indices {
            for j in table[i].indices {
                let expected = Double(rows[i]) * Double(columns[j]) / n
                if expected > 0 { chi += (Double(table[i][j]) - expected) * (Double(table[i][j]) - expected) / expected }
            }
        }
        return chi
    }

    /// The 99.9% quantile of chi-square with `k` degrees of freedom (Wilson-Hilferty).
    static func chiSquareCritical999(_ k: Int) -> Double {
        let d = Double(k), z = 3.0902
        let a = 1 - 2 / (9 * d) + z * (2 / (9 * d)).squareRoot()
        return d * a * a * a
    }

    /// The background x motion contingency table of `entries`.
    static func table(_ entries: [SyntheticManifest.Entry], backgrounds: Int, motions: Int) throws -> [[Int]] {
        var t = [[Int]](repeating: [Int](repeating: 0, count: motions), count: backgrounds)
        for e in entries {
            let b = try #require(SyntheticBackground(name: e.background)).rawValue
            let m = try #require(SyntheticMotion(name: e.motion)).rawValue
            t[b][m] += 1
        }
        return t
    }

    static func fileBytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    // MARK: Output decodes

    @Test func everyVideoDecodesWithTheRightFrameCountSizeAndRate() throws {
        let dir = try TestSupport.makeDirectory("synthetic-decode")
        defer { TestSupport.removeDirectory(dir) }
        let summary = try SyntheticDataset.generate(
            directory: dir, backgrounds: 3, motions: 3, clipsPerPair: 2, size: .init(width: 48, height: 32),
            frames: 12, fps: 12, seed: 5, testFraction: 0.5)
        #expect(summary.items.count == 18 && summary.trainCount == 9 && summary.testCount == 9)
        #expect(summary.codec == (VideoWriter.h264Available ? "h264" : "mpeg4"))
        let manifest = try SyntheticManifest(contentsOf: summary.manifestPath)
        #expect(manifest == summary.manifest)
        #expect(try String(contentsOfFile: summary.manifestPath, encoding: .utf8).hasPrefix("path\tbackground\tmotion\tsplit\n"))
        var bytes = 0
        for entry in manifest.entries {
            let path = dir + "/" + entry.path
            #expect(entry.path.hasPrefix(entry.split.rawValue + "/") && entry.path.hasSuffix(".mp4"))
            let video = try Self.decode(path)
            #expect(video.frameCount == 12, "\(entry.path): \(video.frameCount) frames")
            #expect(video.width == 48 && video.height == 32, "\(entry.path): \(video.width)x\(video.height)")
            let probe = try VideoProbe.probe(path)
            #expect(probe.codec == summary.codec && abs(probe.frameRate - 12) < 1e-6 && !probe.hasAudio)
            bytes += try Self.fileBytes(path).count
        }
        #expect(bytes == summary.bytes)
        // An independent decoder agrees on the frame count.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ffprobe")
        p.arguments = ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                       "stream=nb_read_frames,width,height", "-of", "csv=p=0", dir + "/" + manifest.entries[0].path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(text.trimmingCharacters(in: .whitespacesAndNewlines) == "48,32,12")
    }

    // MARK: Labels

    @Test func labelsAreBalancedAndIndependent() throws {
        let dir = try TestSupport.makeDirectory("synthetic-labels")
        defer { TestSupport.removeDirectory(dir) }
        let (b, m, n) = (6, 6, 4)
        let summary = try SyntheticDataset.generate(
            directory: dir, backgrounds: b, motions: m, clipsPerPair: n, size: .init(width: 32, height: 32), frames: 4,
            seed: 9, testFraction: 0.25)
        let entries = try SyntheticManifest(contentsOf: summary.manifestPath).entries
        #expect(entries.count == b * m * n)
        #expect(Set(entries.map(\.path)).count == entries.count)
        #expect(Set(entries.map(\.background)) == Set(SyntheticBackground.allCases.prefix(b).map(\.name)))
        #expect(Set(entries.map(\.motion)) == Set(SyntheticMotion.allCases.prefix(m).map(\.name)))
        for name in Set(entries.map(\.background)) { #expect(entries.count { $0.background == name } == m * n) }
        for name in Set(entries.map(\.motion)) { #expect(entries.count { $0.motion == name } == b * n) }

        // The full factorial design: every cell holds n clips, the table is uniform, chi-square is 0.
        let full = try Self.table(entries, backgrounds: b, motions: m)
        #expect(full.allSatisfy { $0.allSatisfy { $0 == n } })
        #expect(Self.chiSquare(full) == 0)
        // Each split is balanced per pair too (one test clip of four in every pair).
        for (split, perPair) in [(SyntheticManifest.Split.train, 3), (.test, 1)] {
            let t = try Self.table(entries.filter { $0.split == split }, backgrounds: b, motions: m)
            #expect(t.allSatisfy { $0.allSatisfy { $0 == perPair } }, "\(split): \(t)")
            #expect(Self.chiSquare(t) == 0)
        }

        // A random half keeps the labels independent: chi-square stays below its 99.9% quantile ...
        var rng = SeededGenerator(seed: 2024)
        var shuffled = entries
        for i in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(i, rng.integer(below: i + 1)) }
        let half = Array(shuffled.prefix(entries.count / 2))
        let critical = Self.chiSquareCritical999((b - 1) * (m - 1))
        let randomChi = Self.chiSquare(try Self.table(half, backgrounds: b, motions: m))
        #expect(randomChi < critical, "random half: chi-square \(randomChi) >= \(critical)")
        // ... which a half chosen by label (background + motion even) does not: the check can fail.
        let dependent = entries.filter {
            (SyntheticBackground(name: $0.background)!.rawValue + SyntheticMotion(name: $0.motion)!.rawValue) % 2 == 0
        }
        #expect(dependent.count == half.count)
        let dependentChi = Self.chiSquare(try Self.table(dependent, backgrounds: b, motions: m))
        #expect(dependentChi > critical, "dependent half: chi-square \(dependentChi) <= \(critical)")

        // The plan is the same without rendering, and a larger dataset with the same seed contains this one.
        let planned = try SyntheticDataset.plan(backgrounds: b, motions: m, clipsPerPair: n, size: .init(width: 32, height: 32),
                                                frames: 4, seed: 9)
        #expect(planned == summary.items)
        let larger = try SyntheticDataset.plan(backgrounds: b + 2, motions: m + 1, clipsPerPair: n,
                                               size: .init(width: 32, height: 32), frames: 4, seed: 9)
        #expect(Set(summary.items).isSubset(of: Set(larger)))
        // Objects and colours are drawn per clip, not per label: seeds are all distinct.
        #expect(Set(summary.items.map(\.clip.seed)).count == summary.items.count)
    }

    // MARK: Reproducibility

    @Test func sameSeedGivesIdenticalFilesAndAnotherSeedOtherVideos() throws {
        let root = try TestSupport.makeDirectory("synthetic-seed")
        defer { TestSupport.removeDirectory(root) }
        func make(_ name: String, seed: UInt64) throws -> SyntheticDataset.Summary {
            try SyntheticDataset.generate(directory: root + "/" + name, backgrounds: 3, motions: 4, clipsPerPair: 2,
                                          size: .init(width: 32, height: 32), frames: 8, seed: seed,
                                          testFraction: 0.5, threads: name == "b" ? 1 : 2)
        }
        let a = try make("a", seed: 7), b = try make("b", seed: 7), c = try make("c", seed: 8)
        #expect(try Self.fileBytes(a.manifestPath) == Self.fileBytes(b.manifestPath))
        for item in a.items {
            let x = try Self.fileBytes(a.directory + "/" + item.path), y = try Self.fileBytes(b.directory + "/" + item.path)
            #expect(x == y, "\(item.path) differs between two runs with the same seed")
        }
        // Another seed: the same design (labels, counts), but every clip is another video.
        #expect(c.items.map(\.clip.background) == a.items.map(\.clip.background))
        #expect(c.items.map(\.clip.motion) == a.items.map(\.clip.motion))
        for (x, y) in zip(a.items, c.items) {
            let va = try Self.decode(a.directory + "/" + x.path), vc = try Self.decode(c.directory + "/" + y.path)
            let meanDifference = zip(va.pixels, vc.pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
            #expect(Double(meanDifference) / Double(va.pixels.count) > 5, "\(x.path) vs \(y.path)")
        }
    }

    // MARK: What the labels mean, measured on decoded frames

    /// Renders and encodes `clip`, decodes it, and returns the decoded video with the rendered background.
    static func roundTrip(_ clip: SyntheticClip, in dir: String) throws -> (video: RGBVideo, background: RGBVideo) {
        let path = dir + "/\(clip.background.name)-\(clip.motion.name)-\(clip.seed).mp4"
        try clip.write(to: path, fps: 16)
        return (try decode(path), clip.renderBackground())
    }

    @Test func backgroundsDifferInPixelStatistics() throws {
        let dir = try TestSupport.makeDirectory("synthetic-backgrounds")
        defer { TestSupport.removeDirectory(dir) }
        /// Over background pixels (and their neighbours) of the decoded first frame: the share of pixels
        /// with a luma gradient above 6 whose gradient has gx * gy < 0, and the share of such pixels.
        func statistics(_ background: SyntheticBackground, seed: UInt64) throws -> (negative: Double, edgy: Double) {
            let clip = try SyntheticClip(background: background, motion: .still, width: 64, height: 64, frames: 3, seed: seed)
            let (video, bg) = try Self.roundTrip(clip, in: dir)
            let fg = Self.foreground(video, frame: 0, background: bg)
            let y = Self.luma(video, frame: 0)
            var strong = 0, negative = 0, counted = 0
            for r in 1..<63 {
                for c in 1..<63 {
                    let near = [r * 64 + c, r * 64 + c - 1, r * 64 + c + 1, (r - 1) * 64 + c, (r + 1) * 64 + c]
                    guard !near.contains(where: { fg[$0] }) else { continue }
                    counted += 1
                    let gx = (y[r * 64 + c + 1] - y[r * 64 + c - 1]) / 2, gy = (y[(r + 1) * 64 + c] - y[(r - 1) * 64 + c]) / 2
                    guard gx * gx + gy * gy > 36 else { continue }
                    strong += 1
                    if gx * gy < 0 { negative += 1 }
                }
            }
            #expect(counted > 64 * 64 / 3, "\(background) seed \(seed): only \(counted) background pixels")
            return (strong > 0 ? Double(negative) / Double(strong) : 0.5, Double(strong) / Double(counted))
        }
        for seed: UInt64 in [1, 2, 3] {
            // Gratings at 45 and 135 degrees: opposite gradient orientation.
            let g45 = try statistics(.grating45, seed: seed), g135 = try statistics(.grating135, seed: seed)
            #expect(g45.negative < 0.2 && g135.negative > 0.8, "seed \(seed): \(g45) vs \(g135)")
            // A checkerboard's edges against a gradient's smooth ramp.
            let checks = try statistics(.checkerboard, seed: seed), ramp = try statistics(.gradient, seed: seed)
            #expect(checks.edgy > 0.15 && ramp.edgy < 0.02, "seed \(seed): checkerboard \(checks) vs gradient \(ramp)")
        }
    }

    @Test func motionsMoveTheForegroundAsNamed() throws {
        let dir = try TestSupport.makeDirectory("synthetic-motions")
        defer { TestSupport.removeDirectory(dir) }
        /// Foreground centroids and areas per decoded frame, and the frame-difference energy.
        func measure(_ motion: SyntheticMotion, seed: UInt64)
            throws -> (track: [(x: Double, y: Double, area: Int)], energy: Double)
        {
            // A smooth background keeps compression noise out of the foreground mask.
            let clip = try SyntheticClip(background: .gradient, motion: motion, width: 64, height: 64, frames: 16, seed: seed)
            let (video, bg) = try Self.roundTrip(clip, in: dir)
            #expect(video.frameCount == 16)
            let track = (0..<video.frameCount).map {
                Self.centroid(Self.foreground(video, frame: $0, background: bg), width: 64)
            }
            #expect(track.allSatisfy { $0.area > 10 }, "\(motion) seed \(seed): foreground lost")
            return (track, Self.differenceEnergy(video))
        }
        for seed: UInt64 in [11, 12, 13] {
            let still = try measure(.still, seed: seed)
            let stillShift = still.track.map { hypot($0.x - still.track[0].x, $0.y - still.track[0].y) }.max()!
            #expect(stillShift < 0.5 && still.energy < 0.3, "still seed \(seed): shift \(stillShift), energy \(still.energy)")
            for (motion, dx, dy) in [(SyntheticMotion.translateRight, 1.0, 0.0), (.translateLeft, -1, 0),
                                     (.translateDown, 0, 1), (.translateUp, 0, -1)] {
                let m = try measure(motion, seed: seed)
                let (first, last) = (m.track.first!, m.track.last!)
                let along = (last.x - first.x) * dx + (last.y - first.y) * dy
                let across = abs((last.x - first.x) * dy - (last.y - first.y) * dx)
                #expect(along > 8 && across < 1.5, "\(motion) seed \(seed): along \(along), across \(across)")
                // Steadily: every quarter of the clip moves the same way.
                let quarters = stride(from: 0, to: 16, by: 5).map { m.track[$0] }
                for (p, q) in zip(quarters, quarters.dropFirst()) {
                    #expect((q.x - p.x) * dx + (q.y - p.y) * dy > 1, "\(motion) seed \(seed): stalls")
                }
                #expect(m.energy > 5 * max(still.energy, 0.05), "\(motion) seed \(seed): energy \(m.energy)")
            }
            let zoomIn = try measure(.zoomIn, seed: seed), zoomOut = try measure(.zoomOut, seed: seed)
            #expect(Double(zoomIn.track.last!.area) > 3 * Double(zoomIn.track.first!.area), "zoom-in seed \(seed)")
            #expect(Double(zoomOut.track.first!.area) > 3 * Double(zoomOut.track.last!.area), "zoom-out seed \(seed)")
            // Rotation in place: the centroid stays, the pixels change.
            let rotate = try measure(.rotate, seed: seed)
            let rotateShift = rotate.track.map { hypot($0.x - rotate.track[0].x, $0.y - rotate.track[0].y) }.max()!
            #expect(rotateShift < 2 && rotate.energy > 5 * max(still.energy, 0.05),
                    "rotate seed \(seed): shift \(rotateShift), energy \(rotate.energy)")
            // A circle: the centroid travels and turns clockwise on screen (positive shoelace area, y down).
            let circle = try measure(.circle, seed: seed).track
            let path = zip(circle, circle.dropFirst()).reduce(0) { $0 + hypot($1.1.x - $1.0.x, $1.1.y - $1.0.y) }
            let area = zip(circle, circle.dropFirst()).reduce(0) { $0 + ($1.0.x * $1.1.y - $1.1.x * $1.0.y) } / 2
            #expect(path > 15 && area > 20, "circle seed \(seed): path \(path), signed area \(area)")
            // Oscillation: horizontal, back and forth.
            let swing = try measure(.oscillate, seed: seed).track
            let steps = zip(swing, swing.dropFirst()).map { $1.x - $0.x }.filter { abs($0) > 0.3 }
            let reversals = zip(steps, steps.dropFirst()).count { $0 * $1 < 0 }
            let vertical = swing.map(\.y).max()! - swing.map(\.y).min()!
            #expect(reversals >= 2 && vertical < 1.5, "oscillate seed \(seed): \(reversals) reversals, \(vertical) px vertical")
        }
    }

    // MARK: Video writer

    @Test(arguments: [VideoWriter.Codec.mpeg4, .h264, .automatic], ["mp4", "mkv"])
    func videoWriterRoundTripsFrames(codec: VideoWriter.Codec, container: String) throws {
        if codec == .h264 && !VideoWriter.h264Available {
            #expect(throws: MediaError.self) { try VideoWriter.findEncoder(.h264) }
            return
        }
        let dir = try TestSupport.makeDirectory("writer")
        defer { TestSupport.removeDirectory(dir) }
        let (w, h, count) = (40, 24, 10)
        // Left half: a solid colour that changes per frame; right half: smooth ramps that move a pixel a frame.
        func pixel(_ f: Int, _ x: Int, _ y: Int) -> [UInt8] {
            if x < w / 2 { return [UInt8(30 + 20 * f), UInt8(200 - 15 * f), UInt8(90 + 7 * f)] }
            return [UInt8(40 + 3 * (x + f)), UInt8(60 + 5 * y), UInt8(220 - 2 * (x + f))]
        }
        let path = dir + "/out." + container
        let writer = try VideoWriter(path: path, width: w, height: h, fps: 25, options: .init(codec: codec))
        #expect(writer.codecName == (codec == .mpeg4 || !VideoWriter.h264Available ? "mpeg4" : "h264"))
        var sent: [[UInt8]] = []
        for f in 0..<count {
            let frame = (0..<h).flatMap { y in (0..<w).flatMap { x in pixel(f, x, y) } }
            try writer.write(rgb: frame)
            sent.append(frame)
        }
        try writer.finish()
        #expect(writer.framesWritten == count && writer.isFinished)
        #expect(throws: MediaError.self) { try writer.write(rgb: sent[0]) }
        let video = try Self.decode(path)
        #expect(video.frameCount == count && video.width == w && video.height == h)
        let probe = try VideoProbe.probe(path)
        #expect(probe.codec == writer.codecName && abs(probe.frameRate - 25) < 1e-6)
        for f in 0..<min(count, video.frameCount) {
            let got = Array(video.frame(f))
            let error = zip(got, sent[f]).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
            let mean = Double(error) / Double(sent[f].count)
            #expect(mean < 3, "\(codec) \(container) frame \(f): mean error \(mean)")
            // No colour shift: the solid half's mean colour comes back within 8-bit YUV rounding (a BT.601/709
            // matrix or a full/limited range mismatch would move these colours by 10 levels or more).
            for c in 0..<3 {
                var sum = 0
                for y in 0..<h { for x in 0..<(w / 2 - 2) { sum += Int(got[3 * (y * w + x) + c]) } }
                let average = Double(sum) / Double(h * (w / 2 - 2))
                #expect(abs(average - Double(pixel(f, 0, 0)[c])) < 4, "\(codec) frame \(f) channel \(c): \(average)")
            }
        }
    }

    @Test func videoWriterRejectsBadInput() throws {
        let dir = try TestSupport.makeDirectory("writer-bad")
        defer { TestSupport.removeDirectory(dir) }
        func code(_ body: () throws -> Void) -> MediaError.Code? {
            do { try body() } catch let e as MediaError { return e.code } catch { return nil }
            return nil
        }
        #expect(code { _ = try VideoWriter(path: dir + "/a.mp4", width: 33, height: 32, fps: 16) } == .invalidOptions)
        #expect(code { _ = try VideoWriter(path: dir + "/a.mp4", width: 8, height: 8, fps: 16) } == .invalidOptions)
        #expect(code { _ = try VideoWriter(path: dir + "/a.mp4", width: 32, height: 32, fps: 0) } == .invalidOptions)
        #expect(code { _ = try VideoWriter(path: dir + "/a.mp4", width: 32, height: 32, fps: 16, options: .init(crf: 99)) } == .invalidOptions)
        #expect(code { _ = try VideoWriter(path: dir + "/a.nosuchformat", width: 32, height: 32, fps: 16) } == .encoderUnavailable)
        #expect(code { _ = try VideoWriter(path: dir + "/missing/a.mp4", width: 32, height: 32, fps: 16) } == .fileSystem)
        let writer = try VideoWriter(path: dir + "/b.mp4", width: 32, height: 32, fps: 16)
        #expect(code { try writer.write(rgb: [UInt8](repeating: 0, count: 100)) } == .shapeMismatch)
        #expect(code { try writer.finish() } == .invalidOptions)  // nothing written
        #expect(code { try writer.write(rgb: [UInt8](repeating: 0, count: 32 * 32 * 3)) } == .invalidOptions)  // failed

        // A writer released without finish() still closes its file with what was muxed (MPEG-4 Part 2
        // without B-frames has no encoder delay: every frame).
        do {
            let abandoned = try VideoWriter(path: dir + "/c.mp4", width: 32, height: 32, fps: 16, options: .init(codec: .mpeg4))
            for k in 0..<3 { try abandoned.write(rgb: [UInt8](repeating: UInt8(60 * k), count: 32 * 32 * 3)) }
        }
        #expect(try Self.decode(dir + "/c.mp4").frameCount == 3)
    }

    // MARK: Bad arguments

    @Test func badArgumentsAreClearErrorsAndWriteNothing() throws {
        let root = try TestSupport.makeDirectory("synthetic-bad")
        defer { TestSupport.removeDirectory(root) }
        let square = SyntheticDataset.Size(width: 32, height: 32)
        func failure(b: Int = 2, m: Int = 2, n: Int = 2, size: SyntheticDataset.Size = .init(width: 32, height: 32),
                     frames: Int = 4, fps: Double = 16, f: Double = 0.5) -> MediaError? {
            let dir = root + "/never"
            do {
                _ = try SyntheticDataset.generate(directory: dir, backgrounds: b, motions: m, clipsPerPair: n, size: size,
                                                  frames: frames, fps: fps, seed: 1, testFraction: f)
            } catch let e as MediaError {
                #expect(!FileManager.default.fileExists(atPath: dir), "a rejected call created \(dir)")
                return e
            } catch { return nil }
            return nil
        }
        let cases: [(MediaError?, String)] = [
            (failure(b: 0), "backgrounds"), (failure(b: SyntheticBackground.allCases.count + 1), "backgrounds"),
            (failure(m: 0), "motions"), (failure(m: SyntheticMotion.allCases.count + 1), "motions"),
            (failure(n: 0), "clips per pair"), (failure(b: 11, m: 11, n: 1000), "allowed"),
            (failure(size: .init(width: 33, height: 32)), "even"), (failure(size: .init(width: 14, height: 14)), "out of range"),
            (failure(frames: 1), "frames"), (failure(fps: 0), "fps"), (failure(fps: .nan), "fps"),
            (failure(f: 1), "test fraction"), (failure(f: -0.1), "test fraction"),
            (failure(n: 1, f: 0.25), "no test clip"), (failure(n: 2, f: 0.9), "no training clip"),
        ]
        for (error, phrase) in cases {
            let e = try #require(error, "expected an error mentioning '\(phrase)'")
            #expect(e.code == .invalidOptions && e.message.contains(phrase), "\(e)")
        }
        #expect(throws: MediaError.self) { try SyntheticDataset.Size(parsing: "64by64") }
        #expect(try SyntheticDataset.Size(parsing: "64x48") == .init(width: 64, height: 48))
        #expect(try SyntheticDataset.Size(parsing: "32") == .init(width: 32, height: 32))
        #expect(throws: MediaError.self) {
            try SyntheticClip(background: .noise, motion: .still, width: 31, height: 32, frames: 4, seed: 0)
        }

        // An existing dataset is kept unless overwriting is asked for.
        let dir = root + "/data"
        let first = try SyntheticDataset.generate(directory: dir, backgrounds: 2, motions: 2, clipsPerPair: 2, size: square,
                                                  frames: 4, seed: 1, testFraction: 0.5)
        let before = try Self.fileBytes(first.manifestPath)
        do {
            _ = try SyntheticDataset.generate(directory: dir, backgrounds: 1, motions: 1, clipsPerPair: 2, size: square,
                                              frames: 4, seed: 2, testFraction: 0.5)
            Issue.record("generating over an existing dataset did not fail")
        } catch let e as MediaError {
            #expect(e.code == .fileSystem && e.message.contains("already holds a dataset"))
        }
        #expect(try Self.fileBytes(first.manifestPath) == before)
        let second = try SyntheticDataset.generate(directory: dir, backgrounds: 1, motions: 1, clipsPerPair: 2, size: square,
                                                   frames: 4, seed: 2, testFraction: 0.5, overwrite: true)
        let videos = try ["train", "test"].flatMap { try FileManager.default.contentsOfDirectory(atPath: dir + "/" + $0) }
        #expect(videos.count == second.items.count, "stale videos left: \(videos)")
    }

    @Test func namedMotionsPlanTheSameClipsAsCountedOnes() throws {
        let size = SyntheticDataset.Size(width: 32, height: 32)
        let counted = try SyntheticDataset.plan(backgrounds: 2, motions: 7, clipsPerPair: 4, size: size, frames: 6, seed: 3,
                                                testFraction: 0.5)
        let named = try SyntheticDataset.plan(backgrounds: 2, motionKinds: [.translateLeft, .translateRight], clipsPerPair: 4,
                                              size: size, frames: 6, seed: 3, testFraction: 0.5)
        #expect(named.count == 2 * 2 * 4)
        #expect(Set(named.map(\.clip.motion)) == [.translateLeft, .translateRight])
        // Each named clip is the counted plan's clip of the same pair and index: same seed, same split, same path.
        #expect(named.allSatisfy { n in counted.contains(n) }, "named motions planned other clips")
        #expect(named.filter { $0.split == .test }.count == 8)
        for (kinds, phrase) in [([], "at least one motion"), ([SyntheticMotion.still, .still], "must not repeat")] as [([SyntheticMotion], String)] {
            do {
                _ = try SyntheticDataset.plan(backgrounds: 1, motionKinds: kinds, clipsPerPair: 2, size: size, frames: 4, seed: 1)
                Issue.record("motions \(kinds) were accepted")
            } catch let e as MediaError {
                #expect(e.code == .invalidOptions && e.message.contains(phrase), "\(e)")
            }
        }
    }

    @Test func malformedManifestsAreRejected() throws {
        let good = "path\tbackground\tmotion\tsplit\ntrain/a.mp4\tnoise\tstill\ttrain\n"
        #expect(try SyntheticManifest(parsing: good).entries.count == 1)
        // A manifest saved with Windows line ends parses the same.
        let crlf = good.replacingOccurrences(of: "\n", with: "\r\n") + "train/b.mp4\tnoise\tstill\ttest\r\n"
        #expect(try SyntheticManifest(parsing: crlf).entries.map(\.path) == ["train/a.mp4", "train/b.mp4"])
        for bad in ["path\tlabel\n", good + "train/b.mp4\tnoise\tstill\n", good + "train/b.mp4\tnoise\tstill\tvalidation\n",
                    good + "train/a.mp4\tnoise\tstill\ttest\n", good + "/abs.mp4\tnoise\tstill\ttrain\n"] {
            #expect(throws: MediaError.self) { try SyntheticManifest(parsing: bad) }
        }
    }

    // MARK: The conceptctl binary

    /// `conceptctl` next to the test bundle in the build folder.
    static var conceptctl: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("conceptctl").path
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let r = try TestSupport.runTool(conceptctl, arguments)
        return (r.status, String(decoding: r.out, as: UTF8.self), String(decoding: r.err, as: UTF8.self))
    }

    @Test func conceptctlMakeDatasetRunsAndRejectsBadArguments() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.conceptctl),
                     "\(Self.conceptctl) is missing: build with `swift build -c release -Xswiftc -enable-testing --build-tests`")
        let root = try TestSupport.makeDirectory("conceptctl")
        defer { TestSupport.removeDirectory(root) }
        let dir = root + "/set"
        let args = ["make-dataset", dir, "--backgrounds", "2", "--motions", "3", "--clips-per-pair", "2",
                    "--size", "32x32", "--frames", "8", "--seed", "3", "--test-fraction", "0.5"]
        let good = try Self.run(args)
        #expect(good.status == 0, "stderr: \(good.err)")
        #expect(good.out.contains("wrote 12 clips (6 train, 6 test)"), "\(good.out)")
        let manifest = try SyntheticManifest(contentsOf: dir + "/manifest.tsv")
        #expect(manifest.entries.count == 12)
        let video = try Self.decode(dir + "/" + manifest.entries[0].path)
        #expect(video.frameCount == 8 && video.width == 32 && video.height == 32)
        // The library with the same arguments writes the same manifest.
        let library = try SyntheticDataset.plan(backgrounds: 2, motions: 3, clipsPerPair: 2, size: .init(width: 32, height: 32),
                                                frames: 8, seed: 3, testFraction: 0.5)
        #expect(manifest.entries == library.map(\.entry))

        let again = try Self.run(args)
        #expect(again.status != 0 && again.err.contains("already holds a dataset"), "\(again)")
        #expect(try Self.run(args + ["--overwrite", "--codec", "mpeg4"]).status == 0)
        #expect(try VideoProbe.probe(dir + "/" + manifest.entries[0].path).codec == "mpeg4")

        let bad: [([String], String)] = [
            (["--size", "31x32"], "even"), (["--size", "big"], "WxH"), (["--backgrounds", "99"], "backgrounds"),
            (["--test-fraction", "1"], "test fraction"), (["--codec", "vp9"], "--codec"), (["--frames", "1"], "frames"),
        ]
        for (change, phrase) in bad {
            var a = args
            a[1] = root + "/bad"
            let key = change[0]
            if let i = a.firstIndex(of: key) { a[i + 1] = change[1] } else { a += change }
            let r = try Self.run(a)
            #expect(r.status != 0 && r.err.contains(phrase), "\(change): status \(r.status), stderr \(r.err)")
            #expect(!FileManager.default.fileExists(atPath: root + "/bad/manifest.tsv"))
        }
        let missing = try Self.run(Array(args.prefix(args.count - 4)))  // no --seed
        #expect(missing.status != 0 && missing.err.contains("--seed"), "\(missing.err)")
    }
}
