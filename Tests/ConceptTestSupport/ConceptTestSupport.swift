import Foundation
import Glibc
import SeededRandom

// Helpers shared by the test targets (never linked into a product): temporary directories, a process runner, a
// free loopback port and the relative error that every numeric comparison uses. The seeded generator is the
// product's own (`SeededRandom`).

/// A test failure outside an expectation (a set-up step that could not run).
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// `‖ours − reference‖ / max(‖reference‖, floor)` over the elements, in Double; infinity when the counts differ.
public func relativeError<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ ours: [A], _ reference: [B],
                                                                          floor: Double = 1e-12) -> Double {
    guard ours.count == reference.count else { return .infinity }
    var d: Double = 0, n: Double = 0
    for i in 0..<reference.count {
        let e = Double(ours[i]) - Double(reference[i])
        d += e * e
        n += Double(reference[i]) * Double(reference[i])
    }
    return d.squareRoot() / Swift.max(n.squareRoot(), floor)
}

/// A fresh temporary directory (`mkdtemp`), removed by `cleanup()`.
public struct TempDir: Sendable {
    /// Its path.
    public let path: String

    /// Creates `$TMPDIR/conceptd-<tag>-XXXXXX`.
    public init(_ tag: String = "test") throws {
        var base = NSTemporaryDirectory()
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        var template = Array((base + "/conceptd-\(tag)-XXXXXX").utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestFailure("mkdtemp: \(String(cString: strerror(errno)))")
        }
        path = String(cString: p)
    }

    /// Writes `contents` to `name` inside (creating parent directories) with `mode`; returns its path.
    @discardableResult
    public func file(_ name: String, _ contents: String, mode: Int = 0o644) throws -> String {
        let p = path + "/" + name
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try contents.write(toFile: p, atomically: false, encoding: .utf8)
        chmod(p, mode_t(mode))
        return p
    }

    /// Creates directory `name` inside; returns its path.
    @discardableResult
    public func directory(_ name: String) throws -> String {
        let p = path + "/" + name
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    /// Removes the directory and everything in it.
    public func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// What a finished process returned.
public struct ProcessResult: Sendable {
    /// Its exit status.
    public let status: Int32
    /// Its standard output, as bytes.
    public let output: Data
    /// Its standard error, as bytes.
    public let errorOutput: Data
    /// Standard output as text.
    public var stdout: String { String(decoding: output, as: UTF8.self) }
    /// Standard error as text.
    public var stderr: String { String(decoding: errorOutput, as: UTF8.self) }
}

/// Runs `executable` with `arguments` to completion, `input` (or nothing) on its standard input; standard error
/// goes to `stderrPath` when given.
public func runProcess(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                       input: Data? = nil, stderrTo stderrPath: String? = nil,
                       currentDirectory: String? = nil) throws -> ProcessResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let environment { p.environment = environment }
    if let currentDirectory { p.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
    let out = Pipe(), err = Pipe(), inPipe = Pipe()
    p.standardInput = input == nil ? FileHandle.nullDevice : inPipe
    p.standardOutput = out
    var errFile: FileHandle?
    if let stderrPath {
        errFile = FileHandle(forWritingAtPath: stderrPath)
        p.standardError = errFile
    } else {
        p.standardError = err
    }
    try p.run()
    if let input {
        inPipe.fileHandleForWriting.write(input)
        try inPipe.fileHandleForWriting.close()
    }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = stderrPath == nil ? err.fileHandleForReading.readDataToEndOfFile() : Data()
    p.waitUntilExit()
    try errFile?.close()
    return ProcessResult(status: p.terminationStatus, output: o, errorOutput: e)
}

/// A free TCP port on 127.0.0.1 (bound to port 0 and released).
public func freePort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else { throw TestFailure("bind: \(String(cString: strerror(errno)))") }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return UInt16(bigEndian: addr.sin_port)
}

/// Test data from the project's generator, so test sequences stay fixed across toolchains.
extension SeededGenerator {
    /// Uniform in [-1, 1).
    public mutating func symmetric() -> Double { unit() * 2 - 1 }
}

/// The repository root (this file is Tests/ConceptTestSupport/ConceptTestSupport.swift).
public let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// `Tests/tools/rtsp_server.py` (GStreamer's RTSP server through Debian's python3-gi), killed on `stop()`.
public final class RTSPTestServer: @unchecked Sendable {
    let process = Process()
    /// `rtsp://127.0.0.1:PORT/test` (or with the path the arguments ask for).
    public let url: String

    /// Starts the server with `arguments` and waits (up to 20 s) for its READY line; throws ``TestFailure`` with
    /// what it printed when it does not start.
    public init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [repositoryRoot + "/Tests/tools/rtsp_server.py"] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let fd = out.fileHandleForReading.fileDescriptor
        var text = ""
        let until = Date(timeIntervalSinceNow: 20)
        while !text.contains("\n") && Date() < until && process.isRunning {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) == 1 else { continue }
            var buf = [UInt8](repeating: 0, count: 512)
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            text += String(decoding: buf[0..<n], as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first, line.hasPrefix("READY ") else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw TestFailure("the RTSP test server did not start (make deps installs python3-gi, "
                + "gir1.2-gst-rtsp-server-1.0 and gstreamer1.0-plugins-*): \(text) \(e)")
        }
        url = String(line.dropFirst("READY ".count))
    }

    /// Kills the server and waits for it.
    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// A built executable of this package: next to the test bundle in the build directory, or `$override`.
public func builtExecutable(_ name: String, override: String) throws -> String {
    if let p = ProcessInfo.processInfo.environment[override], FileManager.default.isExecutableFile(atPath: p) {
        return p
    }
    var candidates: [URL] = []
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    candidates.append(exe.deletingLastPathComponent())
    candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
    candidates.append(URL(fileURLWithPath: repositoryRoot + "/.build/release"))
    for dir in candidates {
        var d = dir
        // The test binary may sit inside a bundle directory; walk up a few levels.
        for _ in 0..<3 {
            let p = d.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
            d.deleteLastPathComponent()
        }
    }
    throw TestFailure("\(name) not found next to the tests (\(exe.path)); build with --build-tests or set \(override)")
}

/// Searches PATH for a program.
public func which(_ name: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let p = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return nil
}
