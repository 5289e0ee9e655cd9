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
    static func ensureInitialised() {
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
        case quiet = -8, fatal = 8, error = 16, warning = 24, info = 32, debug = 48
    }

    private static let logSink = Mutex<Logger?>(nil)

    /// Routes libav's log lines at or above `level` into `logger` (one line per message, prefixed with the
    /// libav component), or silences them with `.quiet`. Without a call libav writes to stderr.
    public static func routeLibavLogs(to logger: Logger?, level: LibavLogLevel) {
        logSink.withLock { $0 = logger }
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

    fileprivate static func forward(level: Int32, line: String) {
        guard let logger = logSink.withLock({ $0 }) else { return }
        let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return }
        let message = Logger.Message(stringLiteral: text)
        switch level {
        case ...AV_LOG_FATAL: logger.critical(message)
        case ...AV_LOG_ERROR: logger.error(message)
        case ...AV_LOG_WARNING: logger.warning(message)
        case ...AV_LOG_INFO: logger.info(message)
        default: logger.debug(message)
        }
    }
}

private func libavLogCallback(
    _ avcl: UnsafeMutableRawPointer?, _ level: Int32, _ fmt: UnsafePointer<CChar>?, _ vl: CVaListPointer?
) {
    guard level <= av_log_get_level(), let fmt, let vl else { return }
    var buffer = [CChar](repeating: 0, count: 1024)
    var printPrefix: Int32 = 1
    let n = av_log_format_line2(avcl, level, fmt, vl, &buffer, Int32(buffer.count), &printPrefix)
    guard n > 0 else { return }
    MediaLibrary.forward(level: level, line: String(cBuffer: buffer))
}
