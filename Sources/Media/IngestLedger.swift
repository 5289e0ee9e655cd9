import DurableFiles
import Foundation
import LibAV

/// The watch folders' record of files already handled (path + size + modification time), so a restart
/// does not ingest them again. A value type: the daemon can snapshot it (`MediaSource.ledger`), persist it
/// (`save(to:)` / `load(from:)` / `jsonData()`), and hand it back (`WatchFolderOptions.ledger`).
public struct IngestLedger: Sendable, Codable, Hashable {
    /// How a file was handled.
    public enum Outcome: String, Sendable, Codable, Hashable {
        /// Decoded into clips.
        case ingested
        /// Could not be opened, had no video stream, or decoded to nothing.
        case rejected
    }

    /// One handled file.
    public struct Entry: Sendable, Codable, Hashable {
        /// Absolute path when handled.
        public var path: String
        /// Size in bytes when handled.
        public var size: Int64
        /// Modification time when handled, nanoseconds since 1970.
        public var modified: Int64
        /// Ingested or rejected.
        public var outcome: Outcome
        /// Why it was rejected.
        public var reason: String?
        /// Clips it produced.
        public var clips: Int
        /// When it was handled, milliseconds since 1970 (exact through JSON).
        public var recordedMilliseconds: Int64
        /// When it was handled.
        public var recorded: Date { Date(timeIntervalSince1970: Double(recordedMilliseconds) / 1000) }

        public init(path: String, size: Int64, modified: Int64, outcome: Outcome, reason: String? = nil,
                    clips: Int = 0, recorded: Date = Date())
        {
            self.path = path
            self.size = size
            self.modified = modified
            self.outcome = outcome
            self.reason = reason
            self.clips = clips
            self.recordedMilliseconds = Int64((recorded.timeIntervalSince1970 * 1000).rounded())
        }
    }

    private var byPath: [String: Entry]

    /// An empty ledger.
    public init() { byPath = [:] }

    /// All entries, sorted by path.
    public var entries: [Entry] { byPath.values.sorted { $0.path < $1.path } }

    /// Number of entries.
    public var count: Int { byPath.count }

    /// The entry for `path`, if any (whatever its size and time).
    public func entry(for path: String) -> Entry? { byPath[path] }

    /// Whether this exact file (same path, size and modification time) was handled.
    public func contains(path: String, size: Int64, modified: Int64) -> Bool {
        guard let e = byPath[path] else { return false }
        return e.size == size && e.modified == modified
    }

    /// Records a handled file (replacing an older entry for the same path).
    public mutating func record(_ entry: Entry) { byPath[entry.path] = entry }

    /// Adds `other`'s entries; for a path in both, the more recently recorded wins.
    public mutating func merge(_ other: IngestLedger) {
        for e in other.byPath.values {
            if let mine = byPath[e.path], mine.recordedMilliseconds >= e.recordedMilliseconds { continue }
            byPath[e.path] = e
        }
    }

    /// Drops entries for which `keep` is false (e.g. files that no longer exist).
    public mutating func prune(keeping keep: (Entry) -> Bool) {
        byPath = byPath.filter { keep($0.value) }
    }

    private struct File: Codable {
        var version: Int
        var entries: [Entry]
    }

    /// The ledger as JSON (`{"version": 1, "entries": [...]}`).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(File(version: 1, entries: entries))
    }

    /// A ledger from `jsonData()` output; throws `.fileSystem` for anything else.
    public init(jsonData data: Data) throws {
        let decoder = JSONDecoder()
        do {
            let file = try decoder.decode(File.self, from: data)
            guard file.version == 1 else {
                throw MediaError(.fileSystem, "ledger version \(file.version) is not supported")
            }
            byPath = Dictionary(file.entries.map { ($0.path, $0) }, uniquingKeysWith: { a, b in a.recordedMilliseconds >= b.recordedMilliseconds ? a : b })
        } catch let error as MediaError {
            throw error
        } catch {
            throw MediaError(.fileSystem, "ledger JSON is invalid", cause: MediaError.Underlying(error))
        }
    }

    /// Writes the ledger to `path` durably and atomically (temporary file, fsync, rename, fsync of the directory).
    public func save(to path: String) throws {
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
            try DurableFile.replace(path, with: Array(jsonData()))
        } catch let error as MediaError {
            throw error
        } catch {
            throw MediaError(.fileSystem, "cannot write ledger \(path)", cause: MediaError.Underlying(error))
        }
    }

    /// Reads a ledger from `path`; a missing file is an empty ledger.
    public static func load(from path: String) throws -> IngestLedger {
        guard FileManager.default.fileExists(atPath: path) else { return IngestLedger() }
        do {
            return try IngestLedger(jsonData: try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch let error as MediaError {
            throw MediaError(.fileSystem, "cannot read ledger \(path): \(error.message)", cause: error)
        } catch {
            throw MediaError(.fileSystem, "cannot read ledger \(path)", cause: MediaError.Underlying(error))
        }
    }

    /// The ledger file for watch folder `folder` inside `stateDirectory`
    /// (`ledger-<folder name>-<hash of the full path>.json`).
    public static func path(stateDirectory: String, folder: String) -> String {
        let absolute = URL(fileURLWithPath: folder).standardizedFileURL.path
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in absolute.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let base = URL(fileURLWithPath: absolute).lastPathComponent
            .map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? String($0) : "_" }.joined()
        let name = "ledger-\(base.isEmpty ? "root" : base)-\(String(h, radix: 16)).json"
        return URL(fileURLWithPath: stateDirectory).appendingPathComponent(name).path
    }
}
