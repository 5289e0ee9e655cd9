import Foundation
import Glibc

/// Whether the directories the daemon writes (state, snapshots, ingest records, watch folders) are usable by the
/// user it runs as. The daemon refuses to start on an unusable one rather than train from scratch and fail later;
/// `check-config` reports the same problems without changing anything.
public enum DirectoryAccess {
    /// The effective user, for messages: `uid 65534 (nobody)`.
    public static var currentUser: String {
        let uid = geteuid()
        if let pw = getpwuid(uid), let name = pw.pointee.pw_name { return "uid \(uid) (\(String(cString: name)))" }
        return "uid \(uid)"
    }

    /// Creates `path` and its missing parents (mode 0700), then proves it usable: a directory this user can list,
    /// in which a file can be created and removed. With `generations`, every `snapshot-*` directory inside must be
    /// readable too (a snapshot the daemon cannot read is not one it may silently start without). `role` names
    /// the directory in the error (`state directory`). Throws ``DaemonError/Code/unusableDirectory``.
    public static func prepare(_ path: String, role: String, generations: Bool = false) throws(DaemonError) {
        func fail(_ what: String, _ err: Int32? = nil) -> DaemonError {
            DaemonError(.unusableDirectory, "\(role) \(path) \(what) by \(currentUser)"
                + (err.map { ": " + String(cString: strerror($0)) } ?? ""))
        }
        var st = stat()
        if stat(path, &st) != 0 {
            let e = errno
            guard e == ENOENT else { throw fail("cannot be reached", e) }
            if let (prefix, err) = makeDirectories(path) {
                throw DaemonError(.unusableDirectory, "\(role) \(path) cannot be created by \(currentUser): mkdir \(prefix): "
                    + String(cString: strerror(err)))
            }
            guard stat(path, &st) == 0 else { throw fail("cannot be reached after creating it", errno) }
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw fail("is not a directory; it cannot be used") }
        guard let d = opendir(path) else { throw fail("cannot be listed", errno) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            names.append(name)
        }
        closedir(d)
        let probe = path + "/.conceptd-write-test-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw fail("is not writable (cannot create a file in it)", errno) }
        close(fd)
        guard unlink(probe) == 0 else { throw fail("does not let files be removed", errno) }
        if generations {
            for name in names.sorted() where name.hasPrefix("snapshot-") {
                let generation = path + "/" + name
                if faccessat(AT_FDCWD, generation, R_OK | X_OK, AT_EACCESS) != 0 {
                    let e = errno
                    throw DaemonError(.unusableDirectory, "snapshot \(generation) in the \(role) is not readable by \(currentUser): "
                        + String(cString: strerror(e)) + "; fix its ownership or mode, or move it away to start without it")
                }
            }
        }
    }

    /// Without changing anything: why `path` would not be usable as a directory this user reads (and with `write`,
    /// writes), or nil when it is usable or missing but creatable (its nearest existing ancestor is writable).
    public static func problem(_ path: String, write: Bool) -> String? {
        var st = stat()
        if stat(path, &st) != 0 {
            let e = errno
            guard e == ENOENT else { return "\(path) cannot be reached by \(currentUser): \(String(cString: strerror(e)))" }
            var ancestor = (path as NSString).deletingLastPathComponent
            while !ancestor.isEmpty, stat(ancestor, &st) != 0, errno == ENOENT, ancestor != "/" {
                ancestor = (ancestor as NSString).deletingLastPathComponent
            }
            if faccessat(AT_FDCWD, ancestor, W_OK | X_OK, AT_EACCESS) != 0 {
                let e = errno
                return "\(path) does not exist and cannot be created by \(currentUser): \(ancestor): \(String(cString: strerror(e)))"
            }
            return nil
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return "\(path) is not a directory" }
        if faccessat(AT_FDCWD, path, R_OK | X_OK, AT_EACCESS) != 0 {
            let e = errno
            return "\(path) is not readable by \(currentUser): \(String(cString: strerror(e)))"
        }
        if write, faccessat(AT_FDCWD, path, W_OK | X_OK, AT_EACCESS) != 0 {
            let e = errno
            return "\(path) is not writable by \(currentUser): \(String(cString: strerror(e)))"
        }
        return nil
    }

    /// `mkdir -p` with mode 0700; nil on success, else the prefix that failed and errno.
    private static func makeDirectories(_ path: String) -> (String, Int32)? {
        var prefix = ""
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + part
            if mkdir(prefix, 0o700) != 0 {
                let e = errno
                if e == EEXIST { continue }
                return (prefix, e)
            }
        }
        return nil
    }
}
