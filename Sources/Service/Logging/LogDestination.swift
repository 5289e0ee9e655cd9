import Logging
import Media

import Glibc
import LibAV
import SystemdSupport

/// Where the daemon's log records go, chosen from `[logging] format` and the environment.
public enum LogDestination: String, Sendable, Equatable {
    /// The journal's native protocol (`sd_journal_sendv`).
    case journal
    /// Plain text lines on stderr.
    case text

    /// `journal` for `format = journal`, `text` for `format = text`; for `auto`, `journal` exactly when
    /// `JOURNAL_STREAM` names the device and inode of `stderrFD` (systemd connected stderr to the journal).
    public static func choose(format: LogFormat, environment: [String: String], stderrFD: Int32 = 2) -> LogDestination {
        switch format {
        case .journal: return .journal
        case .text: return .text
        case .auto: return stderrIsJournal(environment: environment, fd: stderrFD) ? .journal : .text
        }
    }

    /// Whether `JOURNAL_STREAM` (`"<device>:<inode>"` in decimal) matches `fd` (`systemd.exec(5)`).
    public static func stderrIsJournal(environment: [String: String], fd: Int32 = 2) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    /// A handler for this destination at `level`.
    public func makeHandler(label: String, level: LogLevel, identifier: String = "conceptd") -> any LogHandler {
        switch self {
        case .journal:
            var h = JournalLogHandler(label: label, identifier: identifier)
            h.logLevel = level.swiftLogLevel
            return h
        case .text:
            var h = TextLogHandler(label: label, fd: 2, timestamps: true)
            h.logLevel = level.swiftLogLevel
            return h
        }
    }

    /// Bootstraps swift-log (once per process) for `settings`; returns the destination chosen.
    @discardableResult
    public static func bootstrap(_ settings: LoggingSettings, environment: [String: String],
                                 identifier: String = "conceptd") -> LogDestination {
        let d = choose(format: settings.format, environment: environment)
        LoggingSystem.bootstrap { label in d.makeHandler(label: label, level: settings.level, identifier: identifier) }
        return d
    }
}

extension LogLevel {
    /// The swift-log level.
    public var swiftLogLevel: Logger.Level {
        switch self {
        case .trace: .trace
        case .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        case .critical: .critical
        }
    }
}

extension LogLevel {
    /// The threshold for libav's own lines at this level: libav's info lines are per-open chatter, so `info`,
    /// `notice` and `warning` let through libav's warnings and worse, `debug` its verbose lines, `trace` its debug
    /// lines; `error` and `critical` only its errors and fatal lines.
    public var libavLevel: MediaLibrary.LibavLogLevel {
        switch self {
        case .trace: .debug
        case .debug: .verbose
        case .info, .notice, .warning: .warning
        case .error: .error
        case .critical: .fatal
        }
    }
}
