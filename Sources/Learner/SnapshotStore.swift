import DurableFiles
import Foundation
import Glibc

/// A snapshot's manifest: format version, the hash of the configuration it was trained with, when it was made, and
/// the size and SHA-256 of each file.
public struct SnapshotManifest: Codable, Sendable, Equatable {
    /// Bumped when the layout changes.
    public static let currentFormat = 1
    public var format: Int
    public var step: Int
    public var configHash: String
    public var created: Date
    public var files: [String: FileEntry]
    public struct FileEntry: Codable, Sendable, Equatable { public var bytes: Int; public var sha256: String }
}

/// A snapshot on disk: its directory and manifest.
public struct SnapshotInfo: Sendable, Equatable {
    public var directory: URL
    public var manifest: SnapshotManifest
}

/// Generations of snapshots in one directory, written atomically:
/// files go to a hidden temporary directory, each is fsync'ed, the manifest (with checksums) last, then the directory
/// is renamed into place and the parent fsync'ed. The newest good generation is never touched until a newer one is
/// complete; the oldest are pruned down to `keep`. Reading skips (and reports) generations whose checksums fail.
public struct SnapshotStore: Sendable {
    /// Where generations live.
    public let directory: URL
    /// Generations kept.
    public let keep: Int
    /// Test hook: called after each file is written (e.g. to pause so a test can kill the process mid-write).
    public var afterEachFile: (@Sendable (String) -> Void)?

    /// A store in `directory` keeping `keep` generations (at least 1).
    public init(directory: URL, keep: Int = 3) {
        self.directory = directory
        self.keep = Swift.max(1, keep)
    }

    static func name(step: Int) -> String { String(format: "snapshot-%012d", step) }

    /// Writes a generation holding `files` (name → bytes) for `step`; returns where it went.
    @discardableResult
    public func write(step: Int, configHash: String, files: [String: [UInt8]]) throws -> SnapshotInfo {
        let fm = FileManager.default
        do { try fm.createDirectory(at: directory, withIntermediateDirectories: true) }
        catch { throw TrainerError.snapshotWrite("cannot create \(directory.path)", cause: error) }
        let temp = directory.appendingPathComponent(".tmp-\(Self.name(step: step))-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try fm.createDirectory(at: temp, withIntermediateDirectories: false)
            var entries: [String: SnapshotManifest.FileEntry] = [:]
            for (name, bytes) in files.sorted(by: { $0.key < $1.key }) {
                try Self.writeSynced(bytes, to: temp.appendingPathComponent(name))
                entries[name] = .init(bytes: bytes.count, sha256: SHA256.hex(bytes))
                afterEachFile?(name)
            }
            let manifest = SnapshotManifest(format: SnapshotManifest.currentFormat, step: step, configHash: configHash, created: Date(), files: entries)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            try Self.writeSynced(Array(try encoder.encode(manifest)), to: temp.appendingPathComponent("manifest.json"))
            afterEachFile?("manifest.json")
            try Self.fsyncPath(temp)
            var final = directory.appendingPathComponent(Self.name(step: step))
            if fm.fileExists(atPath: final.path) {
                final = directory.appendingPathComponent(Self.name(step: step) + "-\(Int(Date().timeIntervalSince1970 * 1000))")
            }
            guard rename(temp.path, final.path) == 0 else { throw TrainerError.snapshotWrite("rename into \(final.path): \(String(cString: strerror(errno)))") }
            try Self.fsyncPath(directory)
            prune()
            return SnapshotInfo(directory: final, manifest: manifest)
        } catch {
            try? fm.removeItem(at: temp)
            if error is TrainerError { throw error }
            throw TrainerError.snapshotWrite("writing step \(step) into \(directory.path)", cause: error)
        }
    }

    /// Complete generations, newest first (by step, then name).
    public func generations() -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasPrefix("snapshot-") }.sorted(by: >).map { directory.appendingPathComponent($0) }
    }

    /// Removes all but the newest `keep` generations and stale temporary directories of dead writers.
    public func prune() {
        let fm = FileManager.default
        for old in generations().dropFirst(keep) { try? fm.removeItem(at: old) }
        let names = (try? fm.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in names where name.hasPrefix(".tmp-snapshot-") {
            let parts = name.split(separator: "-")
            if parts.count >= 4, let pid = Int32(parts[parts.count - 2]), pid != getpid(), kill(pid, 0) != 0 {
                try? fm.removeItem(at: directory.appendingPathComponent(name))
            }
        }
    }

    /// Reads and verifies one generation: the manifest parses, has the current format, and every file's size and
    /// SHA-256 match. Returns the files' bytes.
    public func read(_ dir: URL) throws -> (SnapshotManifest, [String: [UInt8]]) {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let manifest: SnapshotManifest
        do { manifest = try decoder.decode(SnapshotManifest.self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json"))) }
        catch { throw TrainerError.snapshotRead("\(dir.lastPathComponent): manifest missing or malformed", cause: error) }
        guard manifest.format == SnapshotManifest.currentFormat else {
            throw TrainerError.snapshotRead("\(dir.lastPathComponent): format \(manifest.format), this build reads \(SnapshotManifest.currentFormat)")
        }
        var files: [String: [UInt8]] = [:]
        for (name, entry) in manifest.files {
            guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent(name).path) else {
                throw TrainerError.snapshotRead("\(dir.lastPathComponent)/\(name) is missing")
            }
            let bytes = [UInt8](data)
            guard bytes.count == entry.bytes, SHA256.hex(bytes) == entry.sha256 else {
                throw TrainerError.snapshotRead("\(dir.lastPathComponent)/\(name) fails its checksum (\(bytes.count) bytes, manifest says \(entry.bytes))")
            }
            files[name] = bytes
        }
        return (manifest, files)
    }

    /// The newest generation that verifies, and the reasons the newer ones were skipped.
    public func newestValid() -> (snapshot: (SnapshotManifest, [String: [UInt8]], URL)?, skipped: [String]) {
        var skipped: [String] = []
        for dir in generations() {
            do { let (m, f) = try read(dir); return ((m, f, dir), skipped) }
            catch { skipped.append("\(error)") }
        }
        return (nil, skipped)
    }

    /// Writes `bytes` to `url` and fsyncs it (the generation's directory is renamed into place afterwards).
    static func writeSynced(_ bytes: [UInt8], to url: URL) throws {
        do { try DurableFile.write(bytes, to: url.path) } catch {
            throw TrainerError.snapshotWrite(error.message, cause: error.cause)
        }
    }

    /// Fsyncs directory `url`.
    static func fsyncPath(_ url: URL) throws {
        do { try DurableFile.syncDirectory(url.path) } catch {
            throw TrainerError.snapshotWrite(error.message, cause: error.cause)
        }
    }
}
