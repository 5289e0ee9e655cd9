import Glibc

/// A secret value (stream password, API token). Printing, interpolating, dumping or reflecting it shows
/// `<redacted>`; only ``value`` reveals it.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The secret itself: pass it where it is needed, never into a log.
    public let value: String

    /// Wraps a secret.
    public init(_ value: String) { self.value = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

/// Reads secrets from files: systemd credentials (`LoadCredential=` puts them in `$CREDENTIALS_DIRECTORY`) and
/// token files.
enum SecretFile {
    /// Whether `name` is usable as a credential name (a single file name).
    static func isValidCredentialName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
            && name.utf8.count <= 255
    }

    /// The secret in a file: its UTF-8 text without one trailing newline. Throws a message (never the content).
    static func read(path: String) throws(MessageError) -> Secret {
        let bytes: [UInt8]
        do { bytes = try FileIO.readAll(path: path, limit: 64 * 1024) } catch { throw MessageError("\(path): \(error)") }
        var text = bytes
        if text.last == UInt8(ascii: "\n") { text.removeLast() }
        if text.last == UInt8(ascii: "\r") { text.removeLast() }
        guard !text.isEmpty else { throw MessageError("\(path) is empty") }
        guard let s = String(validating: text, as: UTF8.self) else { throw MessageError("\(path) is not UTF-8 text") }
        guard !s.contains("\n"), !s.contains("\0") else { throw MessageError("\(path) holds more than one line") }
        return Secret(s)
    }
}

/// An error that is only a message for a person (used inside configuration checks).
struct MessageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Small POSIX file helpers with errno messages.
enum FileIO {
    /// The whole file, at most `limit` bytes (more is an error). The error's message does not repeat the path.
    static func readAll(path: String, limit: Int) throws(MessageError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MessageError("cannot read: \(errnoText())") }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { throw MessageError("is a directory") }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw MessageError("cannot read: \(errnoText())")
            }
            if n == 0 { return out }
            out.append(contentsOf: buf[0..<n])
            if out.count > limit { throw MessageError("is larger than \(limit) bytes") }
        }
    }

    /// What kind of thing is at `path`, following links.
    enum Kind { case missing, file, directory, other }

    static func kind(_ path: String) -> Kind {
        var st = stat()
        guard stat(path, &st) == 0 else { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    /// Whether the process may read `path` (and, for a directory, list it).
    static func isReadable(_ path: String, directory: Bool = false) -> Bool {
        access(path, directory ? (R_OK | X_OK) : R_OK) == 0
    }

    /// `strerror(errno)`.
    static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
}
