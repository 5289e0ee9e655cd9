import Foundation
import Service
import Testing
import Glibc
import ConceptTestSupport
import ConceptAPI

/// The real `conceptd` process on temporary configurations: the systemd notify protocol in order, training,
/// snapshots, SIGTERM, resume, the watch-folder ledger across restarts, a stalled trainer, and SIGKILL mid-snapshot.
extension ProcessSuites {
@Suite struct DaemonProcessTests {
    /// A running conceptd with its notify socket and log file.
    final class Daemon {
        let process = Process()
        let dir: TempDir
        let log: String
        let notify: DatagramReceiver
        var messages: [String] = []

        /// Starts conceptd on `config`; with `prefix` (e.g. `setpriv ...` or `unshare ... sh -c '...; exec "$@"'`) the
        /// prefix runs and execs conceptd, so the process id is conceptd's either way. With `seams` (options of
        /// `conceptd-testhost`, e.g. `--stall-after-steps 3`) the same daemon runs with those test seams injected.
        init(dir: TempDir, config: String, environment extra: [String: String] = [:], run: Int = 0,
             prefix: [String] = [], seams: [String] = []) throws {
            self.dir = dir
            log = dir.path + "/log-\(run).txt"
            FileManager.default.createFile(atPath: log, contents: nil)
            notify = try DatagramReceiver(path: dir.path + "/notify-\(run).sock")
            chmod(notify.address, 0o666)  // a daemon run as another user can notify too
            var env = ProcessInfo.processInfo.environment
            env["NOTIFY_SOCKET"] = notify.address
            env.removeValue(forKey: "WATCHDOG_USEC"); env.removeValue(forKey: "WATCHDOG_PID"); env.removeValue(forKey: "JOURNAL_STREAM")
            for (k, v) in extra { env[k] = v }
            let binary = seams.isEmpty ? try conceptdBinary() : try conceptdTestHostBinary()
            let command = prefix + [binary, "--config", config] + seams
            process.executableURL = URL(fileURLWithPath: command[0])
            process.arguments = Array(command.dropFirst())
            process.environment = env
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle(forWritingAtPath: log)
            process.standardError = FileHandle(forWritingAtPath: log)
            try process.run()
        }

        /// Collects datagrams until one contains `needle` (true) or `timeout` passes (false).
        func waitFor(_ needle: String, timeout: Double) -> Bool {
            let deadline = Date(timeIntervalSinceNow: timeout)
            while Date() < deadline {
                guard let m = notify.receiveText(timeout: Swift.max(0.05, deadline.timeIntervalSinceNow)) else { continue }
                messages.append(m)
                if m.contains(needle) { return true }
            }
            return false
        }

        /// Collects datagrams for `seconds`.
        func collect(for seconds: Double) -> [String] {
            var got: [String] = []
            let deadline = Date(timeIntervalSinceNow: seconds)
            while Date() < deadline { if let m = notify.receiveText(timeout: Swift.max(0.05, deadline.timeIntervalSinceNow)) { got.append(m) } }
            messages += got
            return got
        }

        func stop(signal sig: Int32 = SIGTERM, timeout: Double = 60) -> Int32? {
            kill(process.processIdentifier, sig)
            let deadline = Date(timeIntervalSinceNow: timeout)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning { process.terminate(); return nil }
            return process.terminationStatus
        }

        var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

        /// The API's URL from the "API listening" log line (nil until it listens).
        var apiURL: String? {
            guard let line = logText.split(separator: "\n").first(where: { $0.contains("API listening") }),
                  let r = line.range(of: "url=") else { return nil }
            return String(line[r.upperBound...].prefix { !$0.isWhitespace })
        }
        deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }
    }

    static func config(_ dir: TempDir, sources: String, snapshotEvery: Int = 4, extra: String = "", api: String = "",
                       tail: String = "") throws -> String {
        try dir.file("conceptd.toml", """
            state_directory = "\(dir.path)/state"
            [model]
            preset = "tiny"
            ks = 8
            kd = 8
            top_k = 3
            [training]
            batch_size = 2
            replay_size = 16
            warmup_steps = 2
            seed = 3
            \(extra)
            \(sources)
            [snapshots]
            every_steps = \(snapshotEvery)
            keep = 3
            [api]
            listen = "127.0.0.1:0"
            \(api)
            [logging]
            level = "info"
            format = "text"
            \(tail)
            """)
    }

    static let liveSource = """
        [[source]]
        name = "testsrc"
        uri = "lavfi:testsrc2=size=96x72:rate=25"
        fps = 8
        """

