import Foundation

/// A labelled set of videos to probe representations with: each video has one value per label column and is on the
/// train or the test side.
///
/// Two layouts load (`ProbeSet.load(from:)`):
/// - a folder with one subfolder per class (one label, named `class`), videos anywhere below each class folder;
/// - a TSV manifest with a header row: a `path` column (relative to the manifest's folder, or absolute), an optional
///   `split` column (`train`/`test`), and every other column a label column. The synthetic dataset's
///   `manifest.tsv` (`path background motion split`) loads as is; a folder holding a `manifest.tsv` loads it.
///
/// Without a split column the split is deterministic and stratified: see `StratifiedSplit`.
public struct ProbeSet: Sendable, Equatable {
    /// Train (fits probes, is the retrieval gallery) or test (is scored, queries the gallery).
    public enum Split: String, Sendable, Codable, CaseIterable {
        /// Fits the probes; the retrieval gallery.
        case train
        /// Scored; the retrieval queries.
        case test
    }

    /// One video.
    public struct Item: Sendable, Equatable, Codable {
        /// Absolute path of the video.
        public var path: String
        /// The path as the set names it (relative to the set's folder, or absolute as written).
        public var name: String
        /// One value per `ProbeSet.labelNames` entry.
        public var labels: [String]
        /// Train or test.
        public var split: Split
        /// The manifest line that named it (nil for the folder layout).
        public var line: Int?

        /// An item.
        public init(path: String, name: String, labels: [String], split: Split, line: Int? = nil) {
            self.path = path
            self.name = name
            self.labels = labels
            self.split = split
            self.line = line
        }
    }

    /// The manifest file or class folder the set was read from.
    public let source: String
    /// Label columns, in manifest order (`["class"]` for the folder layout).
    public let labelNames: [String]
    /// The videos, in manifest order (folder layout: by class, then path).
    public let items: [Item]
    /// Whether the split came from the manifest (false: derived by `StratifiedSplit`).
    public let splitGiven: Bool

    /// Share of each class that goes to the test side when the manifest has no split.
    public static let defaultTestFraction = 0.3
    /// File extensions taken as videos in the folder layout (lowercase).
    public static let videoExtensions: Set<String> = [
        "mp4", "m4v", "mov", "mkv", "webm", "avi", "flv", "mpg", "mpeg", "ts", "m2ts", "mts", "wmv", "ogv", "3gp", "y4m",
    ]

    /// A set of `items` (checked: see `validate`).
    public init(source: String, labelNames: [String], items: [Item], splitGiven: Bool) throws {
        self.source = source
        self.labelNames = labelNames
        self.items = items
        self.splitGiven = splitGiven
        try validate()
    }

