import DurableFiles
import Logging
import SystemPackage

import Glibc

/// A swift-log handler writing one plain line per record to a file descriptor (stderr by default):
/// `2025-01-31T12:00:00.123Z info conceptd: message source=cam1 step=1200`. One `write` per line, so lines from
/// several threads do not interleave.
public struct TextLogHandler: LogHandler {
    /// The logger's label.
    public let label: String
    /// Where lines go.
    public let fd: Int32
    /// Whether lines start with a UTC timestamp (off when the journal adds its own).
    public let timestamps: Bool
    /// The minimum level logged.
    public var logLevel: Logger.Level = .info
    /// Metadata added to every record.
    public var metadata: Logger.Metadata = [:]
    /// Contextual metadata (task-local values), added to every record.
    public var metadataProvider: Logger.MetadataProvider?

    /// A handler writing to `fd`.
    public init(label: String, fd: Int32 = 2, timestamps: Bool = true, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.fd = fd
        self.timestamps = timestamps
        self.metadataProvider = metadataProvider
    }

    /// One key of ``metadata``.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one record.
    public func log(event: LogEvent) {
        var m = metadata
        if let provided = metadataProvider?.get() { m.merge(provided) { _, new in new } }
        if let extra = event.metadata { m.merge(extra) { _, new in new } }
        write(event: event, metadata: m)
    }

    package func write(event: LogEvent, metadata: Logger.Metadata) {
        let line = Self.line(event: event, label: label, metadata: metadata, timestamp: timestamps ? Self.timestamp() : nil)
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        // A log line that cannot be written (a closed stderr) is dropped: logging never stops the daemon.
        try? DurableFile.write(bytes, to: FileDescriptor(rawValue: fd), path: "file descriptor \(fd)")
    }

    /// The text of one record (without newline); metadata sorted by key, values with spaces quoted.
    package static func line(event: LogEvent, label: String, metadata: Logger.Metadata, timestamp: String?) -> String {
        var s = timestamp.map { $0 + " " } ?? ""
        s += "\(event.level) \(label): \(event.message)"
        if let error = event.error { s += " error=\(quoted("\(error)"))" }
        for key in metadata.keys.sorted() {
            s += " \(key)=\(quoted(JournalLogHandler.render(metadata[key]!)))"
        }
        return String(s.map { $0 == "\n" ? " " : $0 })
    }

    package static func quoted(_ v: String) -> String {
        v.isEmpty || v.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) ? "\"" + v.replacingQuotes() + "\"" : v
    }

    /// The current UTC time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    package static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = tm()
        var secs = ts.tv_sec
        gmtime_r(&secs, &t)
        func pad(_ v: Int32, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(t.tm_year + 1900, 4))-\(pad(t.tm_mon + 1, 2))-\(pad(t.tm_mday, 2))T"
            + "\(pad(t.tm_hour, 2)):\(pad(t.tm_min, 2)):\(pad(t.tm_sec, 2)).\(pad(Int32(ts.tv_nsec / 1_000_000), 3))Z"
    }
}

extension String {
    fileprivate func replacingQuotes() -> String {
        var out = ""
        for c in self {
            if c == "\"" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out
    }
}
