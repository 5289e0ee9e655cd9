import Foundation
import Testing
@testable import Learner

/// A fresh temporary directory, removed by the caller.
func temporaryDirectory(_ tag: String) throws -> URL {
    let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("conceptd-\(tag)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Creates (empty) files at `names` under `root`; parsing never decodes, so any bytes do.
func touch(_ root: URL, _ names: [String]) throws {
    for name in names {
        let url = root.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: url)
    }
}

@Suite struct ProbeSetTests {
    @Test func classFolders() throws {
        let root = try temporaryDirectory("probe-folder")
        defer { try? FileManager.default.removeItem(at: root) }
        let cats = (0..<10).map { "cat/c\($0).mp4" }, dogs = (0..<7).map { "dog/sub/d\($0).mkv" }
        try touch(root, cats + dogs + ["cat/notes.txt", "dog/.hidden.mp4", "README.md"])
        let set = try ProbeSet.load(from: root)
        #expect(set.labelNames == ["class"])
        #expect(set.items.count == 17)
        #expect(!set.splitGiven)
        #expect(Set(set.items.filter { $0.labels == ["cat"] }.map(\.name)) == Set(cats))
        // Stratified: 30 % of each class within one clip (10 → 3, 7 → 2 with the carried rounding).
        let testCats = set.items(.test).count { $0.labels == ["cat"] }, testDogs = set.items(.test).count { $0.labels == ["dog"] }
        #expect((2...4).contains(testCats) && (1...3).contains(testDogs), "test clips: \(testCats) cats, \(testDogs) dogs")
        #expect(testCats + testDogs == 5)
        // Deterministic: a second load splits the same way.
        #expect(try ProbeSet.load(from: root) == set)
        #expect(set.classes(0) == ["cat", "dog"])
    }

    @Test func folderProblemsAreNamed() throws {
        let root = try temporaryDirectory("probe-folder-bad")
        defer { try? FileManager.default.removeItem(at: root) }
        try touch(root, ["a/1.mp4", "a/2.mp4", "a/3.mp4", "b/readme.txt"])
        let empty = try #require(throws: ProbeError.self) { try ProbeSet.load(from: root) }
        #expect(empty.kind == .invalidSet && empty.message.contains("'b'"), "\(empty)")
        try FileManager.default.removeItem(at: root.appendingPathComponent("b"))
        let single = try #require(throws: ProbeError.self) { try ProbeSet.load(from: root) }
        #expect(single.kind == .invalidSet && single.message.contains("at least 2"), "\(single)")
        let missing = try #require(throws: ProbeError.self) { try ProbeSet.load(from: root.appendingPathComponent("nope")) }
        #expect(missing.kind == .invalidSet)
    }

    @Test func manifestWithTwoLabelsAndSplit() throws {
        let root = try temporaryDirectory("probe-tsv")
        defer { try? FileManager.default.removeItem(at: root) }
        try touch(root, ["train/a.mp4", "train/b.mp4", "train/c.mp4", "test/d.mp4", "elsewhere/e.mp4"])
        let absolute = root.appendingPathComponent("elsewhere/e.mp4").path
        let text = """
        path\tbackground\tmotion\tsplit
        train/a.mp4\tnoise\tstill\ttrain
        train/b.mp4\tgrid\tcircle\ttrain

        # a comment
        train/c.mp4\tgrid\tstill\tTRAIN
        test/d.mp4\tnoise\tcircle\ttest
        \(absolute)\tnoise\tstill\ttest

        """
        try Data(text.utf8).write(to: root.appendingPathComponent("manifest.tsv"))
        // The folder holds a manifest, so the folder loads it.
        let set = try ProbeSet.load(from: root)
        #expect(set.labelNames == ["background", "motion"])
        #expect(set.splitGiven)
        #expect(set.items.map(\.split) == [.train, .train, .train, .test, .test])
        #expect(set.items.map(\.line) == [2, 3, 6, 7, 8])
        #expect(set.items[1].labels == ["grid", "circle"])
        #expect(set.items[0].path == root.appendingPathComponent("train/a.mp4").standardizedFileURL.path)
        #expect(set.items[4].path == absolute)
        #expect(set.classes(1) == ["circle", "still"])
    }

    @Test func manifestWithoutSplitIsSplitStratified() throws {
        let root = try temporaryDirectory("probe-tsv-nosplit")
        defer { try? FileManager.default.removeItem(at: root) }
        var rows = ["motion\tpath\tbackground"]       // column order is free
        var names: [String] = []
        for b in ["sky", "sea"] { for m in ["left", "right", "still"] { for i in 0..<5 {
            let name = "v/\(b)-\(m)-\(i).mp4"
            names.append(name)
            rows.append("\(m)\t\(name)\t\(b)")
        } } }
        try touch(root, names)
        let file = root.appendingPathComponent("probe.tsv")
        try Data(rows.joined(separator: "\r\n").utf8).write(to: file)
        let set = try ProbeSet.load(from: file)
        #expect(set.labelNames == ["motion", "background"])
        #expect(!set.splitGiven)
        #expect(set.items.count == 30)
        #expect(set.items(.test).count == 9, "30 % of 30")
        // Every (background, motion) pair of 5 clips sends 1 or 2 to the test side.
        for b in ["sky", "sea"] { for m in ["left", "right", "still"] {
            let n = set.items(.test).count { $0.labels == [m, b] }
            #expect((1...2).contains(n), "\(b)/\(m): \(n) test clips")
        } }
        #expect(try ProbeSet.load(from: file) == set)
    }

    @Test func manifestErrorsNameFileAndLine() throws {
        let root = try temporaryDirectory("probe-tsv-bad")
        defer { try? FileManager.default.removeItem(at: root) }
        try touch(root, ["a.mp4", "b.mp4", "c.mp4"])
        let file = root.appendingPathComponent("m.tsv")
        func failure(_ text: String) throws -> ProbeError {
            try Data(text.utf8).write(to: file)
            return try #require(throws: ProbeError.self) { try ProbeSet.load(from: file) }
        }
        let fields = try failure("path\tlabel\na.mp4\tx\nb.mp4\ty\textra\n")
        #expect(fields.kind == .manifest && fields.line == 3 && fields.file == file.path)
        #expect(fields.description.contains("m.tsv:3") && fields.description.contains("expected 2"), "\(fields)")

        let missing = try failure("path\tlabel\na.mp4\tx\nb.mp4\ty\nnothere.mp4\tx\n")
        #expect(missing.kind == .missingFile && missing.line == 4)
        #expect(missing.description.contains("nothere.mp4") && missing.description.contains("m.tsv:4"), "\(missing)")

        let split = try failure("path\tlabel\tsplit\na.mp4\tx\ttrain\nb.mp4\ty\tvalidation\n")
        #expect(split.kind == .manifest && split.line == 3 && split.message.contains("validation"))

        let noPath = try failure("# header next\nfile\tlabel\na.mp4\tx\n")
        #expect(noPath.kind == .manifest && noPath.line == 2 && noPath.message.contains("'path'"))

        let noLabel = try failure("path\tsplit\na.mp4\ttrain\n")
        #expect(noLabel.kind == .manifest && noLabel.message.contains("label column"))

        let twice = try failure("path\tlabel\na.mp4\tx\nb.mp4\ty\n./a.mp4\tx\n")
        #expect(twice.kind == .manifest && twice.line == 4 && twice.message.contains("line 2"))

        let emptyLabel = try failure("path\tlabel\na.mp4\t\n")
        #expect(emptyLabel.kind == .manifest && emptyLabel.line == 2)

        let oneClass = try failure("path\tlabel\tsplit\na.mp4\tx\ttrain\nb.mp4\tx\ttrain\nc.mp4\ty\ttest\n")
        #expect(oneClass.kind == .invalidSet && oneClass.message.contains("'label'"))

        let noTest = try failure("path\tlabel\tsplit\na.mp4\tx\ttrain\nb.mp4\ty\ttrain\n")
        #expect(noTest.kind == .invalidSet && noTest.message.contains("test side"))

        let empty = try failure("")
        #expect(empty.kind == .manifest)
    }

    @Test func stratifiedSplitCarriesRounding() {
        // 12 groups of one item at 30 %: 3 or 4 selected, spread out (never two neighbours in a row of groups).
        let selected = StratifiedSplit.select(groups: Array(0..<12), keys: (0..<12).map { UInt64($0) }, fraction: 0.3)
        #expect(selected.count { $0 } == 3)
        #expect(!zip(selected, selected.dropFirst()).contains { $0 && $1 })
        // A group of two keeps one unselected even at a large fraction.
        #expect(StratifiedSplit.select(groups: [0, 0], keys: [1, 2], fraction: 0.9) == [true, false])
        // The key orders members: the smallest keys are selected.
        #expect(StratifiedSplit.select(groups: [0, 0, 0, 0], keys: [9, 3, 7, 1], fraction: 0.5) == [false, true, false, true])
        #expect(StratifiedSplit.hash("a") != StratifiedSplit.hash("b"))
        #expect(StratifiedSplit.hash("clip") == StratifiedSplit.hash("clip"))
    }
}
