import Foundation
import Service
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The repository root (this file is Tests/ServiceTests/Support.swift).
let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// A fresh temporary directory, removed by `cleanup()`.
struct TempDir {
    let path: String

    init() throws {
        var base = NSTemporaryDirectory()
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        var template = Array((base + "/conceptd-test-XXXXXX").utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestFailure("mkdtemp: \(String(cString: strerror(errno)))")
        }
        path = String(cString: p)
    }

    func file(_ name: String, _ contents: String, mode: Int = 0o644) throws -> String {
        let p = path + "/" + name
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try contents.write(toFile: p, atomically: false, encoding: .utf8)
        chmod(p, mode_t(mode))
        return p
    }

    func directory(_ name: String) throws -> String {
        let p = path + "/" + name
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A bound unix datagram socket that receives what the code under test sends (the notify and journal protocols).
final class DatagramReceiver {
    let fd: Int32
    /// The address to give the sender: a path, or `@name` for an abstract socket.
    let address: String

    /// Binds `path` (a file system path), or an abstract name when `abstract` is true.
    init(path: String, abstract: Bool = false) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if abstract { bytes.insert(0, at: 0) }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let len = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + bytes.count + (abstract ? 0 : 1))
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard r == 0 else {
            let e = errno
            close(fd)
            throw TestFailure("bind \(path): \(String(cString: strerror(e)))")
        }
        self.fd = fd
        address = abstract ? "@" + path : path
    }

    deinit { close(fd) }

    /// The next datagram, or nil after `timeout` seconds.
    func receive(timeout: Double = 5) -> [UInt8]? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, Int32(timeout * 1000)) == 1 else { return nil }
        var buf = [UInt8](repeating: 0, count: 256 * 1024)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n >= 0 ? Array(buf[0..<n]) : nil
    }

    /// The next datagram as text.
    func receiveText(timeout: Double = 5) -> String? { receive(timeout: timeout).map { String(decoding: $0, as: UTF8.self) } }
}

/// The output of a finished child process.
struct ProcessResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs `executable` with `arguments` to completion (stdin closed).
func runProcess(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                stderrTo stderrPath: String? = nil, currentDirectory: String? = nil) throws -> ProcessResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let environment { p.environment = environment }
    if let currentDirectory { p.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
    let out = Pipe()
    let err = Pipe()
    p.standardInput = FileHandle.nullDevice
    p.standardOutput = out
    var errFile: FileHandle?
    if let stderrPath {
        errFile = FileHandle(forWritingAtPath: stderrPath)
        p.standardError = errFile
    } else {
        p.standardError = err
    }
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = stderrPath == nil ? err.fileHandleForReading.readDataToEndOfFile() : Data()
    p.waitUntilExit()
    try errFile?.close()
    return ProcessResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                         stderr: String(decoding: e, as: UTF8.self))
}

/// The built `conceptd` executable: next to the test bundle in the build directory, or `$CONCEPTD_BINARY`.
func conceptdBinary() throws -> String {
    if let p = ProcessInfo.processInfo.environment["CONCEPTD_BINARY"], FileManager.default.isExecutableFile(atPath: p) {
        return p
    }
    var candidates: [URL] = []
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    candidates.append(exe.deletingLastPathComponent())
    candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
    candidates.append(URL(fileURLWithPath: repoRoot + "/.build/release"))
    for dir in candidates {
        var d = dir
        // The test binary may sit inside a bundle directory; walk up a few levels.
        for _ in 0..<3 {
            let p = d.appendingPathComponent("conceptd").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
            d.deleteLastPathComponent()
        }
    }
    throw TestFailure("conceptd binary not found next to the tests (\(exe.path)); build with --build-tests or set CONCEPTD_BINARY")
}

/// Searches PATH for a program.
func which(_ name: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let p = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return nil
}

/// An environment for configuration tests: nothing from the real process, cwd the given directory.
func testEnvironment(_ dir: String, _ vars: [String: String] = [:]) -> ConfigEnvironment {
    ConfigEnvironment(variables: vars, workingDirectory: dir)
}

/// The shipped demo configuration made runnable in a temporary directory: `configs/demo.toml` with its state
/// directory moved there and the API on an ephemeral port, and its probe set generated by the real `conceptctl
/// make-dataset` (smaller than `make run`'s, same labels).
struct DemoFixture {
    let dir: TempDir
    let config: String
    var state: String { dir.path + "/state" }

    init(probeClipsPerPair: Int = 4) throws {
        dir = try TempDir()
        var text = try String(contentsOfFile: repoRoot + "/configs/demo.toml", encoding: .utf8)
        guard text.contains("state_directory = \".build/demo\""), text.contains("listen = \"127.0.0.1:8787\"") else {
            throw TestFailure("configs/demo.toml changed shape: update DemoFixture")
        }
        text = text.replacingOccurrences(of: "state_directory = \".build/demo\"", with: "state_directory = \"\(dir.path)/state\"")
        text = text.replacingOccurrences(of: "listen = \"127.0.0.1:8787\"", with: "listen = \"127.0.0.1:0\"")
        config = try dir.file("demo.toml", text)
        try FileManager.default.createDirectory(atPath: dir.path + "/state/watch", withIntermediateDirectories: true)
        let ctl = (try conceptdBinary() as NSString).deletingLastPathComponent + "/conceptctl"
        let r = try runProcess(ctl, ["make-dataset", dir.path + "/state/probe", "--backgrounds", "4", "--motions", "4",
                                     "--clips-per-pair", "\(probeClipsPerPair)", "--size", "64x64", "--frames", "24",
                                     "--test-fraction", "0.5", "--seed", "7"])
        guard r.status == 0 else { throw TestFailure("make-dataset failed: \(r.stdout)\(r.stderr)") }
    }

    /// `conceptctl` next to `conceptd`.
    static func conceptctl() throws -> String { (try conceptdBinary() as NSString).deletingLastPathComponent + "/conceptctl" }
}
