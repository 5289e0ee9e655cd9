import Foundation
import Logging
import Media
import Testing

@testable import Service
import ConceptTestSupport

/// Issue #14, fault 3 (and the reconnect cap of fault 1): a configuration without a source is refused, every
/// numeric key has a range that names itself when exceeded, and the directory checks of `check-config`.
@Suite("Configuration: hardening")
struct HardeningConfigTests {
    static let source = "[[source]]\nname = \"cam\"\nuri = \"lavfi:testsrc2\"\n"

    func problems(_ text: String) -> [String] {
        do {
            _ = try DaemonConfig.parse(text, file: "t.toml", environment: testEnvironment("/tmp"))
            return []
        } catch {
            return error.problems.map { "\($0.line.map(String.init) ?? "-"): \($0.keyPath): \($0.message)" }
        }
    }

    @Test("an empty, blank or comment-only file, or source = [], is refused: there is nothing to learn from",
          arguments: ["", "\n\n   \n", "# nothing here\n# at all\n", "[api]\nlisten = \"127.0.0.1:8787\"\n", "source = []\n"])
    func noSource(text: String) {
        let p = problems(text)
        #expect(p.count == 1 && p[0].hasSuffix(": source: no [[source]] table: add at least one (name and uri) for the daemon to learn from"),
                "\(p)")
    }

    @Test("one source is enough, even a disabled one (a deliberate pause)")
    func oneSource() {
        #expect(problems(Self.source).isEmpty)
        #expect(problems(Self.source + "enabled = false\n").isEmpty)
    }

    @Test("extreme values are refused with the allowed range", arguments: [
        ("[snapshots]\nevery_seconds = 1e300\n", "snapshots.every_seconds: must be >= 1.0 and <= 604800.0, got 1e+300"),
        ("[snapshots]\nevery_steps = 9223372036854775807\n", "snapshots.every_steps: must be in 1...10000000, got 9223372036854775807"),
        ("[snapshots]\nevery_seconds = 0.5\n", "snapshots.every_seconds: must be >= 1.0 and <= 604800.0, got 0.5"),
        ("[training]\nmax_steps = 9223372036854775807\n", "training.max_steps: must be in 1...1000000000, got 9223372036854775807"),
        ("[training]\nwarmup_steps = 4000000000\n", "training.warmup_steps: must be in 0...1000000000, got 4000000000"),
        ("[probe]\nmanifest = \"/etc/hostname\"\nevery_minutes = 1e300\n", "probe.every_minutes: must be > 0.0 and <= 10080.0, got 1e+300"),
        ("[probe]\nmanifest = \"/etc/hostname\"\nevery_steps = 9223372036854775807\n", "probe.every_steps: must be in 1...10000000, got 9223372036854775807"),
        (source + "reconnect_max_seconds = 0.5\n", "source[0].reconnect_max_seconds: must be >= 1.0 and <= 3600.0, got 0.5"),
        (source + "reconnect_max_seconds = 1e9\n", "source[0].reconnect_max_seconds: must be >= 1.0 and <= 3600.0, got 1000000000.0"),
        (source + "stall_seconds = 1e300\n", "source[0].stall_seconds: must be > 0.0 and <= 86400.0, got 1e+300"),
        (source + "fps = 1e300\n", "source[0].fps: must be > 0.0 and <= 1000.0, got 1e+300"),
        (source + "stride = 9223372036854775807\n", "source[0].stride: must be in 1...100000, got 9223372036854775807"),
        ("[snapshots]\nkeep = 9223372036854775807\n", "snapshots.keep: must be in 1...1000, got 9223372036854775807"),
        ("[training]\nbatch_size = 9223372036854775807\n", "training.batch_size: must be in 2...4096, got 9223372036854775807 (batch norm and Sinkhorn need at least 2 clips)"),
    ])
    func extremes(text: String, expected: String) {
        let withSource = text.contains("[[source]]") ? text : Self.source + text
        let p = problems(withSource)
        #expect(p.contains { $0.hasSuffix(expected) }, "\(p)")
    }

    @Test("the largest allowed values are accepted")
    func bounds() throws {
        let c = try DaemonConfig.parse(Self.source + """
            reconnect_max_seconds = 3600
            stall_seconds = 86400
            [training]
            max_steps = 1000000000
            warmup_steps = 1000000000
            [snapshots]
            every_steps = 10000000
            every_seconds = 604800
            """, environment: testEnvironment("/tmp"))
        #expect(c.sources[0].reconnectMaxSeconds == 3600)
        #expect(c.snapshots.everySteps == 10_000_000 && c.snapshots.everySeconds == 604_800)
        #expect(c.training.maxSteps == 1_000_000_000)
    }

    @Test("reconnect_max_seconds becomes the media layer's backoff cap; the default is 60 s from 1 s")
    func reconnectCap() throws {
        let c = try DaemonConfig.parse(Self.source + "reconnect_max_seconds = 5\n" + "[[source]]\nname = \"b\"\nuri = \"lavfi:testsrc2\"\n",
                                       environment: testEnvironment("/tmp"))
        let capped = c.sources[0].mediaOptions(config: c, ledger: nil, logger: Logger(label: "t"))
        let plain = c.sources[1].mediaOptions(config: c, ledger: nil, logger: Logger(label: "t"))
        #expect(capped.backoff.maximum == 5 && capped.backoff.initial == 1)
        #expect(plain.backoff == BackoffPolicy())
        #expect(c.sources[0].summary.contains("reconnect cap 5.0s"))
    }

    @Test("directory problems: a file where a directory belongs, a path through a file; usable ones pass")
    func directoryProblems() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let file = try dir.file("plain", "x")
        let watch = try dir.directory("watch")
        let c = try DaemonConfig.parse("""
            state_directory = "\(file)"
            [[source]]
            name = "w"
            uri = "folder:\(watch)"
            after = "move:\(file)/done"
            [snapshots]
            directory = "\(dir.path)/snaps"
            """, file: "c.toml", environment: testEnvironment(dir.path))
        let problems = c.directoryProblems(text: """
            state_directory = "\(file)"
            [[source]]
            name = "w"
            uri = "folder:\(watch)"
            after = "move:\(file)/done"
            [snapshots]
            directory = "\(dir.path)/snaps"
            """).map { $0.formatted(file: "c.toml") }
        #expect(problems.contains("c.toml:1: state_directory: state directory: \(file) is not a directory"), "\(problems)")
        #expect(problems.contains { $0.hasPrefix("c.toml:1: state_directory: ingest records: \(file)/ingest cannot be reached by uid") && $0.hasSuffix("Not a directory") },
                "\(problems)")
        #expect(problems.contains { $0.hasPrefix("c.toml:5: source[0].after: move target: \(file)/done cannot be reached") }, "\(problems)")
        // The snapshot directory does not exist yet but can be created; the watch folder is usable.
        #expect(!problems.contains { $0.contains("snapshots.directory") || $0.contains("source[0].uri") }, "\(problems)")
    }
}
