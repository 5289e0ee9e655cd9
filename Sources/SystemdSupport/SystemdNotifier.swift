import Glibc

/// One assignment of the sd_notify protocol (`sd_notify(3)`).
public enum NotifyState: Sendable, Equatable {
    /// `READY=1`: start-up (or a reload) finished.
    case ready
    /// `RELOADING=1` with `MONOTONIC_USEC=`: a reload began at this `CLOCK_MONOTONIC` time (µs).
    case reloading(monotonicMicroseconds: UInt64)
    /// `STOPPING=1`: shutdown began.
    case stopping
    /// `WATCHDOG=1`: keep-alive ping.
    case watchdog
    /// `WATCHDOG=trigger`: ask systemd to act as if the watchdog had expired.
    case watchdogTrigger
    /// `STATUS=`: one line shown by `systemctl status` (newlines become spaces).
    case status(String)
    /// `EXTEND_TIMEOUT_USEC=`: ask for more time to start, reload or stop.
    case extendTimeout(microseconds: UInt64)
    /// `ERRNO=`: the error the service failed with.
    case errno(Int32)

    /// The `NAME=value` line.
    public var assignment: String {
        switch self {
        case .ready: "READY=1"
        case .reloading(let t): "RELOADING=1\nMONOTONIC_USEC=\(t)"
        case .stopping: "STOPPING=1"
        case .watchdog: "WATCHDOG=1"
        case .watchdogTrigger: "WATCHDOG=trigger"
        case .status(let s): "STATUS=" + String(s.map { $0.isNewline ? " " : $0 })
        case .extendTimeout(let us): "EXTEND_TIMEOUT_USEC=\(us)"
        case .errno(let e): "ERRNO=\(e)"
        }
    }

    /// `RELOADING=1` stamped with the current `CLOCK_MONOTONIC` time, as systemd requires.
    public static func reloadingNow() -> NotifyState { .reloading(monotonicMicroseconds: Monotonic.microseconds()) }
}

/// `CLOCK_MONOTONIC` in microseconds (the clock of `MONOTONIC_USEC=`).
public enum Monotonic {
    /// The current `CLOCK_MONOTONIC` time in µs.
    public static func microseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
    }
}

/// Sends sd_notify datagrams to `$NOTIFY_SOCKET` (a path, or `@name` for an abstract socket), written here rather
/// than through libsystemd so that the socket comes from an explicit environment (testable in-process).
/// Without `NOTIFY_SOCKET` (not started by systemd) every send does nothing.
public struct SystemdNotifier: Sendable {
    /// The socket address from `NOTIFY_SOCKET`; nil when not running under a notify-type unit.
    public let socketPath: String?

    /// A notifier for the socket named by `environment["NOTIFY_SOCKET"]`.
    public init(environment: [String: String]) {
        let s = environment["NOTIFY_SOCKET"] ?? ""
        socketPath = s.isEmpty ? nil : s
    }

    /// Whether there is a socket to notify.
    public var isEnabled: Bool { socketPath != nil }

    /// Sends the states as one datagram (one `NAME=value` per line). Returns false when notifications are off.
    @discardableResult
    public func send(_ states: [NotifyState]) throws(NotifyError) -> Bool {
        guard let socketPath, !states.isEmpty else { return false }
        try Self.sendDatagram(states.map(\.assignment).joined(separator: "\n"), to: socketPath)
        return true
    }

    /// Sends one state.
    @discardableResult
    public func send(_ state: NotifyState) throws(NotifyError) -> Bool { try send([state]) }

    /// Sends `text` as one datagram to a unix datagram socket (`@name`: abstract namespace).
    package static func sendDatagram(_ text: String, to path: String) throws(NotifyError) {
        guard path.hasPrefix("/") || path.hasPrefix("@") else { throw .unsupportedAddress(path) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(path.utf8)
        let abstract = pathBytes.first == UInt8(ascii: "@")
        if abstract { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        // A path needs room for its terminating NUL; an abstract name does not have one.
        guard pathBytes.count + (abstract ? 0 : 1) <= capacity else { throw .unsupportedAddress(path) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + pathBytes.count + (abstract ? 0 : 1))

        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system("socket", errno) }
        defer { close(fd) }
        let payload = Array(text.utf8)
        var sent: Int
        repeat {
            sent = payload.withUnsafeBytes { buf in
                withUnsafePointer(to: &addr) { ap in
                    ap.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, buf.baseAddress, buf.count, Int32(MSG_NOSIGNAL), $0, length)
                    }
                }
            }
        } while sent < 0 && errno == EINTR
        guard sent >= 0 else { throw .system("sendto \(path)", errno) }
        guard sent == payload.count else { throw .short(path) }
    }
}

/// A notification that could not be sent.
public struct NotifyError: Error, Sendable, CustomStringConvertible {
    private enum Code: Sendable { case unsupportedAddress, system, short }
    private let code: Code
    /// What went wrong.
    public let message: String
    /// The `errno` of a failed call, if any.
    public let errno: Int32?

    private init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    package static func unsupportedAddress(_ p: String) -> NotifyError {
        .init(.unsupportedAddress, "NOTIFY_SOCKET '\(p)' is not a unix socket path or @abstract name that fits sockaddr_un")
    }
    package static func system(_ call: String, _ e: Int32) -> NotifyError {
        .init(.system, "\(call): \(String(cString: strerror(e)))", errno: e)
    }
    package static func short(_ p: String) -> NotifyError { .init(.short, "short datagram write to \(p)") }

    public var description: String { "sd_notify: \(message)" }
}

/// The service manager's watchdog settings (`sd_watchdog_enabled(3)`): `WATCHDOG_USEC`, valid only for the process
/// named by `WATCHDOG_PID` when that is set.
public struct WatchdogSettings: Sendable, Equatable {
    /// The interval after which systemd kills a service that did not ping.
    public var interval: Duration

    /// Settings with an explicit interval.
    public init(interval: Duration) { self.interval = interval }

    /// The settings from the environment, nil when the watchdog is off for this process (`pid`).
    public init?(environment: [String: String], pid: Int32 = getpid()) {
        guard let us = environment["WATCHDOG_USEC"].flatMap({ UInt64($0) }), us > 0 else { return nil }
        if let p = environment["WATCHDOG_PID"], !p.isEmpty {
            guard let v = Int32(p), v == pid else { return nil }
        }
        interval = .microseconds(Int64(clamping: us))
    }

    /// How often to evaluate (and possibly send) a ping: half the interval, as `sd_watchdog_enabled(3)` advises.
    public var pingInterval: Duration { interval / 2 }
}
