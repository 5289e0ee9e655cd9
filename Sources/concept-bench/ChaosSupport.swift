import Foundation
import Glibc
import Synchronization

/// A loopback TCP server streaming an MPEG-TS payload in real time to each client (the first second at once, as a
/// camera's GOP cache does), that can go away (listener and connections closed) and come back on the same port:
/// the chaos run's flapping camera.
final class FlappingStreamServer: Sendable {
    private let payload: [UInt8]
    private let bytesPerSecond: Double
    private struct State {
        var port: UInt16 = 0
        var listener: Int32 = -1
        var up = false
        var clients: [Int32] = []
        var running = 0
        var accepting = false
    }
    private let state = Mutex(State())

    /// The port it listens on (the same one after every return).
    var port: UInt16 { state.withLock { $0.port } }

    /// Serves `payload` (holding `seconds` of stream, sent in a loop) and starts listening on an ephemeral port.
    init(payload: [UInt8], seconds: Double) throws {
        self.payload = payload
        bytesPerSecond = Double(payload.count) / seconds
        try comeBack()
    }

    var isUp: Bool { state.withLock { $0.up } }

    /// Listens again (on the same port after the first time).
    func comeBack() throws {
        let port = self.port
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError(.toolFailed, "socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = port.bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0, listen(fd, 8) == 0 else {
            let e = errno
            close(fd)
            throw BenchError(.toolFailed, "bind/listen on port \(port): \(String(cString: strerror(e)))")
        }
        var bound = port
        if port == 0 {
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
            }
            bound = UInt16(bigEndian: addr.sin_port)
        }
        state.withLock { $0.port = bound; $0.listener = fd; $0.up = true; $0.accepting = true }
        Thread { [self] in
            acceptLoop(fd)
            state.withLock { $0.accepting = false }
        }.start()
    }

    /// Closes the listener and every connection.
    func goAway() {
        let open = state.withLock { s -> [Int32] in s.up = false; return s.clients }
        while state.withLock({ $0.accepting }) { usleep(2_000) }
        for c in open { shutdown(c, Int32(SHUT_RDWR)) }
        while state.withLock({ $0.running > 0 }) { usleep(2_000) }
        state.withLock { s in
            if s.listener >= 0 { close(s.listener) }
            s.listener = -1
        }
    }

    private func acceptLoop(_ fd: Int32) {
        while state.withLock({ $0.up }) {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 20) == 1 else { continue }
            let c = accept(fd, nil, nil)
            if c < 0 { continue }
            let admitted = state.withLock { s -> Bool in
                guard s.up else { return false }
                s.clients.append(c)
                s.running += 1
                return true
            }
            guard admitted else { close(c); continue }
            Thread { [self] in serve(c) }.start()
        }
    }

    private func serve(_ c: Int32) {
        defer {
            state.withLock { s in s.clients.removeAll { $0 == c }; s.running -= 1 }
            close(c)
        }
        let start = Date()
        var sent = 0  // total bytes, the payload repeated
        while state.withLock({ $0.up }) {
            let due = Int(bytesPerSecond * (1 + Date().timeIntervalSince(start)))
            while sent < due {
                let offset = sent % payload.count
                let n = payload.withUnsafeBytes { send(c, $0.baseAddress! + offset, min(due - sent, payload.count - offset), Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return }
                sent += n
            }
            usleep(20_000)
        }
    }
}

/// A bound unix datagram socket receiving the daemon's sd_notify messages (NOTIFY_SOCKET).
final class NotifyReceiver {
    let fd: Int32
    let path: String

    init(path: String) throws {
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw BenchError(.toolFailed, "socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let len = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + bytes.count + 1)
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard fd >= 0, r == 0 else {
            let e = errno
            if fd >= 0 { close(fd) }
            throw BenchError(.toolFailed, "bind \(path): \(String(cString: strerror(e)))")
        }
        self.fd = fd
        self.path = path
    }

    deinit { close(fd); unlink(path) }

    /// Every datagram that arrives within `timeout` seconds (returns at the first quiet poll after one arrived).
    func drain(timeout: Double) -> [String] {
        var out: [String] = []
        var wait = Int32(timeout * 1000)
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, wait) == 1 else { return out }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { out.append(String(decoding: buf[0..<n], as: UTF8.self)) }
            wait = 0
        }
    }
}

/// Runs a program to completion; returns its status and combined output.
@discardableResult
func runTool(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A free TCP port on 127.0.0.1 (bound and released).
func freeLoopbackPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else { throw BenchError(.toolFailed, "cannot bind a loopback port") }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return UInt16(bigEndian: addr.sin_port)
}
