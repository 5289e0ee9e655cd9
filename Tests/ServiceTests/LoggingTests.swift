import Foundation
import Logging
import Testing

@testable import Service
import ConceptTestSupport
@testable import SystemdSupport

private func event(_ level: Logger.Level, _ message: String, metadata: Logger.Metadata? = nil, error: (any Error)? = nil) -> LogEvent {
    LogEvent(level: level, message: "\(message)", error: error, metadata: metadata, source: "Learner",
             file: "Learner/Loop.swift", function: "step()", line: 42)
}

/// Splits a datagram of the journal's native protocol into (name, value) pairs.
func parseJournalDatagram(_ d: [UInt8]) -> [(String, String)]? {
    var out: [(String, String)] = []
    var i = 0
    while i < d.count {
        guard let nl = d[i...].firstIndex(of: 10) else { return nil }
        let line = d[i..<nl]
        if let eq = line.firstIndex(of: UInt8(ascii: "=")) {
            out.append((String(decoding: line[..<eq], as: UTF8.self), String(decoding: line[(eq + 1)...], as: UTF8.self)))
            i = nl + 1
        } else {
            // NAME\n, 64-bit little-endian length, value, \n
            let name = String(decoding: line, as: UTF8.self)
            guard nl + 9 <= d.count else { return nil }
            var len = 0
            for k in 0..<8 { len |= Int(d[nl + 1 + k]) << (8 * k) }
            let start = nl + 9
            guard start + len < d.count, d[start + len] == 10 else { return nil }
            out.append((name, String(decoding: d[start..<(start + len)], as: UTF8.self)))
            i = start + len + 1
        }
    }
    return out
}

@Suite("Logging")
struct LoggingTests {
    @Test("metadata keys become journal field names", arguments: [
        ("source", "SOURCE"), ("step", "STEP"), ("clipsPerSecond", "CLIPS_PER_SECOND"), ("loss_total", "LOSS_TOTAL"),
        ("bad-packets", "BAD_PACKETS"), ("_private", "PRIVATE"), ("3d", "F_3D"), ("ünïcode", "N_CODE"), ("", "FIELD"),
        ("HTTPStatus", "HTTPSTATUS"), ("x.y", "X_Y"),
    ])
    func fieldNames(key: String, field: String) {
        #expect(JournalLogHandler.fieldName(key) == field)
    }

    @Test("field names are at most 64 characters of A-Z, 0-9 and _ and do not start with _ or a digit")
    func fieldNameRules() {
        for key in ["a" + String(repeating: "b", count: 100), "9lives", "__x__", "a b\tc", "ÅÄÖ", "a__b"] {
            let f = JournalLogHandler.fieldName(key)
            #expect(f.count <= 64 && !f.isEmpty)
            #expect(f.allSatisfy { ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "_" }, "\(f)")
            #expect(!f.hasPrefix("_") && !(f.first!.isNumber), "\(f)")
        }
    }

    @Test("a record's fields: MESSAGE, PRIORITY, identity, code location, metadata; own names are not overwritten")
    func fields() {
        struct Boom: Error, CustomStringConvertible { var description: String { "boom" } }
        let f = JournalLogHandler.fields(
            for: event(.warning, "line one\nline two", error: Boom()), label: "conceptd.learner", identifier: "conceptd",
            metadata: ["source": "cam1", "step": "1200", "message": "shadow", "priority": "0", "loss": .stringConvertible(2.5)])
        let d = Dictionary(f, uniquingKeysWith: { a, _ in a })
        #expect(f.count == d.count, "duplicate field names: \(f.map(\.0))")
        #expect(d["MESSAGE"] == "line one\nline two")
        #expect(d["PRIORITY"] == "4")
        #expect(d["SYSLOG_IDENTIFIER"] == "conceptd" && d["LOGGER"] == "conceptd.learner" && d["MODULE"] == "Learner")
        #expect(d["CODE_FILE"] == "Learner/Loop.swift" && d["CODE_LINE"] == "42" && d["CODE_FUNC"] == "step()")
        #expect(d["ERROR"] == "boom")
        #expect(d["SOURCE"] == "cam1" && d["STEP"] == "1200" && d["LOSS"] == "2.5")
        #expect(d["META_MESSAGE"] == "shadow" && d["META_PRIORITY"] == "0")
        #expect(f[0].0 == "MESSAGE")
    }

