import Foundation
import Service
import Testing
import Glibc
import ConceptTestSupport
import ConceptAPI

/// Issue #14 against the real `conceptd` process: unusable state directories, a full disk at SIGTERM, SIGTERM
/// stopping after the step in progress, reloads that would remove every source, libav's lines as records, an RTSP
/// password that never leaks, and HTTP requests the API must refuse.
extension ProcessSuites {
@Suite struct HardeningProcessTests {
    typealias Daemon = DaemonProcessTests.Daemon

    static let env = ["PATH": "/usr/bin:/bin"]

    /// Whether this process may use `unshare --mount` (root, and permitted here).
    static var canUnshare: Bool {
        guard getuid() == 0, let unshare = which("unshare") else { return false }
        return (try? runProcess(unshare, ["--mount", "--propagation", "private", "true"], environment: env))?.status == 0
    }

    /// `unshare ... sh -c 'mount -t tmpfs -o OPTIONS tmpfs DIR && exec "$@"' DIR`: the command after it sees a
    /// file system of its own at DIR (the test reaches it through /proc/PID/root).
    static func ownTmpfs(at dir: String, options: String) -> [String] {
        [which("unshare")!, "--mount", "--propagation", "private", "sh", "-c",
         "mount -t tmpfs -o \(options) tmpfs \"$0\" && exec \"$@\"", dir]
    }

    /// `setpriv` to the unprivileged user `nobody` (65534), without supplementary groups.
    static var asNobody: [String] { [which("setpriv")!, "--reuid=65534", "--regid=65534", "--clear-groups"] }

