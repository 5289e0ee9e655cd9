import Foundation
import LibAV

/// A dataset manifest: a TSV file with the header `path	background	motion	split` and one row per clip,
/// `path` relative to the manifest's folder.
public struct SyntheticManifest: Sendable, Hashable {
    /// Which side of the train/test split a clip is on.
    public enum Split: String, Sendable, Hashable, Codable, CaseIterable {
        /// For training (and for fitting probes).
        case train
        /// Held out for evaluation.
        case test
    }

    /// One clip.
    public struct Entry: Sendable, Hashable {
        /// The video, relative to the manifest's folder.
        public var path: String
        /// The static label.
        public var background: String
        /// The dynamic label.
        public var motion: String
        /// Train or test.
        public var split: Split

        /// An entry.
        public init(path: String, background: String, motion: String, split: Split) {
            self.path = path
            self.background = background
            self.motion = motion
            self.split = split
        }
    }

    /// The header line.
    public static let header = "path\tbackground\tmotion\tsplit"
    /// The manifest's file name inside a dataset folder.
    public static let fileName = "manifest.tsv"

    /// The rows, in file order.
    public var entries: [Entry]

    /// A manifest of `entries`.
    public init(entries: [Entry]) { self.entries = entries }

    /// Parses TSV `text`. Throws `.invalidManifest` naming the line for a wrong header, a row without four
    /// fields, an empty or absolute or duplicate path, or an unknown split.
    public init(parsing text: String) throws {
        // "\r\n" is one Character in Swift: split on it too, or CRLF files would be one long line.
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map {
            $0.hasSuffix("\r") ? $0.dropLast() : $0
        }
        if lines.last == "" { lines.removeLast() }
        guard let first = lines.first, first == Self.header else {
            throw MediaError(.invalidManifest, "manifest must start with the header '\(Self.header)'")
        }
        var seen = Set<String>()
        var entries: [Entry] = []
        for (n, line) in lines.enumerated().dropFirst() {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 4 else {
                throw MediaError(.invalidManifest, "manifest line \(n + 1): expected 4 tab-separated fields, got \(fields.count)")
            }
            guard !fields[0].isEmpty, !fields[0].hasPrefix("/") else {
                throw MediaError(.invalidManifest, "manifest line \(n + 1): path must be non-empty and relative")
            }
            guard !fields[1].isEmpty, !fields[2].isEmpty else {
                throw MediaError(.invalidManifest, "manifest line \(n + 1): empty label")
            }
            guard let split = Split(rawValue: fields[3]) else {
                throw MediaError(.invalidManifest, "manifest line \(n + 1): split must be train or test, got '\(fields[3])'")
            }
            guard seen.insert(fields[0]).inserted else {
                throw MediaError(.invalidManifest, "manifest line \(n + 1): duplicate path '\(fields[0])'")
            }
            entries.append(Entry(path: fields[0], background: fields[1], motion: fields[2], split: split))
        }
        self.entries = entries
    }

    /// Reads and parses the manifest at `path` (`.fileSystem` when unreadable).
    public init(contentsOf path: String) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw MediaError(.fileSystem, "cannot read manifest '\(path)'", cause: MediaError.Underlying(error))
        }
        do {
            try self.init(parsing: text)
        } catch let error as MediaError {
            throw MediaError(error.code, "\(path): \(error.message)")
        }
    }

    /// The TSV text (header, then one line per entry, newline-terminated).
    public var tsv: String {
        var text = Self.header + "\n"
        for e in entries { text += "\(e.path)\t\(e.background)\t\(e.motion)\t\(e.split.rawValue)\n" }
        return text
    }

    /// Writes the TSV to `path` atomically (a temporary file renamed into place).
    public func write(to path: String) throws {
        do {
            try Data(tsv.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw MediaError(.fileSystem, "cannot write manifest '\(path)'", cause: MediaError.Underlying(error))
        }
    }
}