    @Test("syslog priorities", arguments: [
        (Logger.Level.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
    ])
    func priorities(level: Logger.Level, priority: Int) {
        #expect(JournalLogHandler.priority(level) == priority)
    }

    @Test("auto picks the journal exactly when JOURNAL_STREAM names stderr's device and inode")
    func journalStreamMatch() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = try dir.file("stderr", "")
        let other = try dir.file("other", "")
        let fd = open(path, O_WRONLY)
        defer { close(fd) }
        var st = stat()
        #expect(stat(path, &st) == 0)
        var ot = stat()
        #expect(stat(other, &ot) == 0)
        let matching = ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)"]
        #expect(LogDestination.stderrIsJournal(environment: matching, fd: fd))
        #expect(LogDestination.choose(format: .auto, environment: matching, stderrFD: fd) == .journal)
        #expect(LogDestination.choose(format: .text, environment: matching, stderrFD: fd) == .text)
        for env in [[:], ["JOURNAL_STREAM": "\(ot.st_dev):\(ot.st_ino)"], ["JOURNAL_STREAM": "garbage"],
                    ["JOURNAL_STREAM": "\(st.st_dev):"]] {
            #expect(LogDestination.choose(format: .auto, environment: env, stderrFD: fd) == .text, "\(env)")
        }
        #expect(LogDestination.choose(format: .journal, environment: [:], stderrFD: fd) == .journal)
    }

    @Test("text lines: level, label, message on one line, metadata sorted and quoted")
    func textLine() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        var h = TextLogHandler(label: "conceptd", fd: fds[1], timestamps: true)
        h.logLevel = .debug
        h[metadataKey: "source"] = "cam 1"
        var logger = Logger(label: "conceptd", factory: { _ in h })
        logger.logLevel = .debug
        logger.info("step done\nok", metadata: ["step": "7", "loss": "2.5"])
        logger.trace("not shown")
        close(fds[1])
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = read(fds[0], &buf, buf.count)
        let text = String(decoding: buf[0..<max(n, 0)], as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines[1].isEmpty)
        let line = String(lines[0])
        // 2025-01-31T12:00:00.123Z
        let ts = line.prefix(24)
        #expect(ts.count == 24 && ts.hasSuffix("Z") && ts.dropFirst(10).first == "T", "\(line)")
        #expect(line.dropFirst(25) == "info conceptd: step done ok loss=2.5 source=\"cam 1\" step=7")
    }

    @Test("conceptd log writes native journal fields through sd_journal_sendv when stderr is the journal")
    func journalEndToEnd() throws {
        guard getuid() == 0, let unshare = which("unshare"), FileManager.default.fileExists(atPath: "/run/systemd") else {
            print("skipped: needs root, unshare(1) and /run/systemd to give the child a private /run/systemd/journal")
            return
        }
        let probe = try runProcess(unshare, ["--mount", "--propagation", "private", "true"], environment: ["PATH": "/usr/bin:/bin"])
        guard probe.status == 0 else {
            print("skipped: unshare --mount is not permitted here: \(probe.stderr)")
            return
        }
        let bin = try conceptdBinary()
        let dir = try TempDir()
        defer { dir.cleanup() }
        // The child sees `dir` as /run/systemd, so libsystemd's /run/systemd/journal/socket is our socket.
        _ = try dir.directory("journal")
        let rx = try DatagramReceiver(path: dir.path + "/journal/socket")
        let stderrPath = try dir.file("stderr", "")
        var st = stat()
        #expect(stat(stderrPath, &st) == 0)
        let env = ["PATH": "/usr/bin:/bin", "JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)"]
        func runLog(_ args: [String]) throws -> ProcessResult {
            try runProcess(unshare, ["--mount", "--propagation", "private", "sh", "-c",
                                     "mount --bind \"$0\" /run/systemd && exec \"$@\"", dir.path, bin, "log"] + args,
                           environment: env, stderrTo: stderrPath)
        }
        let r = try runLog(["--level", "warning", "--field", "source=cam1", "--field", "step=1200",
                            "--field", "clipsPerSecond=3.5", "two\nlines"])
        #expect(r.status == 0)
        let datagram = try #require(rx.receive(timeout: 5), "no journal datagram arrived")
        let fields = try #require(parseJournalDatagram(datagram))
        let d = Dictionary(fields, uniquingKeysWith: { a, _ in a })
        #expect(d["MESSAGE"] == "two\nlines")
        #expect(d["PRIORITY"] == "4")
        #expect(d["SOURCE"] == "cam1" && d["STEP"] == "1200" && d["CLIPS_PER_SECOND"] == "3.5")
        #expect(d["SYSLOG_IDENTIFIER"] == "conceptd" && d["LOGGER"] == "conceptd")
        #expect(try String(contentsOfFile: stderrPath, encoding: .utf8).isEmpty, "the record went to stderr as well")

        // --format text: the same record goes to stderr as a line and nothing reaches the journal.
        let t = try runLog(["--format", "text", "--field", "source=cam1", "plain"])
        #expect(t.status == 0)
        #expect(rx.receive(timeout: 0.5) == nil)
        let text = try String(contentsOfFile: stderrPath, encoding: .utf8)
        #expect(text.hasSuffix(" info conceptd: plain source=cam1\n"), "\(text)")
    }
}