    static func waitForStep(_ api: APIClient, atLeast step: Int, timeout: Double = 120) -> API.Status? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if let s: API.Status = try? api.get("/v1/status"), s.training.step >= step { return s }
            usleep(200_000)
        }
        return nil
    }

    // MARK: fault 2: the state directory

    @Test func aStateDirectoryTheUserCannotUseIsRefusedWithExit73() throws {
        guard getuid() == 0, which("setpriv") != nil else {
            print("skipped: needs root and setpriv(1) to run conceptd as another user")
            return
        }
        let dir = try TempDir(); defer { dir.cleanup() }
        chmod(dir.path, 0o755)
        let config = try DaemonProcessTests.config(dir, sources: DaemonProcessTests.liveSource)
        let state = try dir.directory("state")
        chmod(state, 0o700)  // root's own: nobody can neither list nor write it

        let d = try Daemon(dir: dir, config: config, prefix: Self.asNobody)
        #expect(d.stop(signal: 0, timeout: 60) == 73, "log:\n\(d.logText)")
        let log = d.logText
        #expect(log.contains("cannot start: state directory \(state) ") && log.contains("uid 65534") && log.contains("Permission denied"),
                "log:\n\(log)")
        #expect(!log.contains("starting a fresh model") && !log.contains("READY"), "log:\n\(log)")
        #expect(log.split(separator: "\n").filter { $0.contains(" critical ") }.count == 1, "one clear error; log:\n\(log)")

        // check-config as the same user names the directory (exit 78); as root the same file is fine.
        let bin = try conceptdBinary()
        let check = try runProcess(Self.asNobody[0], Array(Self.asNobody.dropFirst()) + [bin, "check-config", config], environment: Self.env)
        #expect(check.status == 78, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("\(config):1: state_directory: state directory: \(state) is not readable by uid 65534"),
                "\(check.stdout)")
        #expect(try runProcess(bin, ["check-config", config], environment: Self.env).status == 0)

        // A snapshot generation the user cannot read is not silently skipped either.
        let snapshot = try dir.directory("state/snapshots/snapshot-000000000004")
        chmod(snapshot, 0o700)
        for p in [state, state + "/snapshots"] { chown(p, 65534, 65534) }
        let d2 = try Daemon(dir: dir, config: config, run: 1, prefix: Self.asNobody)
        #expect(d2.stop(signal: 0, timeout: 60) == 73, "log:\n\(d2.logText)")
        #expect(d2.logText.contains("snapshot \(snapshot) in the snapshot directory is not readable by uid 65534"), "log:\n\(d2.logText)")

        // Once the directory is the user's, the same daemon starts as that user.
        try FileManager.default.removeItem(atPath: snapshot)
        let d3 = try Daemon(dir: dir, config: config, run: 2, prefix: Self.asNobody)
        #expect(d3.waitFor("READY=1", timeout: 60), "log:\n\(d3.logText)")
        #expect(d3.logText.contains("no snapshot: starting a fresh model"))
        #expect(d3.stop() == 0, "log:\n\(d3.logText)")
    }

    @Test func aReadOnlyStateDirectoryIsRefusedWithExit73() throws {
        guard Self.canUnshare else {
            print("skipped: needs root and unshare --mount for a read-only mount")
            return
        }
        let dir = try TempDir(); defer { dir.cleanup() }
        let config = try DaemonProcessTests.config(dir, sources: DaemonProcessTests.liveSource)
        let state = try dir.directory("state")
        let d = try Daemon(dir: dir, config: config, prefix: Self.ownTmpfs(at: state, options: "ro,size=1m"))
        #expect(d.stop(signal: 0, timeout: 60) == 73, "log:\n\(d.logText)")
        #expect(d.logText.contains("cannot start: state directory \(state) is not writable (cannot create a file in it) by uid 0")
                && d.logText.contains("Read-only file system"), "log:\n\(d.logText)")
        #expect(!d.logText.contains("starting a fresh model"))
    }

    // MARK: fault 4: the final snapshot on a full disk

    @Test func sigtermOnAFullDiskExits75AndSaysHowManyStepsAreLost() throws {
        guard Self.canUnshare else {
            print("skipped: needs root and unshare --mount for a small file system")
            return
        }
        let dir = try TempDir(); defer { dir.cleanup() }
        let config = try DaemonProcessTests.config(dir, sources: DaemonProcessTests.liveSource, snapshotEvery: 3)
        let snapshots = try dir.directory("state/snapshots")

        // 1. Room for nothing: no snapshot ever exists, so none may be called intact.
        let tiny = try Daemon(dir: dir, config: config, prefix: Self.ownTmpfs(at: snapshots, options: "size=256k"))
        #expect(tiny.waitFor("READY=1", timeout: 60), "log:\n\(tiny.logText)")
        let api = try APIClient(baseURL: try #require(tiny.apiURL), timeout: 10)
        #expect(Self.waitForStep(api, atLeast: 4) != nil, "log:\n\(tiny.logText)")
        #expect(tiny.logText.contains("snapshot failed, there is no earlier snapshot"), "log:\n\(tiny.logText)")
        #expect(tiny.stop() == 75, "log:\n\(tiny.logText)")
        let first = tiny.logText
        #expect(!first.contains("intact"), "log:\n\(first)")
        let lost = try #require(first.split(separator: "\n").first { $0.contains("the final snapshot at step") }, "log:\n\(first)")
        #expect(lost.contains("steps since the start (there is no snapshot) are lost") && lost.contains(" critical "), "\(lost)")
        #expect(!first.contains("stopped step="))

        // 2. A disk that fills up after the first snapshots: the steps since the last good one are counted.
        let d = try Daemon(dir: dir, config: config, run: 1, prefix: Self.ownTmpfs(at: snapshots, options: "size=64m"))
        #expect(d.waitFor("READY=1", timeout: 60), "log:\n\(d.logText)")
        let api2 = try APIClient(baseURL: try #require(d.apiURL), timeout: 10)
        let inside = "/proc/\(d.process.processIdentifier)/root" + snapshots
        let deadline = Date(timeIntervalSinceNow: 120)
        var generations: [String] = []
        while generations.isEmpty && Date() < deadline {
            generations = ((try? FileManager.default.contentsOfDirectory(atPath: inside)) ?? []).filter { $0.hasPrefix("snapshot-") }
            usleep(200_000)
        }
        #expect(!generations.isEmpty, "no snapshot; log:\n\(d.logText)")
        // Fill the file system.
        let filler = open(inside + "/filler", O_WRONLY | O_CREAT, 0o600)
        #expect(filler >= 0)
        let block = [UInt8](repeating: 7, count: 1 << 20)
        while block.withUnsafeBytes({ write(filler, $0.baseAddress, $0.count) }) > 0 {}
        close(filler)
        let full = try #require(Self.waitForStep(api2, atLeast: 1), "log:\n\(d.logText)")
        #expect(Self.waitForStep(api2, atLeast: full.training.step + 7) != nil, "log:\n\(d.logText)")
        #expect(d.stop() == 75, "log:\n\(d.logText)")
        let log = d.logText
        let line = try #require(log.split(separator: "\n").first { $0.contains("the final snapshot at step") }, "log:\n\(log)")
        // "... at step M failed: K steps since the last snapshot (step N) are lost: ..." with K = M - N >= 4.
        let numbers = Self.numbers(in: String(line), after: ["at step ", "failed: ", "(step "])
        #expect(numbers.count == 3 && numbers[1] == numbers[0] - numbers[2] && numbers[1] >= 4, "\(line)")
        #expect(log.contains("snapshot failed, the previous one (step \(numbers.count == 3 ? numbers[2] : -1)) is intact"), "log:\n\(log)")
    }

    /// The integers that follow each marker, in order.
    static func numbers(in text: String, after markers: [String]) -> [Int] {
        markers.compactMap { m in
            guard let r = text.range(of: m) else { return nil }
            return Int(text[r.upperBound...].prefix { $0.isNumber })
        }
    }

    // MARK: fault 5: SIGTERM stops after the step in progress

    @Test func sigtermStopsAfterTheStepInProgress() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let config = try DaemonProcessTests.config(dir, sources: DaemonProcessTests.liveSource, snapshotEvery: 1000)
        let d = try Daemon(dir: dir, config: config)
        #expect(d.waitFor("READY=1", timeout: 60), "log:\n\(d.logText)")
        let url = try #require(d.apiURL)
        let api = try APIClient(baseURL: url, timeout: 10)
        #expect(Self.waitForStep(api, atLeast: 5) != nil, "log:\n\(d.logText)")
        // An idle keep-alive connection, as a dashboard leaves open: the API's shutdown waits for it, the trainer must not.
        let keepAlive = try RawHTTP(url: url)
        let first = keepAlive.exchange("GET /v1/status HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(first.status == 200)
        kill(d.process.processIdentifier, SIGTERM)
        #expect(d.waitFor("STOPPING=1", timeout: 30), "no STOPPING; log:\n\(d.logText)")
        let stopping = try #require(d.messages.last { $0.contains("STOPPING=1") })
        let atStop = try #require(Self.numbers(in: stopping, after: ["stopping at step "]).first, "\(stopping)")
        keepAlive.close()
        #expect(d.stop() == 0, "log:\n\(d.logText)")
        let stopped = try #require(Self.numbers(in: d.logText, after: ["stopped step="]).first, "log:\n\(d.logText)")
        #expect(stopped >= atStop && stopped <= atStop + 1, "STOPPING at step \(atStop), stopped at step \(stopped)")
        let snapshots = DaemonProcessTests.snapshots(dir).map(DaemonProcessTests.step(of:))
        #expect(snapshots.last == stopped, "\(snapshots)")
    }

    // MARK: fault 3: a reload without sources

    @Test func aReloadWithoutAnySourceIsRefusedAndTheRunningSourcesStay() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let config = try DaemonProcessTests.config(dir, sources: DaemonProcessTests.liveSource, snapshotEvery: 1000)
        let good = try String(contentsOfFile: config, encoding: .utf8)
        let d = try Daemon(dir: dir, config: config)
        #expect(d.waitFor("READY=1", timeout: 60), "log:\n\(d.logText)")
        let api = try APIClient(baseURL: try #require(d.apiURL), timeout: 10)
        for (run, text) in ["", "# the file was truncated\n# by a bad deploy\n"].enumerated() {
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            kill(d.process.processIdentifier, SIGHUP)
            #expect(d.waitFor("RELOADING=1", timeout: 20))
            #expect(d.waitFor("READY=1", timeout: 20))
            let refusals = d.logText.components(separatedBy: "reload failed; keeping the running configuration").count - 1
            #expect(refusals == run + 1, "log:\n\(d.logText)")
            #expect(d.logText.contains("source: no [[source]] table"), "log:\n\(d.logText)")
            let sources: [API.Source] = try api.get("/v1/sources")
            #expect(sources.map(\.name) == ["testsrc"], "\(sources.map(\.name))")
            let before = sources.first?.statistics.framesDecoded ?? 0
            usleep(1_500_000)
            let after: [API.Source] = try api.get("/v1/sources")
            #expect((after.first?.statistics.framesDecoded ?? 0) > before, "the source stopped")
        }
        // A good file with a second source is applied: the refusals above were the content's fault.
        try (good + "\n[[source]]\nname = \"second\"\nuri = \"lavfi:testsrc2=size=96x72:rate=25\"\nfps = 8\n")
            .write(toFile: config, atomically: true, encoding: .utf8)
        kill(d.process.processIdentifier, SIGHUP)
        #expect(d.waitFor("RELOADING=1", timeout: 20) && d.waitFor("READY=1", timeout: 20))
        let sources: [API.Source] = try api.get("/v1/sources")
        #expect(Set(sources.map(\.name)) == ["testsrc", "second"], "log:\n\(d.logText)")
        #expect(d.stop() == 0)
    }

    // MARK: fault 6: libav's lines

    /// `count` MPEG-TS files whose H.264 is damaged (seeded byte flips past the headers): they open, and decoding
    /// them makes libav log errors.
    static func damagedVideos(_ dir: TempDir, count: Int, seed: UInt64) throws -> [String] {
        let good = dir.path + "/good.ts"
        let ff = try runProcess("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=3",
                                                   "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
                                                   "-f", "mpegts", "-y", good])
        guard ff.status == 0 else { throw TestFailure("ffmpeg: \(ff.stderr)") }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))
        var state = seed
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
        return try (0..<count).map { i in
            var b = bytes
            for _ in 0..<200 { b[20_000 + next() % (b.count - 20_000)] = UInt8(next() % 256) }
            let path = dir.path + "/damaged-\(i).ts"
            try Data(b).write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    @Test func libavLinesAreRateLimitedRecordsNamingTheSource() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let watch = try dir.directory("inbox")
        let videos = try Self.damagedVideos(dir, count: 8, seed: 14)
        let config = try DaemonProcessTests.config(dir, sources: """
            [[source]]
            name = "inbox"
            uri = "folder:\(watch)"
            settle_seconds = 0.2
            """, snapshotEvery: 1000)
        let d = try Daemon(dir: dir, config: config)
        #expect(d.waitFor("READY=1", timeout: 60), "log:\n\(d.logText)")
        // Two batches more than a rate-limit window (10 s) apart: the second window reports what the first held back.
        for (batch, files) in [videos[0..<4], videos[4...]].enumerated() {
            if batch == 1 { usleep(11_000_000) }
            for v in files { try FileManager.default.moveItem(atPath: v, toPath: watch + "/" + (v as NSString).lastPathComponent) }
            let deadline = Date(timeIntervalSinceNow: 60)
            while Date() < deadline && d.logText.components(separatedBy: "ingested ").count - 1 < 4 * (batch + 1) { usleep(200_000) }
        }
        #expect(d.stop() == 0)
        let lines = d.logText.split(separator: "\n").map(String.init)
        // Nothing raw: every line is a record (timestamp, level, label), none with libav's "[h264 @ 0x…]" prefix.
        #expect(lines.allSatisfy { $0.hasPrefix("20") && $0.dropFirst(24).hasPrefix(" ") }, "\(lines.filter { !$0.hasPrefix("20") }.prefix(5))")
        #expect(!lines.contains { $0.contains(" @ 0x") }, "\(lines.filter { $0.contains(" @ 0x") }.prefix(3))")
        let libav = lines.filter { $0.contains(" conceptd.libav: ") }
        let messages = libav.filter { !$0.contains("suppressed") }
        #expect(!messages.isEmpty, "no libav record; log:\n\(d.logText)")
        #expect(messages.allSatisfy { $0.contains("source=inbox") && $0.contains(" libav=") }, "\(messages.prefix(3))")
        #expect(messages.contains { $0.contains(" error conceptd.libav: ") && ($0.contains("libav=h264") || $0.contains("libav=mpegts")) },
                "\(messages.prefix(5))")
        // At most 10 per 10 s window: two windows here (the test ran well under 30 s of libav activity).
        #expect(messages.count <= 30, "\(messages.count) libav records")
        #expect(libav.contains { $0.contains(" notice conceptd.libav: suppressed ") && $0.contains("source=inbox") }, "\(libav)")
    }

    @Test func inJournalModeLibavLinesAreStructuredFields() throws {
        guard Self.canUnshare, FileManager.default.fileExists(atPath: "/run/systemd") else {
            print("skipped: needs root, unshare --mount and /run/systemd to give the daemon a private journal socket")
            return
        }
        let dir = try TempDir(); defer { dir.cleanup() }
        let watch = try dir.directory("inbox")
        _ = try dir.directory("run/journal")
        let journal = try DatagramReceiver(path: dir.path + "/run/journal/socket")
        let videos = try Self.damagedVideos(dir, count: 2, seed: 7)
        let config = try DaemonProcessTests.config(dir, sources: """
            [[source]]
            name = "inbox"
            uri = "folder:\(watch)"
            settle_seconds = 0.2
            """, snapshotEvery: 1000)
        var text = try String(contentsOfFile: config, encoding: .utf8)
        text = text.replacingOccurrences(of: "format = \"text\"", with: "format = \"journal\"")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let d = try Daemon(dir: dir, config: config, prefix: [which("unshare")!, "--mount", "--propagation", "private", "sh", "-c",
                                                              "mount --bind \"$0\" /run/systemd && exec \"$@\"", dir.path + "/run"])
        #expect(d.waitFor("READY=1", timeout: 60), "log:\n\(d.logText)")
        for v in videos { try FileManager.default.moveItem(atPath: v, toPath: watch + "/" + (v as NSString).lastPathComponent) }
        var record: [String: String]?
        let deadline = Date(timeIntervalSinceNow: 60)
        while record == nil && Date() < deadline {
            guard let datagram = journal.receive(timeout: 1), let fields = parseJournalDatagram(datagram) else { continue }
            let f = Dictionary(fields, uniquingKeysWith: { a, _ in a })
            if f["LOGGER"] == "conceptd.libav" && f["LIBAV"] != nil { record = f }
        }
        // Keep reading while it stops: a journal that stops reading makes its writers wait (as journald would).
        kill(d.process.processIdentifier, SIGTERM)
        let stopBy = Date(timeIntervalSinceNow: 60)
        while d.process.isRunning && Date() < stopBy { _ = journal.receive(timeout: 0.1) }
        #expect(d.stop() == 0)
        let r = try #require(record, "no libav record reached the journal; stderr:\n\(d.logText)")
        #expect(r["SOURCE"] == "inbox" && r["SYSLOG_IDENTIFIER"] == "conceptd", "\(r)")
        #expect(["2", "3", "4", "5", "6", "7"].contains(r["PRIORITY"] ?? ""), "\(r)")
        #expect(!(r["MESSAGE"] ?? "@ 0x").contains("@ 0x") && !(r["MESSAGE"] ?? "").isEmpty, "\(r)")
        #expect(!d.logText.contains("@ 0x"), "raw libav lines on stderr:\n\(d.logText)")
    }

    // MARK: RTSP with a password from $CREDENTIALS_DIRECTORY

    @Test func anRTSPPasswordFromACredentialWorksAndNeverAppearsInLogsOrTheAPI() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let password = "pa ss:w@rd/\(UInt32.random(in: 1_000_000...9_999_999))"
        let serverPassword = try dir.file("server-password", password)
        let credentials = try dir.directory("credentials")
        _ = try dir.file("credentials/stream_cam1", password + "\n", mode: 0o600)
        _ = try dir.file("credentials/stream_cam2", "wrong-\(password)\n", mode: 0o600)
        let server = try RTSPTestServer(["--protocols", "tcp", "--user", "viewer", "--password-file", serverPassword])
        defer { server.stop() }
        let config = try DaemonProcessTests.config(dir, sources: """
            [[source]]
            name = "cam1"
            uri = "\(server.url)"
            username = "viewer"
            password_credential = "stream_cam1"
            options = { rtsp_transport = "tcp" }
            fps = 8
            [[source]]
            name = "cam2"
            uri = "\(server.url)"
            username = "viewer"
            password_credential = "stream_cam2"
            reconnect_max_seconds = 2
            """, snapshotEvery: 1000)
        let d = try Daemon(dir: dir, config: config, environment: ["CREDENTIALS_DIRECTORY": credentials])
        #expect(d.waitFor("READY=1", timeout: 60), "log:\n\(d.logText)")
        let api = try APIClient(baseURL: try #require(d.apiURL), timeout: 10)
        var cam1: API.Source?, cam2: API.Source?
        let deadline = Date(timeIntervalSinceNow: 60)
        while Date() < deadline {
            let sources: [API.Source] = (try? api.get("/v1/sources")) ?? []
            cam1 = sources.first { $0.name == "cam1" }
            cam2 = sources.first { $0.name == "cam2" }
            if (cam1?.statistics.clipsMade ?? 0) >= 2, cam2?.statistics.lastError != nil { break }
            usleep(300_000)
        }
        #expect((cam1?.statistics.clipsMade ?? 0) >= 2 && cam1?.statistics.state == .live, "the right password did not work: \(String(describing: cam1))")
        #expect(cam2?.statistics.framesDecoded == 0 && cam2?.statistics.lastError?.contains("401") == true,
                "the wrong password must fail with 401: \(String(describing: cam2))")
        #expect(cam1?.uri.contains("viewer:***@") == true, "\(cam1?.uri ?? "")")
        let encoded = password.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? password
        var seen: [String] = []
        for path in ["/v1/status", "/v1/sources", "/v1/sources/cam1", "/v1/sources/cam2", "/metrics", "/v1/training"] {
            seen.append(try api.request("GET", path).text)
        }
        #expect(d.stop() == 0)
        seen.append(d.logText)
        #expect(d.logText.contains("conceptd.libav") && d.logText.contains("source=cam2"), "libav's 401 lines are logged; log:\n\(d.logText)")
        for text in seen {
            for secret in [password, encoded, String(password.suffix(12))] {
                #expect(!text.contains(secret), "the password leaked (\(secret)):\n\(text.prefix(3000))")
            }
        }
    }

    // MARK: fault 7: HTTP

    @Test func snapshotRequestsWithABodyOrBrokenFramingAreRefusedAndWriteNothing() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let (d, api) = try APIProcessTests.startTraining(dir, steps: 2)
        defer { _ = d.stop() }
        let url = api.baseURL
        let before = DaemonProcessTests.snapshots(dir)
        let cases: [(String, String, Bool, [Int])] = [
            ("a body", "POST /v1/snapshot HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", false, [413]),
            ("a JSON body", "POST /v1/snapshot HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", false, [413]),
            ("a non-numeric Content-Length", "POST /v1/snapshot HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", false, [400]),
            ("two different Content-Lengths", "POST /v1/snapshot HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: 3\r\n\r\nabc", false, [400]),
            ("a negative Content-Length", "POST /v1/snapshot HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", false, [400]),
            ("a body cut short", "POST /v1/snapshot HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nshort", true, [400, 413]),
            ("a chunked body", "POST /v1/snapshot HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false, [400]),
            ("a broken chunk size", "POST /v1/snapshot HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", false, [400]),
            ("chunked and a length", "POST /v1/snapshot HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", false, [400]),
            ("an unknown transfer coding", "POST /v1/snapshot HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", false, [400, 501]),
        ]
        for (what, request, halfClose, expected) in cases {
            let r = try RawHTTP(url: url).exchange(request, halfClose: halfClose, close: true)
            #expect(r.status.map(expected.contains) == true, "\(what): got \(r.status.map(String.init) ?? "no answer"): \(r.text.prefix(300))")
        }
        usleep(1_000_000)
        #expect(DaemonProcessTests.snapshots(dir) == before, "a refused request wrote a snapshot")
        let status: API.Status = try api.get("/v1/status")
        #expect(status.snapshot.path == nil, "\(status.snapshot)")
        // The same endpoint with no body (or an empty one) writes one: the refusals were about the framing.
        let ok = try RawHTTP(url: url).exchange("POST /v1/snapshot HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", close: true)
        #expect(ok.status == 201, "\(ok.text)")
        #expect(DaemonProcessTests.snapshots(dir).count == before.count + 1)
    }

    @Test func requestsWithoutExactlyOneHostAreRefused() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let (d, api) = try APIProcessTests.startTraining(dir, steps: 1)
        defer { _ = d.stop() }
        for request in ["GET /v1/status HTTP/1.1\r\n\r\n", "GET /v1/status HTTP/1.0\r\n\r\n", "GET / HTTP/1.1\r\n\r\n",
                        "GET /v1/status HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "POST /v1/snapshot HTTP/1.1\r\nContent-Length: 0\r\n\r\n"] {
            let r = try RawHTTP(url: api.baseURL).exchange(request, close: true)
            #expect(r.status == 400, "\(request.debugDescription): \(r.status.map(String.init) ?? "no answer") \(r.text.prefix(200))")
            #expect(r.text.contains("Host header"), "\(r.text)")
        }
        #expect(try RawHTTP(url: api.baseURL).exchange("GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n", close: true).status == 200)
        #expect(DaemonProcessTests.snapshots(dir).isEmpty)
    }
}
}