    static func snapshots(_ dir: TempDir) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/state/snapshots")) ?? []).filter { $0.hasPrefix("snapshot-") }.sorted()
    }

    static func step(of snapshot: String) -> Int { Int(snapshot.dropFirst("snapshot-".count).prefix(12)) ?? -1 }

    @Test func notifiesInOrderTrainsSnapshotsStopsAndResumes() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let config = try Self.config(dir, sources: Self.liveSource)
        let d = try Daemon(dir: dir, config: config, environment: ["WATCHDOG_USEC": "2000000"])
        #expect(d.waitFor("READY=1", timeout: 60), "no READY; log:\n\(d.logText)")
        #expect(d.messages.first?.contains("READY=1") == true, "READY must come first, got \(d.messages)")
        // READY means the API answers: the URL is logged before READY and a request succeeds at once.
        let url = try #require(d.apiURL, "no 'API listening' line before READY; log:\n\(d.logText)")
        let status: API.Status = try APIClient(baseURL: url, timeout: 5).get("/v1/status")
        #expect(status.version == conceptdVersion)
        #expect(d.waitFor("WATCHDOG=1", timeout: 90), "no WATCHDOG while training; log:\n\(d.logText)")
        let deadline = Date(timeIntervalSinceNow: 120)
        while Self.snapshots(dir).isEmpty && Date() < deadline { _ = d.collect(for: 0.5) }
        #expect(!Self.snapshots(dir).isEmpty, "no snapshot appeared; log:\n\(d.logText)")
        #expect(d.messages.contains { $0.contains("STATUS=") && $0.contains("step") })
        kill(d.process.processIdentifier, SIGTERM)
        #expect(d.waitFor("STOPPING=1", timeout: 30), "no STOPPING after SIGTERM")
        #expect(d.stop() == 0, "exit status; log:\n\(d.logText)")
        let finalStep = Self.step(of: Self.snapshots(dir).last!)
        #expect(d.logText.contains("stopped step=\(finalStep)"), "the final snapshot holds the last step; log:\n\(d.logText)")

        let again = try Daemon(dir: dir, config: config, run: 1)
        #expect(again.waitFor("READY=1", timeout: 60))
        #expect(again.logText.contains("resumed") && again.logText.contains("step=\(finalStep)"), "log:\n\(again.logText)")
        #expect(again.stop() == 0)
    }

    @Test func aStalledTrainerStopsTheWatchdogPings() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let config = try Self.config(dir, sources: Self.liveSource, snapshotEvery: 1000)
        let d = try Daemon(dir: dir, config: config, environment: ["WATCHDOG_USEC": "1000000"],
                               seams: ["--stall-after-steps", "3"])
        #expect(d.waitFor("READY=1", timeout: 60))
        #expect(d.waitFor("WATCHDOG=1", timeout: 90), "log:\n\(d.logText)")
        let deadline = Date(timeIntervalSinceNow: 90)
        while !d.logText.contains("trainer stalls") && Date() < deadline { _ = d.collect(for: 0.5) }
        _ = d.collect(for: 1.5)                      // pings for steps made before the stall drain
        let after = d.collect(for: 6)                // six watchdog intervals (STATUS comes every 5 s)
        #expect(!after.contains { $0.contains("WATCHDOG=1") }, "pings continued while stalled: \(after)")
        #expect(after.contains { $0.contains("STATUS=") }, "the daemon itself is alive and reporting")
        #expect(d.stop() == 0)
    }

    @Test func aWatchFolderFileIsNotIngestedAgainAfterARestart() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let watch = try dir.directory("watch")
        let video = watch + "/clip.mp4"
        let ff = try runProcess("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x72:rate=25:duration=3",
                                                   "-pix_fmt", "yuv420p", "-y", dir.path + "/clip.tmp.mp4"])
        #expect(ff.status == 0, "\(ff.stderr)")
        let config = try Self.config(dir, sources: """
            [[source]]
            name = "watch"
            uri = "folder:\(watch)"
            settle_seconds = 0.3
            """, snapshotEvery: 2)
        let d = try Daemon(dir: dir, config: config)
        #expect(d.waitFor("READY=1", timeout: 60))
        try FileManager.default.moveItem(atPath: dir.path + "/clip.tmp.mp4", toPath: video)
        let deadline = Date(timeIntervalSinceNow: 120)
        while !(d.logText.contains("ingested") && !Self.snapshots(dir).isEmpty) && Date() < deadline { _ = d.collect(for: 0.5) }
        #expect(d.logText.contains("ingested \(video)"), "log:\n\(d.logText)")
        #expect(d.stop() == 0)
        let again = try Daemon(dir: dir, config: config, run: 1)
        #expect(again.waitFor("READY=1", timeout: 60))
        _ = again.collect(for: 3)
        #expect(!again.logText.contains("ingested \(video)"), "the file was ingested twice; log:\n\(again.logText)")
        #expect(again.stop() == 0)
    }

    @Test func sigkillAtRandomMomentsAlwaysLeavesAGoodSnapshot() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let config = try Self.config(dir, sources: Self.liveSource, snapshotEvery: 1)
        var lastStep = -1
        for run in 0..<4 {
            // Every file write pauses, so the kill often lands inside a snapshot.
            let d = try Daemon(dir: dir, config: config, run: run, seams: ["--snapshot-pause", "0.15"])
            #expect(d.waitFor("READY=1", timeout: 60), "run \(run): log:\n\(d.logText)")
            if run > 0 {
                #expect(d.logText.contains("resumed"), "run \(run) did not resume; log:\n\(d.logText)")
            }
            let deadline = Date(timeIntervalSinceNow: 90)
            while (Self.snapshots(dir).last.map(Self.step(of:)) ?? -1) <= lastStep && Date() < deadline { _ = d.collect(for: 0.2) }
            usleep(UInt32.random(in: 0...700_000))
            _ = d.stop(signal: SIGKILL)
            let steps = Self.snapshots(dir).map(Self.step(of:))
            #expect(!steps.isEmpty)
            lastStep = steps.max() ?? -1
        }
        let final = try Daemon(dir: dir, config: config, run: 9)
        #expect(final.waitFor("READY=1", timeout: 60))
        #expect(final.logText.contains("resumed"), "log:\n\(final.logText)")
        #expect(final.stop() == 0)
    }
}
}
