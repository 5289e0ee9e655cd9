import CFFmpeg
import Foundation
import Logging
import Synchronization

/// The media layer: libav inputs, decode, scale, clip building and views.
public enum MediaLibrary {
    /// The libavformat version string the process is linked against.
    public static var libavformatVersion: String {
        let v = avformat_version()
        return "\(v >> 16).\((v >> 8) & 0xff).\(v & 0xff)"
    }

    /// Registers libavdevice input formats (v4l2, lavfi) once per process.
    package static func ensureInitialised() {
        _ = registered
    }

    private static let registered: Bool = {
        avdevice_register_all()
        avformat_network_init()
        return true
    }()

    /// Input protocols libavformat was built with (`file`, `tcp`, `rtsp`, ...).
    public static let inputProtocols: Set<String> = {
        var result = Set<String>()
        var opaque: UnsafeMutableRawPointer? = nil
        while let name = avio_enum_protocols(&opaque, 0) {
            result.insert(String(cString: name))
        }
        return result
    }()

    /// Whether libavformat has a demuxer (or device) called `name`.
    public static func hasInputFormat(_ name: String) -> Bool {
        ensureInitialised()
        return av_find_input_format(name) != nil
    }

    /// Severity threshold for libav's own log lines.
    public enum LibavLogLevel: Int32, Sendable {
        case quiet = -8, fatal = 8, error = 16, warning = 24, info = 32, verbose = 40, debug = 48, trace = 56
    }

    private static let logSink = Mutex<LibavLogSink?>(nil)

    /// Routes libav's log lines at or above `level` into `logger`; with a nil logger libav writes its raw lines at
    /// or above `level` to stderr (`.quiet` silences them). Without a call libav writes raw lines to stderr.
    ///
    /// Each line becomes one record: the text without libav's `[h264 @ 0x…]` prefix, the component (`h264`,
    /// `rtsp`, `tcp`, ...) as metadata `libav`, the name of the source whose input or decoder logged it as metadata
    /// `source` (so the journal gets `SOURCE=` and `LIBAV=` fields), and libav's level mapped onto swift-log's (see
    /// ``swiftLogLevel(ofLibavLevel:)``). Credentials in URLs (`user:password@`) are masked. `limit` caps the lines
    /// per source and window; what it holds back is counted in a `suppressed` notice with the next line let through.
    public static func routeLibavLogs(to logger: Logger?, level: LibavLogLevel, limit: LibavLogLimit = LibavLogLimit()) {
        logSink.withLock { $0 = logger.map { LibavLogSink(logger: $0, limiter: LogRateLimiter(limit: limit)) } }
        av_log_set_level(level.rawValue)
        if logger != nil {
            av_log_set_callback(libavLogCallback)
        } else {
            av_log_set_callback { avcl, level, fmt, vl in
                guard let vl else { return }
                av_log_default_callback(avcl, level, fmt, vl)
            }
        }
    }

    /// swift-log's level for a libav level: panic and fatal → critical, error → error, warning → warning,
    /// info → info, verbose → debug, debug and trace → trace.
    public static func swiftLogLevel(ofLibavLevel level: Int32) -> Logger.Level {
        switch level {
        case ...AV_LOG_FATAL: .critical
        case ...AV_LOG_ERROR: .error
        case ...AV_LOG_WARNING: .warning
        case ...AV_LOG_INFO: .info
        case ...AV_LOG_VERBOSE: .debug
        default: .trace
        }
    }

    fileprivate static func forward(level: Int32, line: String, component: String?, sourceID: Int) {
        let text = LogRedaction.maskingURLCredentials(line.trimmingCharacters(in: .whitespacesAndNewlines))
        guard !text.isEmpty else { return }
        let source = LibavLogContext.name(of: sourceID)
        let routed = logSink.withLock { sink -> (Logger, LogRateLimiter.Decision)? in
            guard sink != nil else { return nil }
            return (sink!.logger, sink!.limiter.admit(source ?? "", now: monotonicSeconds()))
        }
        guard let (logger, decision) = routed else { return }
        var metadata: Logger.Metadata = [:]
        if let source { metadata["source"] = "\(source)" }
        if decision.suppressedBefore > 0 {
            logger.notice("suppressed \(decision.suppressedBefore) libav messages (more than \(decision.limit.lines) in \(Int(decision.limit.seconds)) s)",
                          metadata: metadata)
        }
        guard decision.admit else { return }
        if let component { metadata["libav"] = "\(component)" }
        logger.log(level: swiftLogLevel(ofLibavLevel: level), "\(text)", metadata: metadata)
    }
}

/// How many libav lines a source may log: `lines` per `seconds` window.
public struct LibavLogLimit: Sendable, Hashable {
    /// Lines let through per window and source.
    public var lines: Int
    /// The window in seconds.
    public var seconds: Double

    /// 10 lines per 10 s and source (a burst of broken files or a damaged stream cannot flood the log).
    public init(lines: Int = 10, seconds: Double = 10) {
        self.lines = max(1, lines)
        self.seconds = max(0.001, seconds)
    }
}

/// The logger and the rate limiter behind ``MediaLibrary/routeLibavLogs(to:level:limit:)``.
private struct LibavLogSink {
    package let logger: Logger
    package var limiter: LogRateLimiter
}

