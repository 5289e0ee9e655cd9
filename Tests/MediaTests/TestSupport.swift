import ConceptTestSupport
import Foundation
import Glibc
import Testing
@testable import Media
import LibAV
import ConceptReports

/// Shared helpers for the media tests: temporary folders, ffmpeg fixtures, child processes, ports.
enum TestSupport {
    /// Quietens libav's own stderr lines (corrupt fixtures make it chatty) once per process.
    static let quiet: Void = { MediaLibrary.routeLibavLogs(to: nil, level: .quiet) }()

    /// `options` logging only errors (the tests provoke plenty of warnings on purpose).
    static func quiet(_ options: SourceOptions) -> SourceOptions {
        var o = options
        o.logger.logLevel = .error
        return o
    }

    /// A fresh temporary directory; remove it with `removeDirectory`.
    static func makeDirectory(_ tag: String = "media") throws -> String { try TempDir(tag).path }

    static func removeDirectory(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Runs `ffmpeg -hide_banner -loglevel error -nostdin -y <arguments>` to completion (fails the test on a
    /// non-zero exit).
    /// Runs `executable` to completion (stdin closed) and returns its status, stdout and stderr.
    static func runTool(_ executable: String, _ arguments: [String]) throws -> (status: Int32, out: Data, err: Data) {
        let r = try runProcess(executable, arguments)
        return (r.status, r.output, r.errorOutput)
    }

    static func ffmpeg(_ arguments: [String], input: Data? = nil, sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        p.arguments = ["-hide_banner", "-loglevel", "error", "-nostdin", "-y"] + arguments
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        let inPipe = Pipe()
        if input != nil { p.standardInput = inPipe } else { p.standardInput = FileHandle.nullDevice }
        try p.run()
        if let input {
            inPipe.fileHandleForWriting.write(input)
            try inPipe.fileHandleForWriting.close()
        }
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        if p.terminationStatus != 0 {
            let text = String(decoding: errData, as: UTF8.self)
            Issue.record("ffmpeg \(arguments.joined(separator: " ")) failed: \(text)", sourceLocation: sourceLocation)
            throw MediaError(.invalidOptions, "ffmpeg failed")
        }
    }

    /// A test-pattern video (`testsrc2`) of `seconds` at `rate` fps and `size`, encoded by `codec` args.
    static func testVideo(_ path: String, seconds: Double = 2, rate: Int = 25, size: String = "64x48",
                          codec: [String] = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
                          extra: [String] = []) throws
    {
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=\(size):rate=\(rate):duration=\(seconds)"] + codec + extra + [path])
    }

    /// A free TCP port on 127.0.0.1 (bound and released).
    static func freePort() throws -> UInt16 { try ConceptTestSupport.freePort() }

    /// Polls `condition` every 20 ms until it holds or `timeout` seconds pass.
    static func eventually(timeout: Double, _ condition: () -> Bool) async -> Bool {
        let until = Date(timeIntervalSinceNow: timeout)
        while Date() < until {
            if condition() { return true }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return condition()
    }

    /// Whether `source`'s thread ends within `seconds` (polled, without blocking a task thread).
    static func finishes(_ source: MediaSource, within seconds: Double) async -> Bool {
        await eventually(timeout: seconds) { source.isFinished }
    }

    /// Every clip left in `queue` (does not wait).
    static func drain(_ queue: ClipQueue) -> [Clip] {
        var clips: [Clip] = []
        while let c = queue.tryPop() { clips.append(c) }
        return clips
    }

    /// Runs a file source to its end and returns its clips and final statistics.
    static func ingestFile(_ uri: String, clip: ClipOptions, queueCapacity: Int = 512, threads: Int = 1,
                           name: String? = nil)
        async throws -> (clips: [Clip], stats: SourceStatistics)
    {
        _ = quiet
        let queue = ClipQueue(capacity: queueCapacity)
        let source = try MediaSource(uri: uri, name: name, options: quiet(SourceOptions(clip: clip, decoderThreads: threads)),
                                     queue: queue)
        source.start()
        var clips: [Clip] = []
        // Drain while it runs so a long file never blocks on a full queue.
        while !source.isFinished {
            clips += drain(queue)
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        await source.finished()
        clips += drain(queue)
        return (clips, source.statistics)
    }

    /// Runs a file source to its end, checking every clip against `shape` as it arrives (nothing is kept).
    static func ingestSummary(_ uri: String, clip: ClipOptions, shape: [Int]) async throws
        -> (clips: Int, wellFormed: Bool, stats: SourceStatistics)
    {
        _ = quiet
        let queue = ClipQueue(capacity: 64)
        let source = try MediaSource(uri: uri, options: quiet(SourceOptions(clip: clip, decoderThreads: 1)), queue: queue)
        source.start()
        var count = 0
        var ok = true
        func take() {
            while let c = queue.tryPop() {
                count += 1
                ok = ok && c.shape == shape && c.data.count == shape.reduce(1, *) && c.data.allSatisfy(\.isFinite)
            }
        }
        while !source.isFinished {
            take()
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        await source.finished()
        take()
        return (count, ok, source.statistics)
    }

    /// The repository root.
    static var repositoryRoot: String { ConceptTestSupport.repositoryRoot }

    /// The shared real-video folder: `<repo>/../shared/data/videos`, else `$CONCEPT_VIDEOS_DIR`.
    static var videosDirectory: String? {
        let repo = URL(fileURLWithPath: repositoryRoot)
        let candidates = [
            repo.deletingLastPathComponent().appendingPathComponent("shared/data/videos").path,
            ProcessInfo.processInfo.environment["CONCEPT_VIDEOS_DIR"],
        ].compactMap { $0 }
        return candidates.first { path in
            var dir: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
        }
    }
}

/// A child process (ffmpeg server) killed and reaped on `stop()` or deinit.
final class ChildProcess: @unchecked Sendable {
    let process = Process()

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// An ffmpeg streaming `testsrc2` in real time as MPEG-TS, listening on 127.0.0.1:`port`.
    static func streamServer(port: UInt16, size: String = "64x48", rate: Int = 25) throws -> ChildProcess {
        try ChildProcess("/usr/bin/ffmpeg", [
            "-hide_banner", "-loglevel", "quiet", "-nostdin", "-re", "-f", "lavfi",
            "-i", "testsrc2=size=\(size):rate=\(rate)", "-c:v", "libx264", "-preset", "ultrafast", "-tune",
            "zerolatency", "-g", "10", "-pix_fmt", "yuv420p", "-f", "mpegts", "tcp://127.0.0.1:\(port)?listen=1",
        ])
    }

    var isRunning: Bool { process.isRunning }

    /// SIGKILL and wait.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// A TCP listener on 127.0.0.1 that accepts connections and sends `payload` (possibly nothing), then
/// keeps them open without sending more: a server that never (or no longer) delivers.
final class SilentServer: @unchecked Sendable {
    let port: UInt16
    private let fd: Int32
    private let payload: Data
    private let lock = NSLock()
    private var clients: [Int32] = []
    private var stopped = false
    private var thread: Thread?
    private(set) var accepted = 0

    init(payload: Data = Data()) throws {
        self.payload = payload
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0, listen(sock, 8) == 0 else {
            close(sock)
            throw MediaError(.fileSystem, "listen failed")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &len) }
        }
        fd = sock
        port = UInt16(bigEndian: addr.sin_port)
        let t = Thread { [self] in acceptLoop() }
        thread = t
        t.start()
    }

    private func acceptLoop() {
        while true {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, 50)
            if lock.withLock({ stopped }) { return }
            if r <= 0 { continue }
            let c = accept(fd, nil, nil)
            if c < 0 { continue }
            var timeout = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            if !payload.isEmpty {
                payload.withUnsafeBytes { raw in
                    var off = 0
                    while off < raw.count {
                        let n = send(c, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                        if n <= 0 { break }
                        off += n
                    }
                }
            }
            lock.withLock {
                clients.append(c)
                accepted += 1
            }
        }
    }

    var acceptedCount: Int { lock.withLock { accepted } }

    func stop() {
        let all = lock.withLock { () -> [Int32] in
            if stopped { return [] }
            stopped = true
            return clients + [fd]
        }
        while let t = thread, !t.isFinished { usleep(5_000) }
        for c in all { close(c) }
    }

    deinit { stop() }
}
