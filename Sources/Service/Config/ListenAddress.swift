import Glibc

/// An address and port to listen on: `127.0.0.1:8787`, `[::1]:8787`, `0.0.0.0:80`, `localhost:8787`.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// An IP address literal (IPv6 without brackets) or `localhost`.
    public var host: String
    /// The TCP port (0: any free port, useful in tests).
    public var port: Int

    /// An address from its parts (not checked; see ``init(parsing:)``).
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// The port when none is given.
    public static let defaultPort = 8787

    /// Parses `host:port`, `[v6]:port`, or a bare host (port 8787). The host must be an IP literal or `localhost`.
    public init(parsing text: String) throws(ListenAddressError) {
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw ListenAddressError("missing ']' after the IPv6 address") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw ListenAddressError("expected ':port' after ']'") }
                portText = rest.dropFirst()
            }
            guard Self.isIPv6(String(host)) else { throw ListenAddressError("'\(host)' is not an IPv6 address") }
        } else {
            let colons = text.filter { $0 == ":" }.count
            if colons > 1 { throw ListenAddressError("write IPv6 addresses in brackets: [::1]:8787") }
            if let c = text.firstIndex(of: ":") {
                host = text[..<c]
                portText = text[text.index(after: c)...]
            } else {
                host = Substring(text)
            }
            guard host == "localhost" || Self.isIPv4(String(host)) else {
                throw ListenAddressError("'\(host)' is not an IPv4 address, [IPv6] address or localhost")
            }
        }
        var port = Self.defaultPort
        if let p = portText {
            guard let v = Int(p), (0...65535).contains(v) else { throw ListenAddressError("port '\(p)' is not in 0...65535") }
            port = v
        }
        self.init(host: String(host), port: port)
    }

    /// Whether only this machine can reach the address (127.0.0.0/8, ::1, ::ffff:127.x.x.x, localhost).
    public var isLoopback: Bool {
        if host == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            let b = withUnsafeBytes(of: v6) { Array($0) }
            if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return true }
            if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff { return b[12] == 127 }
        }
        return false
    }

    /// Whether the host is an IPv6 literal.
    public var isIPv6: Bool { Self.isIPv6(host) }

    /// `host:port`, with brackets around IPv6 hosts.
    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    static func isIPv4(_ s: String) -> Bool { var a = in_addr(); return inet_pton(AF_INET, s, &a) == 1 }
    static func isIPv6(_ s: String) -> Bool { var a = in6_addr(); return inet_pton(AF_INET6, s, &a) == 1 }
}

/// A listen address that could not be parsed.
public struct ListenAddressError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