/// A raw TCP conversation with the API: requests written byte for byte, as no well-behaved client would.
final class RawHTTP {
    let fd: Int32

    init(url: String) throws {
        guard let r = url.range(of: "http://"), let colon = url[r.upperBound...].lastIndex(of: ":"),
              let port = UInt16(url[url.index(after: colon)...].prefix { $0.isNumber }) else { throw TestFailure("bad URL \(url)") }
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = port.bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { Glibc.close(fd); throw TestFailure("connect \(url): \(String(cString: strerror(errno)))") }
        var tv = timeval(tv_sec: 15, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends `request`; reads one answer (to its Content-Length, or until the server closes), then closes the
    /// connection with `close`. `halfClose` shuts the writing side after sending (a client that gives up mid-body).
    func exchange(_ request: String, halfClose: Bool = false, close: Bool = false) -> (status: Int?, text: String) {
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if halfClose { shutdown(fd, Int32(SHUT_WR)) }
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            data += buf[0..<n]
            let text = String(decoding: data, as: UTF8.self)
            if let end = text.range(of: "\r\n\r\n") {
                let length = text[..<end.lowerBound].split(separator: "\r\n")
                    .first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                if data.count >= text[..<end.upperBound].utf8.count + length { break }
            }
        }
        if close { self.close() }
        let text = String(decoding: data, as: UTF8.self)
        let status = text.hasPrefix("HTTP/1.") ? Int(text.split(separator: " ").dropFirst().first ?? "") : nil
        return (status, text)
    }

    func close() { Glibc.close(fd) }
}

