import Foundation
import Glibc

/// A small blocking HTTP/1.1 client for conceptd's API (`conceptctl`, tests): one request per connection,
/// plain HTTP (the API serves no TLS; put a TLS proxy in front for remote use), bearer token, timeouts.
public struct APIClient: Sendable {
    /// The API's base URL, e.g. `http://127.0.0.1:8787`.
    public let baseURL: String
    /// The bearer token, if the API needs one.
    public let token: String?
    /// Seconds to wait for connect, send and each read.
    public let timeout: Double
    private let host: String
    private let port: UInt16
    private let basePath: String

    /// A client for `baseURL` (`http://HOST[:PORT][/PREFIX]`).
    public init(baseURL: String, token: String? = nil, timeout: Double = 10) throws(APIClientError) {
        guard baseURL.hasPrefix("http://") else {
            throw .init("the API URL must start with http:// (got '\(baseURL)'); conceptd serves plain HTTP")
        }
        var rest = Substring(baseURL.dropFirst("http://".count))
        var path = ""
        if let slash = rest.firstIndex(of: "/") { path = String(rest[slash...]); rest = rest[..<slash] }
        while path.hasSuffix("/") { path.removeLast() }
        var hostPart = rest, portPart: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw .init("malformed IPv6 address in '\(baseURL)'") }
            hostPart = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { portPart = after.dropFirst() }
        } else if let colon = rest.lastIndex(of: ":") {
            hostPart = rest[..<colon]; portPart = rest[rest.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { throw .init("no host in '\(baseURL)'") }
        var p: UInt16 = 80
        if let portPart { guard let v = UInt16(portPart), v > 0 else { throw .init("bad port in '\(baseURL)'") }; p = v }
        self.baseURL = baseURL
        self.token = token
        self.timeout = timeout
        host = String(hostPart)
        port = p
        basePath = path
    }

    /// A response: status, lower-cased headers, body.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]
        /// The body as text.
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Sends `method path` and returns the response, whatever its status.
    public func request(_ method: String, _ path: String, body: [UInt8] = [], headers extra: [String: String] = [:]) throws(APIClientError) -> Response {
        let fd = try connect()
        defer { close(fd) }
        var head = "\(method) \(basePath)\(path) HTTP/1.1\r\nHost: \(host.contains(":") ? "[\(host)]" : host):\(port)\r\n"
        head += "User-Agent: conceptctl/\(conceptdVersion)\r\nAccept: */*\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        for (k, v) in extra { head += "\(k): \(v)\r\n" }
        head += "\r\n"
        try send(fd, Array(head.utf8) + body)
        return try readResponse(fd)
    }

    /// `GET path` decoded as `T`; a non-2xx status throws with the API's error message.
    public func get<T: Decodable>(_ path: String, as type: T.Type = T.self) throws(APIClientError) -> T {
        try decode(try checked(request("GET", path)), as: type)
    }

    /// `POST path` decoded as `T`; a non-2xx status throws with the API's error message.
    public func post<T: Decodable>(_ path: String, as type: T.Type = T.self) throws(APIClientError) -> T {
        try decode(try checked(request("POST", path)), as: type)
    }

    /// The response if its status is 2xx; otherwise an error carrying the API's message.
    public func checked(_ r: Response) throws(APIClientError) -> Response {
        guard (200..<300).contains(r.status) else {
            let message = (try? API.decoder().decode(API.ErrorBody.self, from: Data(r.body)))?.error.message ?? r.text.prefix(300).description
            throw APIClientError("HTTP \(r.status): \(message)", status: r.status)
        }
        return r
    }

    private func decode<T: Decodable>(_ r: Response, as: T.Type) throws(APIClientError) -> T {
        do { return try API.decoder().decode(T.self, from: Data(r.body)) } catch {
            throw APIClientError("unexpected answer from \(baseURL): \(error)")
        }
    }

    // MARK: - sockets

    private func connect() throws(APIClientError) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else { throw .init("cannot resolve \(host): \(String(cString: gai_strerror(rc)))") }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            defer { ai = a.pointee.ai_next }
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            guard fd >= 0 else { lastError = String(cString: strerror(errno)); continue }
            var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - floor(timeout)) * 1e6))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            if Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return fd }
            lastError = String(cString: strerror(errno))
            close(fd)
        }
        throw .init("cannot connect to \(baseURL): \(lastError) (is conceptd running, and is this its [api] listen address?)")
    }

    private func send(_ fd: Int32, _ bytes: [UInt8]) throws(APIClientError) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EINTR { continue }; throw .init("sending to \(baseURL) failed: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    private func readResponse(_ fd: Int32) throws(APIClientError) -> Response {
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw .init("no answer from \(baseURL) within \(timeout) s") }
                throw .init("reading from \(baseURL) failed: \(String(cString: strerror(errno)))")
            }
            data.append(contentsOf: buf[0..<n])
            if data.count > 256 << 20 { throw .init("answer from \(baseURL) is larger than 256 MiB") }
        }
        guard let split = Self.find([13, 10, 13, 10], in: data) else { throw .init("malformed HTTP answer from \(baseURL)") }
        let head = String(decoding: data[0..<split], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw .init("malformed status line from \(baseURL): \(head[0].prefix(80))")
        }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(data[(split + 4)...])
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true { body = try Self.dechunk(body) }
        else if let length = headers["content-length"].flatMap(Int.init), body.count > length { body = Array(body[0..<length]) }
        return Response(status: status, headers: headers, body: body)
    }

    package static func find(_ needle: [UInt8], in hay: [UInt8], from start: Int = 0) -> Int? {
        guard hay.count >= needle.count + start else { return nil }
        for i in start...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<i + needle.count]) == needle { return i }
        return nil
    }

    package static func dechunk(_ raw: [UInt8]) throws(APIClientError) -> [UInt8] {
        var out: [UInt8] = [], i = 0
        while true {
            guard let eol = find([13, 10], in: raw, from: i) else { throw .init("truncated chunked body") }
            let sizeText = String(decoding: raw[i..<eol], as: UTF8.self).split(separator: ";")[0].trimmingCharacters(in: .whitespaces)
            guard let size = Int(sizeText, radix: 16) else { throw .init("malformed chunk size '\(sizeText)'") }
            if size == 0 { return out }
            let start = eol + 2
            guard start + size <= raw.count else { throw .init("truncated chunk") }
            out.append(contentsOf: raw[start..<start + size])
            i = start + size + 2
        }
    }
}

/// A failed API call: cannot connect, malformed answer, or an error status with the API's message.
public struct APIClientError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public let description: String
    /// The HTTP status, when the API answered with an error.
    public let status: Int?
    package init(_ description: String, status: Int? = nil) { self.description = description; self.status = status }
}
