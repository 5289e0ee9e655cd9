import Foundation
import Glibc
import LibAV

/// Which names in a watch folder are candidates: not hidden (`.name`), not temporary (`*.tmp`, `*.part`,
/// `*.partial`, `*.crdownload`, `name~`).
enum WatchFileFilter {
    static let temporarySuffixes = [".tmp", ".part", ".partial", ".crdownload", "~"]

    static func isCandidate(_ name: String) -> Bool {
        guard !name.isEmpty, !name.hasPrefix(".") else { return false }
        let lower = name.lowercased()
        return !temporarySuffixes.contains { lower.hasSuffix($0) }
    }
}

/// A file's size and modification time (`stat`).
struct FileIdentity: Equatable, Sendable {
    var size: Int64
    /// Nanoseconds since 1970.
    var modified: Int64
    var isRegular: Bool

    /// Stats `path` (following links); nil if it does not exist.
    static func of(_ path: String) -> FileIdentity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileIdentity(
            size: Int64(st.st_size),
            modified: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
            isRegular: (st.st_mode & S_IFMT) == S_IFREG)
    }
}

/// Tracks candidate files until their size and modification time stay unchanged for `settle` seconds.
/// A file first seen with a modification time already `settle` seconds old (wall clock) is ready at once.
struct SettleTracker: Sendable {
    private struct Pending {
        var identity: FileIdentity
        var since: Double
    }

    let settle: Double
    private var pending: [String: Pending] = [:]

    init(settle: Double) { self.settle = settle }

    /// Paths waiting to settle.
    var paths: [String] { pending.keys.sorted() }

    var isEmpty: Bool { pending.isEmpty }

    /// Notes the current state of `path` at monotonic time `now`; `wallNow` is the wall clock (seconds since
    /// 1970) to judge the modification time's age.
    mutating func observe(_ path: String, identity: FileIdentity, now: Double, wallNow: Double) {
        if let p = pending[path], p.identity == identity { return }
        let isNew = pending[path] == nil
        let age = wallNow - Double(identity.modified) / 1e9
        let since = isNew && age >= settle ? now - settle : now
        pending[path] = Pending(identity: identity, since: since)
    }

    /// Forgets `path` (deleted or moved away).
    mutating func remove(_ path: String) { pending[path] = nil }

    /// Removes and returns the paths that settled by `now`, oldest first.
    mutating func takeReady(now: Double) -> [String] {
        let ready = pending.filter { now - $0.value.since >= settle }
            .sorted { ($0.value.since, $0.key) < ($1.value.since, $1.key) }
            .map(\.key)
        for p in ready { pending[p] = nil }
        return ready
    }
}

/// An owned inotify descriptor watching one directory for files that appear, finish being written, or
/// change attributes (a `touch` or `chmod` makes a file worth another look).
final class DirectoryWatch {
    /// One inotify event on a name in the directory (or on the directory itself when `name` is empty).
    struct Event {
        var name: String
        var mask: UInt32
        var isDirectory: Bool { mask & UInt32(IN_ISDIR) != 0 }
    }

    static let mask = UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO) | UInt32(IN_CREATE) | UInt32(IN_MOVED_FROM)
        | UInt32(IN_DELETE) | UInt32(IN_DELETE_SELF) | UInt32(IN_MOVE_SELF) | UInt32(IN_ATTRIB)

    let directory: String
    private let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)

    init(directory: String) throws {
        self.directory = directory
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        if fd < 0 {
            throw MediaError(.fileSystem, "inotify_init1 failed: \(String(cString: strerror(errno)))")
        }
        if inotify_add_watch(fd, directory, DirectoryWatch.mask) < 0 {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw MediaError(.fileSystem, "cannot watch \(directory): \(reason)")
        }
    }

    deinit { close(fd) }

    /// Waits up to `timeout` seconds for events and returns them (empty on timeout).
    func wait(timeout: Double) throws -> [Event] {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let rc = poll(&pfd, 1, Int32(max(0, timeout * 1000)))
        if rc < 0 {
            if errno == EINTR { return [] }
            throw MediaError(.fileSystem, "poll on inotify failed: \(String(cString: strerror(errno)))")
        }
        if rc == 0 { return [] }
        var events: [Event] = []
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { break }
                throw MediaError(.fileSystem, "read on inotify failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { raw in
                var offset = 0
                let header = MemoryLayout<inotify_event>.size
                while offset + header <= n {
                    let mask = raw.load(fromByteOffset: offset + 4, as: UInt32.self)
                    let len = Int(raw.load(fromByteOffset: offset + 12, as: UInt32.self))
                    var name = ""
                    if len > 0 {
                        let bytes = raw[(offset + header)..<(offset + header + len)]
                        name = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
                    }
                    events.append(Event(name: name, mask: mask))
                    offset += header + len
                }
            }
        }
        return events
    }
}