    /// Loads a probe set from a class folder, a folder holding `manifest.tsv`, or a TSV manifest file.
    /// Every named video must exist. Throws `ProbeError` naming the file (and line) and why.
    public static func load(from url: URL, testFraction: Double = defaultTestFraction) throws -> ProbeSet {
        let path = url.standardizedFileURL.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ProbeError.invalidSet("'\(path)' does not exist", file: path)
        }
        if isDirectory.boolValue {
            let manifest = (path as NSString).appendingPathComponent("manifest.tsv")
            if FileManager.default.fileExists(atPath: manifest) {
                return try loadManifest(at: manifest, testFraction: testFraction)
            }
            return try loadFolder(at: path, testFraction: testFraction)
        }
        return try loadManifest(at: path, testFraction: testFraction)
    }

    /// Reads and parses a TSV manifest file.
    public static func loadManifest(at path: String, testFraction: Double = defaultTestFraction) throws -> ProbeSet {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ProbeError.manifest("cannot read it as UTF-8 text", file: path, cause: ProbeUnderlying(error))
        }
        return try ProbeSet(manifest: text, file: path, directory: (path as NSString).deletingLastPathComponent,
                            testFraction: testFraction)
    }

    /// Parses manifest `text` read from `file`; relative paths resolve against `directory`.
    public init(manifest text: String, file: String, directory: String, testFraction: Double = defaultTestFraction,
                checkFiles: Bool = true) throws {
        guard testFraction > 0 && testFraction < 1 else {
            throw ProbeError.invalidOptions("test fraction must be in (0, 1), got \(testFraction)")
        }
        // "\r\n" is one Character in Swift, so split on either line ending.
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        if lines.last == "" { lines.removeLast() }
        guard let headerIndex = lines.firstIndex(where: { !Self.isBlankOrComment($0) }) else {
            throw ProbeError.manifest("no header row (expected a tab-separated header with a 'path' column)", file: file)
        }
        let header = lines[headerIndex].split(separator: "\t", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        let headerLine = headerIndex + 1
        var seenColumns = Set<String>()
        for name in header {
            guard !name.isEmpty else { throw ProbeError.manifest("header has an empty column name", file: file, line: headerLine) }
            guard seenColumns.insert(name).inserted else {
                throw ProbeError.manifest("header names column '\(name)' twice", file: file, line: headerLine)
            }
        }
        guard let pathColumn = header.firstIndex(of: "path") else {
            throw ProbeError.manifest("header has no 'path' column (got \(header.joined(separator: ", ")))", file: file, line: headerLine)
        }
        let splitColumn = header.firstIndex(of: "split")
        let labelColumns = header.indices.filter { $0 != pathColumn && $0 != splitColumn }
        guard !labelColumns.isEmpty else {
            throw ProbeError.manifest("header has no label column (every column but 'path' and 'split' is a label)", file: file, line: headerLine)
        }
        var items: [Item] = []
        var seenPaths: [String: Int] = [:]
        for index in (headerIndex + 1)..<lines.count {
            let text = lines[index], line = index + 1
            if Self.isBlankOrComment(text) { continue }
            let fields = text.split(separator: "\t", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == header.count else {
                throw ProbeError.manifest("expected \(header.count) tab-separated fields (\(header.joined(separator: ", "))), got \(fields.count)", file: file, line: line)
            }
            let name = fields[pathColumn]
            guard !name.isEmpty else { throw ProbeError.manifest("empty path", file: file, line: line) }
            var labels: [String] = []
            for c in labelColumns {
                guard !fields[c].isEmpty else { throw ProbeError.manifest("empty value in label column '\(header[c])'", file: file, line: line) }
                labels.append(fields[c])
            }
            var split = Split.train
            if let splitColumn {
                guard let s = Split(rawValue: fields[splitColumn].lowercased()) else {
                    throw ProbeError.manifest("split must be 'train' or 'test', got '\(fields[splitColumn])'", file: file, line: line)
                }
                split = s
            }
            let absolute = name.hasPrefix("/") ? name : (directory as NSString).appendingPathComponent(name)
            let resolved = (absolute as NSString).standardizingPath
            if let first = seenPaths[resolved] {
                throw ProbeError.manifest("video '\(name)' is listed twice (first on line \(first))", file: file, line: line)
            }
            seenPaths[resolved] = line
            if checkFiles && !Self.isRegularFile(resolved) {
                throw ProbeError.missingFile(resolved, manifest: file, line: line)
            }
            items.append(Item(path: resolved, name: name, labels: labels, split: split, line: line))
        }
        guard !items.isEmpty else { throw ProbeError.invalidSet("the manifest lists no video", file: file) }
        if splitColumn == nil {
            items = Self.assignSplit(items, testFraction: testFraction)
        }
        try self.init(source: file, labelNames: labelColumns.map { header[$0] }, items: items, splitGiven: splitColumn != nil)
    }

    /// Reads a folder with one subfolder per class.
    static func loadFolder(at path: String, testFraction: Double) throws -> ProbeSet {
        guard testFraction > 0 && testFraction < 1 else {
            throw ProbeError.invalidOptions("test fraction must be in (0, 1), got \(testFraction)")
        }
        let fm = FileManager.default
        let entries: [String]
        do { entries = try fm.contentsOfDirectory(atPath: path).sorted() } catch {
            throw ProbeError.invalidSet("cannot list the folder", file: path)
        }
        var items: [Item] = []
        for entry in entries where !entry.hasPrefix(".") {
            let full = (path as NSString).appendingPathComponent(entry)
            var isDirectory: ObjCBool = false
            _ = fm.fileExists(atPath: full, isDirectory: &isDirectory)
            guard isDirectory.boolValue else {
                if Self.videoExtensions.contains((entry as NSString).pathExtension.lowercased()) {
                    throw ProbeError.invalidSet("video '\(entry)' lies directly in the probe folder; put each video in its class's subfolder", file: path)
                }
                continue
            }
            var videos: [String] = []
            if let walker = fm.enumerator(atPath: full) {
                while let relative = walker.nextObject() as? String {
                    let last = (relative as NSString).lastPathComponent
                    if last.hasPrefix(".") { walker.skipDescendants(); continue }
                    let file = (full as NSString).appendingPathComponent(relative)
                    if Self.videoExtensions.contains((last as NSString).pathExtension.lowercased()) && Self.isRegularFile(file) {
                        videos.append(relative)
                    }
                }
            }
            guard !videos.isEmpty else {
                throw ProbeError.invalidSet("class folder '\(entry)' holds no video (extensions: \(Self.videoExtensions.sorted().joined(separator: ", ")))", file: path)
            }
            for v in videos.sorted() {
                let name = "\(entry)/\(v)"
                items.append(Item(path: (path as NSString).appendingPathComponent(name), name: name, labels: [entry], split: .train))
            }
        }
        guard !items.isEmpty else {
            throw ProbeError.invalidSet("no class subfolder with videos and no manifest.tsv", file: path)
        }
        return try ProbeSet(source: path, labelNames: ["class"], items: assignSplit(items, testFraction: testFraction), splitGiven: false)
    }

    /// Assigns train/test by `StratifiedSplit`, grouping by all labels together, keyed by a hash of the name.
    static func assignSplit(_ items: [Item], testFraction: Double) -> [Item] {
        let keys = items.map { $0.labels.joined(separator: "\u{1F}") }
        let groups = Dictionary(grouping: keys.indices, by: { keys[$0] })
        var groupOf = [Int](repeating: 0, count: items.count)
        for (g, key) in groups.keys.sorted().enumerated() { for i in groups[key]! { groupOf[i] = g } }
        let test = StratifiedSplit.select(groups: groupOf, keys: items.map { StratifiedSplit.hash($0.name) }, fraction: testFraction)
        return items.indices.map { i in
            var item = items[i]
            item.split = test[i] ? .test : .train
            return item
        }
    }

    /// Checks that every label column can be probed: at least one train and one test video, and at least two
    /// classes on the train side.
    public func validate() throws {
        guard !labelNames.isEmpty else { throw ProbeError.invalidSet("no label column", file: source) }
        for item in items where item.labels.count != labelNames.count {
            throw ProbeError.invalidSet("video '\(item.name)' has \(item.labels.count) labels for \(labelNames.count) label columns", file: source)
        }
        for (l, name) in labelNames.enumerated() {
            let classes = Set(items.map { $0.labels[l] })
            guard classes.count >= 2 else {
                throw ProbeError.invalidSet("label '\(name)' has a single class (\(classes.first ?? "")); a probe needs at least 2", file: source)
            }
        }
        let train = items.filter { $0.split == .train }, test = items.filter { $0.split == .test }
        guard !train.isEmpty else { throw ProbeError.invalidSet("no video on the train side", file: source) }
        guard !test.isEmpty else { throw ProbeError.invalidSet("no video on the test side", file: source) }
        for (l, name) in labelNames.enumerated() {
            let classes = Set(train.map { $0.labels[l] })
            guard classes.count >= 2 else {
                throw ProbeError.invalidSet("label '\(name)' has \(classes.count) class on the train side; a probe needs at least 2", file: source)
            }
        }
    }

    /// Videos on one side.
    public func items(_ split: Split) -> [Item] { items.filter { $0.split == split } }

    /// The classes of label column `label`, sorted (class `i` of `labelIndices` is `classes(label)[i]`).
    public func classes(_ label: Int) -> [String] { Array(Set(items.map { $0.labels[label] })).sorted() }

    static func isBlankOrComment(_ line: String) -> Bool {
        let t = line.trimmingCharacters(in: .whitespaces)
        return t.isEmpty || t.hasPrefix("#")
    }

    static func isRegularFile(_ path: String) -> Bool {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return false }
        return attributes[.type] as? FileAttributeType == .typeRegular
    }
}

