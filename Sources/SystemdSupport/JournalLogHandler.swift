import CSystemd
import Logging

import Glibc

/// A swift-log handler that writes to the systemd journal with `sd_journal_sendv`, every metadata key as a native
/// field: `source` → `SOURCE`, `step` → `STEP`, `clipsPerSecond` → `CLIPS_PER_SECOND`. `journalctl SOURCE=cam1` then
/// finds a camera's records. When the journal cannot be reached the record goes to stderr as text instead.
public struct JournalLogHandler: LogHandler {
    /// The logger's label (field `LOGGER`).
    public let label: String
    /// `SYSLOG_IDENTIFIER` of every record.
    public let identifier: String
    /// The minimum level logged.
    public var logLevel: Logger.Level = .info
    /// Metadata added to every record.
    public var metadata: Logger.Metadata = [:]
    /// Contextual metadata (task-local values), added to every record.
    public var metadataProvider: Logger.MetadataProvider?

    /// A handler for a logger `label`; records carry `SYSLOG_IDENTIFIER=identifier`.
    public init(label: String, identifier: String = "conceptd", metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.identifier = identifier
        self.metadataProvider = metadataProvider
    }

    /// One key of ``metadata``.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one record.
    public func log(event: LogEvent) {
        let fields = Self.fields(for: event, label: label, identifier: identifier,
                                 metadata: mergedMetadata(event.metadata))
        if Self.send(fields) != 0 {
            // No journal (or it refused the record): keep the record on stderr rather than lose it.
            TextLogHandler(label: label, fd: 2, timestamps: true).write(event: event, metadata: mergedMetadata(event.metadata))
        }
    }

    private func mergedMetadata(_ extra: Logger.Metadata?) -> Logger.Metadata {
        var m = metadata
        if let provided = metadataProvider?.get() { m.merge(provided) { _, new in new } }
        if let extra { m.merge(extra) { _, new in new } }
        return m
    }

    /// Fields this handler writes itself; metadata keys that map onto them get a `META_` prefix.
    package static let ownFields: Set<String> = [
        "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "LOGGER", "MODULE", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "ERROR",
    ]

    /// The record as journal fields, in order: `MESSAGE`, `PRIORITY`, identity and code location, then metadata
    /// sorted by field name.
    package static func fields(for event: LogEvent, label: String, identifier: String, metadata: Logger.Metadata) -> [(String, String)] {
        var out: [(String, String)] = [
            ("MESSAGE", event.message.description),
            ("PRIORITY", String(priority(event.level))),
            ("SYSLOG_IDENTIFIER", identifier),
            ("LOGGER", label),
            ("MODULE", event.source),
            ("CODE_FILE", event.file),
            ("CODE_LINE", String(event.line)),
            ("CODE_FUNC", event.function),
        ]
        if let error = event.error { out.append(("ERROR", "\(error)")) }
        var extra: [(String, String)] = []
        var used = Set(out.map(\.0))
        for (key, value) in metadata {
            var name = fieldName(key)
            if ownFields.contains(name) { name = fieldName("META_" + name) }
            while used.contains(name) { name = fieldName(name + "_") }
            used.insert(name)
            extra.append((name, render(value)))
        }
        return out + extra.sorted { $0.0 < $1.0 }
    }

    /// A journal field name for a metadata key: camelCase and other characters become `UPPER_SNAKE`; the result
    /// has only `A-Z`, `0-9`, `_`, starts with a letter and has at most 64 characters.
    public static func fieldName(_ key: String) -> String {
        var out = ""
        var previous: Character?
        for ch in key {
            if ch.isASCII, ch.isLetter {
                if ch.isUppercase, let p = previous, p.isASCII, p.isLowercase || p.isNumber { out.append("_") }
                out += ch.uppercased()
            } else if ch.isASCII, ch.isNumber {
                out.append(ch)
            } else if out.last != "_" {
                out.append("_")
            }
            previous = ch
        }
        while out.hasPrefix("_") { out.removeFirst() }
        while out.hasSuffix("_") { out.removeLast() }
        if out.isEmpty { out = "FIELD" }
        if let f = out.first, f.isNumber { out = "F_" + out }
        return String(out.prefix(64))
    }

    /// syslog priority of a swift-log level.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    package static func render(_ v: Logger.Metadata.Value) -> String {
        switch v {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let a): "[" + a.map(render).joined(separator: ", ") + "]"
        case .dictionary(let d): "{" + d.keys.sorted().map { "\($0): \(render(d[$0]!))" }.joined(separator: ", ") + "}"
        }
    }

    /// Sends `NAME=value` fields with `sd_journal_sendv`; returns its result (0 or a negative errno).
    package static func send(_ fields: [(String, String)]) -> Int32 {
        let buffers: [[UInt8]] = fields.map { Array(($0.0 + "=").utf8) + Array($0.1.utf8) }
        var pointers: [UnsafeMutableRawPointer] = []
        defer { pointers.forEach { $0.deallocate() } }
        var iov: [iovec] = []
        for b in buffers {
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(b.count, 1), alignment: 1)
            b.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: b.count) }
            pointers.append(p)
            iov.append(iovec(iov_base: p, iov_len: b.count))
        }
        return iov.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
    }
}
