import ArgumentParser
import Foundation
import Media
import LibAV

/// `concept-bench ingest FILE --size 112 --fps 16`: decode + scale + clip building through the media layer,
/// next to the ffmpeg CLI doing the same decode and scale to RGB24, timed in the same run.
struct IngestBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Frames/s and clips/s of the ingest pipeline next to the ffmpeg CLI on the same file.")

    @Argument(help: "Video files to ingest.")
    var files: [String]

    @Option(help: "Clip height and width; frames are resized to this short side, then centre-cropped.")
    var size: Int = 112

    @Option(help: "Sampling rate in frames per second.")
    var fps: Double = 16

    @Option(help: "Frames per clip (T + 1).")
    var frames: Int = 17

    @Option(help: "Timed runs of each side; the fastest counts.")
    var runs: Int = 3

    @Option(help: "Decoder threads for the media layer (0: libav decides; default: the core count).")
    var threads: Int?

    @Option(help: "Path of the ffmpeg executable.")
    var ffmpeg: String = "/usr/bin/ffmpeg"

    struct Row {
        var file: String
        var video: String
        var frames: Int
        var clips: Int
        var ours: Double
        var cli: Double
        var cliFps: Double
        var filter: String
    }

    func run() throws {
        // libav's own lines would repeat what the error says (its av_strerror text is in it).
        MediaLibrary.routeLibavLogs(to: nil, level: .quiet)
        let clip = ClipOptions(frames: frames, height: size, width: size, shortSide: size, fps: fps)
        try clip.validate()
        // The CLI's fixed cost (process start, library loading), measured the same way, best of three.
        let startupArgs = ["-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                           "nullsrc=s=16x16:d=0.04", "-f", "null", "-"]
        let startup = try (0..<3).map { _ in try timeProcess(ffmpeg, startupArgs) }.min()!
        var rows: [Row] = []
        for file in files {
            let probe: VideoProbe
            do { probe = try VideoProbe.probe(file) } catch {
                throw BenchError(.ingestFailed, "\(file): cannot be read: \(error)", cause: error)
            }
            let (w, h) = clip.resizedSize(width: probe.width, height: probe.height, orientation: probe.orientation)
            // Same work: every decoded frame scaled (bilinear) to the media layer's resize, in decoded
            // orientation, as RGB24; no autorotation, no frame-rate conversion, no audio.
            let filter = "scale=\(w):\(h):flags=bilinear,format=rgb24"
            let common = ["-nostdin", "-hide_banner", "-loglevel", "error", "-noautorotate", "-i", file, "-an"]
            let cliArgs = common + ["-vf", filter, "-fps_mode", "passthrough", "-f", "rawvideo", "-y", "/dev/null"]
            // The same with the sampling rate applied first (fewer frames scaled, as the media layer does).
            let cliFpsArgs = common + ["-vf", "fps=\(fmt(fps, 3)),\(filter)", "-f", "rawvideo", "-y", "/dev/null"]
            var best = (ours: Double.infinity, cli: Double.infinity, cliFps: Double.infinity)
            var decoded = 0, clips = 0
            for _ in 0..<max(1, runs) {
                let r = try ingestOnce(file, clip: clip)
                decoded = r.frames
                clips = r.clips
                best.ours = min(best.ours, r.seconds)
                best.cli = min(best.cli, try timeProcess(ffmpeg, cliArgs))
                best.cliFps = min(best.cliFps, try timeProcess(ffmpeg, cliFpsArgs))
            }
            let name = (file as NSString).lastPathComponent
            rows.append(Row(file: name, video: "\(probe.width)x\(probe.height) \(probe.codec)", frames: decoded,
                            clips: clips, ours: best.ours, cli: best.cli, cliFps: best.cliFps, filter: filter))
            print("\(name): ours \(fmt(Double(decoded) / best.ours)) frames/s, ffmpeg \(fmt(Double(decoded) / best.cli)) frames/s")
        }
        print("")
        print("| file | video | frames | clips | ours frames/s | ours clips/s | ffmpeg frames/s | ratio | ratio w/o ffmpeg start | ffmpeg+fps frames/s | ratio |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows {
            let f = Double(r.frames)
            let adjusted = max(r.cli - startup, 1e-6) / r.ours
            print("| \(r.file) | \(r.video) | \(r.frames) | \(r.clips) | \(fmt(f / r.ours)) | \(fmt(Double(r.clips) / r.ours)) | \(fmt(f / r.cli)) | \(fmt(r.cli / r.ours, 2))x | \(fmt(adjusted, 2))x | \(fmt(f / r.cliFps)) | \(fmt(r.cliFps / r.ours, 2))x |")
        }
        print("")
        print("ffmpeg:     \(ffmpeg) \(["-noautorotate", "-i", "FILE", "-an", "-vf", "scale=W:H:flags=bilinear,format=rgb24", "-fps_mode", "passthrough", "-f", "rawvideo", "-y", "/dev/null"].joined(separator: " "))")
        print("            W:H = the media layer's resize of the decoded frame (short side \(size)), e.g. \(rows.first?.filter ?? "")")
        print("ffmpeg+fps: the same with -vf fps=\(fmt(fps, 3)),scale=... (frame-rate conversion first, default vsync)")
        print("ours:       MediaSource file source, \(threads.map(String.init) ?? "core count") decoder threads, \(frames)-frame \(size)x\(size) clips at \(fmt(fps)) fps drained from a ClipQueue")
        print("frames/s = decoded frames / wall time (best of \(max(1, runs))); ratio = ffmpeg time / ours (> 1: ours faster)")
        print("ffmpeg start-up (a 16x16 nullsrc run, best of 3): \(fmt(startup * 1000)) ms; the 'w/o start' ratio subtracts it")
    }

    /// Runs the file through a MediaSource and returns the wall time, decoded frames and clips.
    func ingestOnce(_ file: String, clip: ClipOptions) throws -> (seconds: Double, frames: Int, clips: Int) {
        let queue = ClipQueue(capacity: 64)
        var options = SourceOptions(clip: clip, decoderThreads: threads)
        options.logger.logLevel = .error
        let source = try MediaSource(uri: "file:" + file, name: "bench", options: options, queue: queue)
        let start = Date()
        source.start()
        var clips = 0
        while true {
            if queue.pop(timeout: 0.05) != nil {
                clips += 1
            } else if source.isFinished {
                while queue.tryPop() != nil { clips += 1 }
                break
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let stats = source.statistics
        guard stats.state == .finished else {
            throw BenchError(.ingestFailed, "\(file): \(stats.state): \(stats.lastError ?? "no error recorded")")
        }
        return (seconds, stats.framesDecoded, clips)
    }

    /// Wall time of one process run.
    func timeProcess(_ path: String, _ arguments: [String]) throws -> Double {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        let start = Date()
        try p.run()
        p.waitUntilExit()
        let seconds = Date().timeIntervalSince(start)
        guard p.terminationStatus == 0 else {
            throw BenchError(.toolFailed, "\(path) \(arguments.joined(separator: " ")) exited with \(p.terminationStatus)")
        }
        return seconds
    }

    func fmt(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }
}

/// A benchmark that could not run: a file that cannot be ingested, a tool that failed. Printed as `Error: ...`
/// without the usage text (which is for mistakes on the command line, `ValidationError`).
struct BenchError: Error, CustomStringConvertible {
    /// What failed.
    enum Code { case ingestFailed, toolFailed, violation }
    let code: Code
    let message: String
    let cause: (any Error)?

    init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    var description: String { message }
}