/// A deterministic stratified split: items are grouped (by class), ordered inside each group by a key (a hash of the
/// name), and the first `round(fraction x size)` of each group are selected, with the rounding error carried from one
/// group to the next so the total matches `fraction` and every group is within one item of its share. A group of two
/// or more always keeps at least one unselected item.
public enum StratifiedSplit {
    /// Which items are selected (e.g. go to the test side). `groups[i]` is item `i`'s group, `keys[i]` its order key.
    public static func select(groups: [Int], keys: [UInt64], fraction: Double) -> [Bool] {
        precondition(groups.count == keys.count, "one key per item")
        var selected = [Bool](repeating: false, count: groups.count)
        let byGroup = Dictionary(grouping: groups.indices, by: { groups[$0] })
        var carry = 0.0
        for g in byGroup.keys.sorted() {
            let members = byGroup[g]!.sorted { (keys[$0], $0) < (keys[$1], $1) }
            let exact = Double(members.count) * fraction + carry
            var take = Int(exact.rounded(.down))
            if members.count >= 2 { take = Swift.min(take, members.count - 1) }
            take = Swift.min(take, members.count)
            carry = exact - Double(take)
            for i in members.prefix(take) { selected[i] = true }
        }
        return selected
    }

    /// FNV-1a (64-bit) of `text`: a stable order key (Swift's `Hasher` is seeded per process).
    public static func hash(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        // Finalise (SplitMix64's mixer) so similar names spread over the whole range.
        h = (h ^ (h >> 30)) &* 0xbf58_476d_1ce4_e5b9
        h = (h ^ (h >> 27)) &* 0x94d0_49bb_1331_11eb
        return h ^ (h >> 31)
    }
}