/// A per-key rate limit as a state machine: at most `limit.lines` admitted per key in each window of
/// `limit.seconds` (starting at the key's first line); the rest are counted and the count is handed back, once,
/// with the first line admitted in a later window.
package struct LogRateLimiter: Sendable {
    /// What to do with one line.
    package struct Decision: Equatable {
        /// Log the line.
        package var admit: Bool
        /// Lines held back in the key's previous windows, to report now (0: nothing to report).
        package var suppressedBefore: Int
        /// The limit in force.
        package var limit: LibavLogLimit
    }

    package let limit: LibavLogLimit
    private var windows: [String: (start: Double, count: Int, suppressed: Int)] = [:]

    package init(limit: LibavLogLimit) { self.limit = limit }

    /// A line for `key` at monotonic time `now`.
    package mutating func admit(_ key: String, now: Double) -> Decision {
        var w = windows[key] ?? (now, 0, 0)
        var pending = 0
        if now - w.start >= limit.seconds {
            pending = w.suppressed
            w = (now, 0, 0)
        }
        defer { windows[key] = w }
        if w.count < limit.lines {
            w.count += 1
            return Decision(admit: true, suppressedBefore: pending, limit: limit)
        }
        w.suppressed += 1
        return Decision(admit: false, suppressedBefore: 0, limit: limit)
    }
}

/// Which source a libav log line belongs to: each source registers its name under an id, its thread carries the
/// id in a thread-local slot, and its decoder and demuxer contexts carry it in their `opaque` field (libav's
/// decoder threads copy it), so lines logged on libav's own threads are attributed too.
package enum LibavLogContext {
    private static let names = Mutex<(next: Int, byID: [Int: String])>((1, [:]))
    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    /// A new id for `name`.
    package static func register(_ name: String) -> Int {
        names.withLock { n in
            defer { n.next += 1 }
            n.byID[n.next] = name
            return n.next
        }
    }

    /// Forgets an id (lines still in flight then carry no source).
    package static func unregister(_ id: Int) { _ = names.withLock { $0.byID.removeValue(forKey: id) } }

    /// The name registered under `id` (0: none).
    package static func name(of id: Int) -> String? { id == 0 ? nil : names.withLock { $0.byID[id] } }

    /// Marks the calling thread as working for source `id`.
    package static func enter(_ id: Int) { pthread_setspecific(key, UnsafeRawPointer(bitPattern: id)) }

    /// The id of the calling thread's source (0: none).
    package static var current: Int { Int(bitPattern: pthread_getspecific(key)) }

    /// The value to store in a libav context's `opaque` field.
    package static var currentOpaque: UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: current) }

    /// The source id of a libav log context: from a codec or format context's `opaque`, else the thread's.
    package static func id(of avcl: UnsafeMutableRawPointer?) -> Int {
        if let avcl, let cls = avcl.assumingMemoryBound(to: UnsafePointer<AVClass>?.self).pointee {
            if cls == avcodec_get_class() {
                let id = Int(bitPattern: avcl.assumingMemoryBound(to: AVCodecContext.self).pointee.opaque)
                if id != 0 { return id }
            } else if cls == avformat_get_class() {
                let id = Int(bitPattern: avcl.assumingMemoryBound(to: AVFormatContext.self).pointee.opaque)
                if id != 0 { return id }
            }
        }
        return current
    }

    /// The component name libav prints in its prefix (`h264`, `rtsp`, `mpegts`, `tcp`, ...).
    package static func component(of avcl: UnsafeMutableRawPointer?) -> String? {
        guard let avcl, let cls = avcl.assumingMemoryBound(to: UnsafePointer<AVClass>?.self).pointee,
              let itemName = cls.pointee.item_name, let name = itemName(avcl) else { return nil }
        return String(cString: name)
    }
}

/// Masking of credentials in free text (libav lines may quote the URL they open).
package enum LogRedaction {
    /// `scheme://user:password@host` → `scheme://user:***@host` wherever it occurs in `text`.
    package static func maskingURLCredentials(_ text: String) -> String {
        guard text.contains("://") else { return text }
        var out = ""
        var rest = Substring(text)
        while let r = rest.range(of: "://") {
            out += rest[..<r.upperBound]
            rest = rest[r.upperBound...]
            let authorityEnd = rest.firstIndex { $0 == "/" || $0 == " " || $0 == "\"" || $0 == "'" || $0 == "\n" } ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                out += authority[...colon] + "***"
                rest = rest[at...]
            }
        }
        return out + rest
    }
}

private func libavLogCallback(
    _ avcl: UnsafeMutableRawPointer?, _ level: Int32, _ fmt: UnsafePointer<CChar>?, _ vl: CVaListPointer?
) {
    guard level <= av_log_get_level(), let fmt, let vl else { return }
    var buffer = [CChar](repeating: 0, count: 1024)
    var printPrefix: Int32 = 0  // no "[h264 @ 0x…]": the component goes into the record's metadata
    let n = av_log_format_line2(avcl, level, fmt, vl, &buffer, Int32(buffer.count), &printPrefix)
    guard n > 0 else { return }
    MediaLibrary.forward(level: level, line: String(cBuffer: buffer), component: LibavLogContext.component(of: avcl),
                         sourceID: LibavLogContext.id(of: avcl))
}
