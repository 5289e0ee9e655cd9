import DurableFiles
import Foundation
import Glibc
import Synchronization
import ConceptReports

/// The probe results of a run, kept in a directory (the daemon's state directory) so they survive restarts:
/// `probe-history.jsonl` (one `ProbeResult` per line, appended and fsync'ed) and `probe-baseline.json` (the
/// random-initialised encoder's result, written atomically, reused while its fingerprint matches).
///
/// Loading skips lines that do not parse (a crash can leave the last line half written) with a warning instead of
/// failing; a half-written last line is cut off so the next append starts on a fresh line.
/// Safe to use from several threads.
public final class ProbeHistory: Sendable {
    /// The history file's name.
    public static let historyFileName = "probe-history.jsonl"
    /// The baseline file's name.
    public static let baselineFileName = "probe-baseline.json"

    /// Where the files live.
    public let directory: URL
    private struct State: Sendable {
        var results: [ProbeResult] = []
        var problems: [String] = []
        var baseline: ProbeResult?
    }
    private let state = Mutex(State())

    /// Opens (creating the directory when missing) and loads the history and baseline in `directory`.
    /// Throws `ProbeError.history` only when the directory cannot be created or the files cannot be read at all.
    public init(directory: URL) throws {
        self.directory = directory
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw ProbeError.history("cannot create the directory", file: directory.path, cause: ProbeUnderlying(error))
        }
        try load()
    }

    /// Path of the history file.
    public var historyURL: URL { directory.appendingPathComponent(Self.historyFileName) }
    /// Path of the baseline file.
    public var baselineURL: URL { directory.appendingPathComponent(Self.baselineFileName) }

    /// Every result, oldest first.
    public var entries: [ProbeResult] { state.withLock { $0.results } }
    /// The newest result.
    public var latest: ProbeResult? { state.withLock { $0.results.last } }
    /// What loading skipped or repaired (damaged lines, an unreadable baseline), one message each.
    public var warnings: [String] { state.withLock { $0.problems } }

    /// The stored baseline when its fingerprint is `fingerprint`.
    public func baseline(fingerprint: String) -> ProbeResult? {
        state.withLock { $0.baseline?.fingerprint == fingerprint ? $0.baseline : nil }
    }

    /// Appends `result` as one line and fsyncs the file.
    public func append(_ result: ProbeResult) throws {
        var line = try Self.encode(result, file: historyURL.path)
        line.append(UInt8(ascii: "\n"))
        let path = historyURL.path
        try state.withLock { state in
            do { try DurableFile.append(line, to: path) } catch {
                throw ProbeError.history("\(error)", file: path)
            }
            state.results.append(result)
        }
    }

    /// Stores `result` (a baseline) atomically: a temporary file, fsync'ed, renamed over the old one.
    public func storeBaseline(_ result: ProbeResult) throws {
        let bytes = try Self.encode(result, file: baselineURL.path)
        let path = baselineURL.path
        try state.withLock { state in
            do { try DurableFile.replace(path, with: bytes) } catch {
                throw ProbeError.history("cannot write the baseline: \(error)", file: path)
            }
            state.baseline = result
        }
    }

    private func load() throws {
        var loaded = State()
        defer { state.withLock { [loaded] in $0 = loaded } }
        let fm = FileManager.default
        let decoder = JSONDecoder()
        if fm.fileExists(atPath: baselineURL.path) {
            do {
                loaded.baseline = try decoder.decode(ProbeResult.self, from: Data(contentsOf: baselineURL))
            } catch {
                loaded.problems.append("\(baselineURL.path): unreadable baseline ignored (it will be recomputed): \(error)")
            }
        }
        guard fm.fileExists(atPath: historyURL.path) else { return }
        let data: Data
        do { data = try Data(contentsOf: historyURL) } catch {
            throw ProbeError.history("cannot read it", file: historyURL.path, cause: ProbeUnderlying(error))
        }
        let bytes = [UInt8](data)
        var start = 0, lineNumber = 0
        while start < bytes.count {
            lineNumber += 1
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n"))
            let slice = bytes[start..<(end ?? bytes.count)]
            var parsed = true
            if !slice.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
                do {
                    loaded.results.append(try decoder.decode(ProbeResult.self, from: Data(slice)))
                } catch {
                    parsed = false
                    let last = end == nil || end! + 1 >= bytes.count
                    loaded.problems.append("\(historyURL.path):\(lineNumber): \(last ? "damaged last line" : "damaged line") skipped (\(Self.shortReason(error)))")
                }
            }
            guard let end else {
                // No newline after the last line. A good line gets its newline; a damaged one (a write cut short)
                // is cut off. Either way the next append starts on a line of its own.
                if parsed {
                    let fd = open(historyURL.path, O_WRONLY | O_APPEND | O_CLOEXEC)
                    if fd < 0 || Glibc.write(fd, "\n", 1) != 1 {
                        loaded.problems.append("\(historyURL.path): cannot end the last line: \(String(cString: strerror(errno)))")
                    }
                    if fd >= 0 { close(fd) }
                } else if truncate(historyURL.path, off_t(start)) != 0 {
                    loaded.problems.append("\(historyURL.path): cannot cut off the unterminated last line: \(String(cString: strerror(errno)))")
                } else {
                    loaded.problems.append("\(historyURL.path):\(lineNumber): unterminated last line cut off")
                }
                break
            }
            start = end + 1
        }
    }

    static func encode(_ result: ProbeResult, file: String) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { return Array(try encoder.encode(result)) } catch {
            throw ProbeError.history("cannot encode the result", file: file, cause: ProbeUnderlying(error))
        }
    }

    static func shortReason(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c): c.debugDescription
        case DecodingError.keyNotFound(let k, _): "missing \(k.stringValue)"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c): "\(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
        default: "\(error)"
        }
    }
}
