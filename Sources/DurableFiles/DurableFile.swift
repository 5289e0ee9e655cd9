import Glibc
import SystemPackage

/// Writes that survive a crash or a power cut, on swift-system's file descriptors: every byte written (short
/// writes and EINTR retried), `fsync`ed, and for a replacement renamed over the old file with the directory
/// `fsync`ed after it, so readers see the old file or the complete new one, never a part.
///
/// The one implementation behind snapshots, probe history and baseline, ingest ledgers and safetensors files.
public enum DurableFile {
    /// Replaces `path` with `bytes` atomically: a temporary file in the same directory (`.<name>.tmp-<pid>-<random>`),
    /// written in full, `fsync`ed, renamed over `path`, then the directory `fsync`ed. On failure the temporary file
    /// is removed and `path` is untouched.
    public static func replace(_ path: String, with bytes: [UInt8], permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead])
        throws(DurableFileError) {
        let target = FilePath(path)
        guard let name = target.lastComponent, name.kind == .regular else {
            throw DurableFileError(.notAFile, "cannot write to \(path): not a file path", path: path)
        }
        let directory = target.removingLastComponent()
        let directoryText = directory.isEmpty ? "." : directory.string
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let temp = (directory.isEmpty ? FilePath(".") : directory).appending(".\(name.string).tmp-\(getpid())-\(suffix)")
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(temp, .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec], permissions: permissions)
        } catch {
            throw DurableFileError(.create, "cannot create a temporary file in \(directoryText)", path: path, errno: error)
        }
        do {
            try write(bytes, to: fd, path: temp.string)
            try sync(fd, path: temp.string)
            try close(fd, path: temp.string)
        } catch {
            try? fd.close()
            _ = unlink(temp.string)
            throw error
        }
        guard rename(temp.string, path) == 0 else {
            let e = Errno(rawValue: errno)
            _ = unlink(temp.string)
            throw DurableFileError(.rename, "cannot rename the temporary file onto \(path)", path: path, errno: e)
        }
        try syncDirectory(directoryText)
    }

    /// Creates (or truncates) `path`, writes `bytes` in full and `fsync`s it. For files inside a directory that is
    /// itself renamed into place afterwards (snapshot generations).
    public static func write(_ bytes: [UInt8], to path: String, permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead])
        throws(DurableFileError) {
        try writeSynced(bytes, to: path, options: [.create, .truncate, .closeOnExec], permissions: permissions, purpose: "writing")
    }

    /// Appends `bytes` to `path` (created when missing) in full and `fsync`s it.
    public static func append(_ bytes: [UInt8], to path: String, permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead])
        throws(DurableFileError) {
        try writeSynced(bytes, to: path, options: [.create, .append, .closeOnExec], permissions: permissions, purpose: "appending")
    }

    private static func writeSynced(_ bytes: [UInt8], to path: String, options: FileDescriptor.OpenOptions,
                                    permissions: FilePermissions, purpose: String) throws(DurableFileError) {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .writeOnly, options: options, permissions: permissions)
        } catch {
            throw DurableFileError(.open, "cannot open \(path) for \(purpose)", path: path, errno: error)
        }
        do {
            try write(bytes, to: fd, path: path)
            try sync(fd, path: path)
        } catch {
            try? fd.close()
            throw error
        }
        try close(fd, path: path)
    }

    /// `fsync`s directory `path`, making renames and new entries in it durable. File systems that cannot `fsync` a
    /// directory (EINVAL) are not an error.
    public static func syncDirectory(_ path: String) throws(DurableFileError) {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.directory, .closeOnExec])
        } catch {
            throw DurableFileError(.open, "cannot open the directory \(path) to fsync it", path: path, errno: error)
        }
        defer { try? fd.close() }
        if fsync(fd.rawValue) != 0, errno != EINVAL {
            throw DurableFileError(.sync, "cannot fsync the directory \(path)", path: path, errno: Errno(rawValue: errno))
        }
    }

    /// Writes every byte of `bytes` to the open descriptor `fd` (short writes and EINTR retried); `path` names it in
    /// errors.
    public static func write(_ bytes: [UInt8], to fd: FileDescriptor, path: String) throws(DurableFileError) {
        do { _ = try fd.writeAll(bytes) } catch {
            throw DurableFileError(.write, "cannot write \(path)", path: path, errno: error)
        }
    }

    private static func sync(_ fd: FileDescriptor, path: String) throws(DurableFileError) {
        guard fsync(fd.rawValue) == 0 else {
            throw DurableFileError(.sync, "cannot fsync \(path)", path: path, errno: Errno(rawValue: errno))
        }
    }

    private static func close(_ fd: FileDescriptor, path: String) throws(DurableFileError) {
        do { try fd.close() } catch {
            throw DurableFileError(.close, "cannot close \(path)", path: path, errno: error)
        }
    }
}

/// A durable write that failed: which step, the path, and the system's reason.
public struct DurableFileError: Error, CustomStringConvertible, Sendable {
    /// Which step failed, for matching (`error.code == .rename`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// The path names no file (empty, or a directory such as `/`).
        public static let notAFile = Code("not a file")
        /// The temporary file could not be created.
        public static let create = Code("create")
        /// The file or directory could not be opened.
        public static let open = Code("open")
        /// A write failed (a full disk, a read-only file system, ...).
        public static let write = Code("write")
        /// `fsync` failed.
        public static let sync = Code("fsync")
        /// `close` failed.
        public static let close = Code("close")
        /// The rename into place failed.
        public static let rename = Code("rename")
        public var description: String { name }
    }

    /// Which step failed.
    public let code: Code
    /// What failed, naming the file, with the system's reason.
    public let message: String
    /// The file the caller asked for.
    public let path: String
    /// The system error (nil when none was involved).
    public let cause: Errno?

    package init(_ code: Code, _ what: String, path: String, errno cause: (any Error)? = nil) {
        self.code = code
        self.path = path
        let errnoValue = cause as? Errno
        self.cause = errnoValue
        if let errnoValue {
            message = "\(what): \(String(cString: strerror(errnoValue.rawValue))) (errno \(errnoValue.rawValue))"
        } else if let cause {
            message = "\(what): \(cause)"
        } else {
            message = what
        }
    }

    public var description: String { message }
}
