import ArgumentParser
import Foundation
import Media
import Service
import Glibc
import SeededRandom
import ConceptAPI

/// `concept-bench chaos --minutes 30`: an operator's worst week against the release binaries, and a check of what
/// issue #14 fixed. A benchmark, not a test: it runs for as long as it is told and prints one summary line.
struct ChaosBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos",
        abstract: "Run conceptd under injected faults and check it survives each one (a benchmark, not a test).",
        discussion: """
            Starts the release conceptd (next to this binary, or --conceptd) on a generated configuration: a live \
            test pattern, a flapping loopback MPEG-TS camera, and a watch folder. Then, at random moments until \
            --minutes have passed: SIGKILL and restart, SIGTERM and restart, stream flaps, a snapshot disk that fills \
            up and is freed again (a tmpfs of --disk-mb mounted over the snapshot directory; needs root, else this \
            fault is left out), corrupt files dropped into the watch folder, SIGHUP with good and with bad \
            configurations. After each fault it checks what the daemon promises: it resumes from its newest \
            snapshot, a flapping camera is back within the initial reconnect delay + 2 s, a bad reload is refused \
            and the sources stay, a full disk at SIGTERM exits 75 and names the lost steps, SIGTERM stops after the \
            step in progress, the API keeps answering, and no raw libav line reaches the log. Prints every \
            violation and a one-line summary; exits 1 on any violation.
            """)

    @Option(help: "How long to run, in minutes.")
    var minutes: Double = 5

    @Option(help: "Seed of the fault schedule (default: the clock).")
    var seed: UInt64?

    @Option(help: "The conceptd executable (default: the one next to concept-bench).")
    var conceptd: String?

    @Option(help: "Working directory (default: a new directory under /tmp, removed afterwards unless --keep).")
    var work: String?

    @Option(help: "Size of the snapshot file system in MiB (root only).")
    var diskMb: Int = 64

    @Option(help: "Mean seconds between two faults.")
    var every: Double = 8

    @Flag(help: "Keep the working directory (logs of every run) afterwards.")
    var keep = false

    func run() throws {
        let binary = conceptd ?? (URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("conceptd").path)
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchError(.toolFailed, "no conceptd at \(binary): build with `swift build -c release` or pass --conceptd")
        }
        let chaos = try ChaosRun(binary: binary, work: work, seed: seed ?? UInt64(Date().timeIntervalSince1970),
                                 diskMB: diskMb, meanInterval: every)
        let summary = chaos.run(for: minutes * 60)
        chaos.cleanUp(keep: keep || !summary.violations.isEmpty)
        for v in summary.violations { say("violation: \(v)") }
        say(summary.line)
        if !summary.violations.isEmpty { throw ExitCode(1) }
    }
}

/// What a chaos run counted.
struct ChaosSummary {
    var seconds = 0.0
    var injected: [String: Int] = [:]
    var survived = 0
    var stepsLost = 0
    var crashes = 0
    var violations: [String] = []
    var finalStep = 0
    var work = ""

    var line: String {
        let total = injected.values.reduce(0, +)
        let kinds = injected.keys.sorted().map { "\($0) \(injected[$0]!)" }.joined(separator: ", ")
        return "chaos: \(Int(seconds / 60))m\(String(format: "%02d", Int(seconds) % 60))s, faults injected \(total) (\(kinds)), "
            + "survived \(survived), steps lost \(stepsLost), crashes \(crashes), violations \(violations.count), "
            + "final step \(finalStep)" + (violations.isEmpty ? "" : ", logs in \(work)")
    }
}

/// One chaos run: the daemon, its inputs, the fault schedule and the checks.
final class ChaosRun {
    let binary: String
    let root: String
    let ownsRoot: Bool
    var rng: SeededGenerator
    let seed: UInt64
    let meanInterval: Double
    let state: String, snapshots: String, inbox: String, assets: String, logs: String
    let configPath: String
    let apiPort: UInt16
    let server: FlappingStreamServer
    let notify: NotifyReceiver
    var diskMounted = false
    var summary = ChaosSummary()

    var process: Process?
    var runIndex = 0
    var runStarted = Date()
    var goodVariant = 0
    var diskFullUntil: Date?
    var fillerPath: String { snapshots + "/.chaos-filler" }
    var goodClips: [String] = []
    var damagedTemplate: [UInt8] = []

    init(binary: String, work: String?, seed: UInt64, diskMB: Int, meanInterval: Double) throws {
        self.binary = binary
        self.meanInterval = max(1, meanInterval)
        rng = SeededGenerator(seed: seed)
        self.seed = seed
        if let work {
            root = work
            ownsRoot = false
        } else {
            root = NSTemporaryDirectory() + "conceptd-chaos-\(getpid())"
            ownsRoot = true
        }
        state = root + "/state"
        snapshots = state + "/snapshots"
        inbox = root + "/inbox"
        assets = root + "/assets"
        logs = root + "/logs"
        configPath = root + "/conceptd.toml"
        summary.work = root
        let fm = FileManager.default
        for d in [snapshots, inbox, assets, logs] { try fm.createDirectory(atPath: d, withIntermediateDirectories: true) }
        if geteuid() == 0 {
            let r = try runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=\(diskMB)m,mode=0700", "tmpfs", snapshots])
            diskMounted = r.status == 0
            if !diskMounted { say("chaos: cannot mount a tmpfs over \(snapshots) (\(r.output.trimmingCharacters(in: .whitespacesAndNewlines))): no disk faults") }
        } else {
            say("chaos: not root, so no small file system for the snapshots: no disk faults")
        }
        apiPort = try freeLoopbackPort()
        // Assets: a 20 s looping camera stream, a few good clips, one damaged-video template.
        let ffmpeg = "/usr/bin/ffmpeg"
        let stream = assets + "/camera.ts"
        try Self.ffmpeg(ffmpeg, ["-f", "lavfi", "-i", "testsrc2=size=96x72:rate=25:duration=20", "-c:v", "libx264", "-preset", "ultrafast",
                                 "-g", "5", "-pix_fmt", "yuv420p", "-f", "mpegts", stream])
        server = try FlappingStreamServer(payload: [UInt8](try Data(contentsOf: URL(fileURLWithPath: stream))), seconds: 20)
        for (i, pattern) in ["testsrc2", "mandelbrot", "life", "rgbtestsrc"].enumerated() {
            let clip = assets + "/good-\(i).mp4"
            try Self.ffmpeg(ffmpeg, ["-f", "lavfi", "-i", "\(pattern)=size=96x72:rate=25", "-t", "3", "-c:v", "libx264", "-preset", "ultrafast",
                                     "-pix_fmt", "yuv420p", clip])
            goodClips.append(clip)
        }
        let damaged = assets + "/template.ts"
        try Self.ffmpeg(ffmpeg, ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=3", "-c:v", "libx264", "-preset", "ultrafast",
                                 "-g", "25", "-pix_fmt", "yuv420p", "-f", "mpegts", damaged])
        damagedTemplate = [UInt8](try Data(contentsOf: URL(fileURLWithPath: damaged)))
        notify = try NotifyReceiver(path: root + "/notify.sock")
        try writeConfig(good: true)
    }

    static func ffmpeg(_ path: String, _ args: [String]) throws {
        let r = try runTool(path, ["-hide_banner", "-loglevel", "error", "-nostdin", "-y"] + args)
        guard r.status == 0 else { throw BenchError(.toolFailed, "ffmpeg \(args.joined(separator: " ")): \(r.output)") }
    }

    func cleanUp(keep: Bool) {
        server.goAway()
        if diskMounted { _ = try? runTool("/bin/umount", [snapshots]) }
        if keep { say("chaos: logs and state kept in \(root)") } else if ownsRoot { try? FileManager.default.removeItem(atPath: root) }
    }

    // MARK: configuration

    func goodConfig() -> String {
        """
        state_directory = "\(state)"
        [model]
        preset = "tiny"
        ks = 8
        kd = 8
        top_k = 3
        [training]
        batch_size = 4
        replay_size = 32
        warmup_steps = 20
        seed = 1
        [[source]]
        name = "live"
        uri = "lavfi:testsrc2=size=96x72:rate=25"
        fps = \(goodVariant % 2 == 0 ? 8 : 6)
        [[source]]
        name = "camera"
        uri = "tcp://127.0.0.1:\(server.port)"
        fps = 8
        stall_seconds = 5
        [[source]]
        name = "inbox"
        uri = "folder:\(inbox)"
        settle_seconds = 0.5
        after = "delete"
        [snapshots]
        every_steps = 10
        keep = 2
        [api]
        listen = "127.0.0.1:\(apiPort)"
        [logging]
        level = "info"
        format = "text"

        """
    }

    /// Configurations a reload must refuse.
    func badConfig() -> String {
        let good = goodConfig()
        let variants = [
            "",
            "# truncated by a failed deploy\n",
            String(good.prefix(good.count / 2)) + "\n[[source]\nname = ",
            good.replacingOccurrences(of: "every_steps = 10", with: "every_steps = 9223372036854775807"),
            good.replacingOccurrences(of: "every_steps = 10", with: "every_steps = 10\nevery_seconds = 1e300"),
            good.replacingOccurrences(of: "batch_size = 4", with: "batch_size = 1"),
            good.replacingOccurrences(of: "name = \"camera\"", with: "name = \"live\""),
            "[api]\nlisten = \"127.0.0.1:\(apiPort)\"\n",
        ]
        return variants[Int.random(in: 0..<variants.count, using: &rng)]
    }

    func writeConfig(good: Bool) throws {
        let text = good ? goodConfig() : badConfig()
        let temp = configPath + ".new"
        try text.write(toFile: temp, atomically: false, encoding: .utf8)
        guard rename(temp, configPath) == 0 else { throw BenchError(.toolFailed, "rename config: \(String(cString: strerror(errno)))") }
    }

    // MARK: the daemon

    var logPath: String { logs + "/run-\(runIndex).log" }
    var logText: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    var api: APIClient { try! APIClient(baseURL: "http://127.0.0.1:\(apiPort)", timeout: 15) }

    func violation(_ text: String) {
        say("chaos: VIOLATION: \(text)")
        summary.violations.append("\(text) (run \(runIndex), \(logPath))")
    }

    /// Starts the daemon and waits for READY; false (and a violation) when it does not come.
    @discardableResult
    func start() -> Bool {
        runIndex += 1
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["--config", configPath]
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = notify.path
        for k in ["WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "LISTEN_FDS"] { env.removeValue(forKey: k) }
        p.environment = env
        let log = FileHandle(forWritingAtPath: logPath)
        p.standardOutput = log
        p.standardError = log
        p.standardInput = FileHandle.nullDevice
        _ = notify.drain(timeout: 0)
        do { try p.run() } catch {
            violation("cannot start conceptd: \(error)")
            return false
        }
        process = p
        runStarted = Date()
        let deadline = Date(timeIntervalSinceNow: 120)
        while Date() < deadline {
            if notify.drain(timeout: 0.5).contains(where: { $0.contains("READY=1") }) { return true }
            if !p.isRunning { break }
        }
        if p.isRunning {
            violation("no READY within 120 s")
        } else {
            summary.crashes += 1
            violation("conceptd exited with \(p.terminationStatus) while starting: \(lastLines(5))")
        }
        return false
    }

    func lastLines(_ n: Int) -> String { logText.split(separator: "\n").suffix(n).joined(separator: " | ") }

    /// The newest snapshot generation's step on disk (nil: none).
    func newestSnapshotStep() -> Int? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: snapshots)) ?? []
        return names.filter { $0.hasPrefix("snapshot-") }.compactMap { Int($0.dropFirst(9).prefix(12)) }.max()
    }

    func currentStep() -> Int? { (try? api.get("/v1/status") as API.Status)?.training.step }

    func waitExit(_ p: Process, timeout: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        return !p.isRunning
    }

    /// After a restart: it must resume from the newest generation on disk.
    func checkResumed(expected: Int?, stepBefore: Int?) {
        let log = logText
        if let expected {
            guard let line = log.split(separator: "\n").first(where: { $0.contains(" resumed ") }),
                  let r = line.range(of: "step=") else {
                violation("did not resume although snapshot step \(expected) is on disk: \(lastLines(3))")
                return
            }
            let resumed = Int(line[r.upperBound...].prefix { $0.isNumber }) ?? -1
            if resumed != expected { violation("resumed at step \(resumed), the newest snapshot on disk is step \(expected)") }
            if let stepBefore { summary.stepsLost += max(0, stepBefore - resumed) }
        } else if !log.contains("no snapshot: starting a fresh model") {
            violation("no snapshot on disk, but the daemon did not say it starts fresh")
        }
    }

    // MARK: faults

    func kill9() {
        guard let p = process, p.isRunning else { return }
        let before = currentStep()
        kill(p.processIdentifier, SIGKILL)
        _ = waitExit(p, timeout: 30)
        let expected = newestSnapshotStep()
        if start() { checkResumed(expected: expected, stepBefore: before) }
    }

    func term() {
        guard let p = process, p.isRunning else { return }
        let diskFull = diskFullUntil != nil
        kill(p.processIdentifier, SIGTERM)
        var stoppingStep: Int?
        let deadline = Date(timeIntervalSinceNow: 150)
        while p.isRunning && Date() < deadline {
            for m in notify.drain(timeout: 0.2) where m.contains("STOPPING=1") {
                if let r = m.range(of: "stopping at step ") { stoppingStep = Int(m[r.upperBound...].prefix { $0.isNumber }) }
            }
        }
        guard !p.isRunning else {
            violation("SIGTERM: still running after 150 s")
            kill(p.processIdentifier, SIGKILL)
            _ = waitExit(p, timeout: 30)
            start()
            return
        }
        let log = logText
        switch p.terminationStatus {
        case 0:
            let stopped = log.range(of: "stopped step=").map { Int(log[$0.upperBound...].prefix { $0.isNumber }) ?? -1 }
            if let stopped, let stoppingStep, stopped > stoppingStep + 1 {
                violation("SIGTERM: STOPPING at step \(stoppingStep), but trained on to step \(stopped)")
            }
            if let stopped, newestSnapshotStep() != stopped {
                violation("SIGTERM: stopped at step \(stopped) but the newest snapshot is \(newestSnapshotStep().map(String.init) ?? "none")")
            }
        case 75:
            if let line = log.split(separator: "\n").first(where: { $0.contains("the final snapshot at step") }),
               let r = line.range(of: "failed: "), let lost = Int(line[r.upperBound...].prefix { $0.isNumber }) {
                summary.stepsLost += lost
                if !diskFull { violation("exit 75 although the disk was not full: \(line)") }
            } else {
                violation("exit 75 without saying how many steps were lost")
            }
        default:
            summary.crashes += 1
            violation("SIGTERM: exit status \(p.terminationStatus): \(lastLines(5))")
        }
        let expected = newestSnapshotStep()
        if start() { checkResumed(expected: expected, stepBefore: nil) }
    }

    func flap() {
        guard let p = process, p.isRunning, Date().timeIntervalSince(runStarted) > 10 else { return }
        guard let before: API.Source = try? api.get("/v1/sources/camera"), before.statistics.state == .live else {
            server.goAway()
            usleep(UInt32.random(in: 100_000...700_000, using: &rng))
            try? server.comeBack()
            return
        }
        server.goAway()
        usleep(UInt32.random(in: 100_000...700_000, using: &rng))
        do { try server.comeBack() } catch {
            violation("the camera server cannot listen again: \(error)")
            return
        }
        let back = Date()
        var reconnected = false
        while Date().timeIntervalSince(back) < 30 {
            if let s: API.Source = try? api.get("/v1/sources/camera"), s.statistics.reconnects > before.statistics.reconnects {
                reconnected = true
                break
            }
            usleep(100_000)
        }
        let wait = Date().timeIntervalSince(back)
        if !p.isRunning { return }  // the crash check reports it
        if !reconnected || wait > 3 {
            violation(String(format: "the camera reconnected %.1f s after it came back (bound: 1 s initial delay + 2 s)", wait))
        }
    }

    func fillDisk() {
        guard diskMounted, diskFullUntil == nil else { return }
        let fd = open(fillerPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return }
        let block = [UInt8](repeating: 0x5a, count: 1 << 20)
        while block.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        close(fd)
        diskFullUntil = Date(timeIntervalSinceNow: Double.random(in: 10...40, using: &rng))
    }

    func freeDiskIfDue() {
        guard let until = diskFullUntil, Date() >= until else { return }
        unlink(fillerPath)
        diskFullUntil = nil
        // A snapshot must succeed again within a minute (every 10 steps).
        guard let p = process, p.isRunning, let start = currentStep() else { return }
        let deadline = Date(timeIntervalSinceNow: 90)
        while Date() < deadline && p.isRunning {
            if let s: API.Status = try? api.get("/v1/status"), let step = s.snapshot.step, step > start, s.snapshot.error == nil {
                return
            }
            usleep(500_000)
        }
        if p.isRunning { violation("no snapshot within 90 s after the disk was freed") }
    }

    func dropCorrupt() {
        let count = Int.random(in: 1...4, using: &rng)
        for i in 0..<count {
            var bytes: [UInt8]
            let kind = Int.random(in: 0..<5, using: &rng)
            switch kind {
            case 0: bytes = (0..<Int.random(in: 1...200_000, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 1:
                bytes = damagedTemplate
                for _ in 0..<300 { bytes[Int.random(in: 20_000..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            case 2:
                let good = (try? Data(contentsOf: URL(fileURLWithPath: goodClips[0]))) ?? Data()
                bytes = [UInt8](good.prefix(good.count / 3))
            case 3: bytes = []
            default: bytes = Array("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttp://192.0.2.1/never.m3u8\n".utf8)
            }
            let ext = ["mp4", "ts", "mkv", "avi", "mov"][Int.random(in: 0..<5, using: &rng)]
            let name = "corrupt-\(runIndex)-\(Int(Date().timeIntervalSince1970 * 1000))-\(i).\(ext)"
            let temp = root + "/" + name
            FileManager.default.createFile(atPath: temp, contents: Data(bytes))
            rename(temp, inbox + "/" + name)
        }
        usleep(3_000_000)  // the folder takes the files; the survival check follows
    }

    func dropGood() {
        let clip = goodClips[Int.random(in: 0..<goodClips.count, using: &rng)]
        let name = "good-\(Int(Date().timeIntervalSince1970 * 1000)).mp4"
        try? FileManager.default.copyItem(atPath: clip, toPath: root + "/" + name)
        rename(root + "/" + name, inbox + "/" + name)
    }

    func reload(good: Bool) {
        guard let p = process, p.isRunning else { return }
        let sourcesBefore = ((try? api.get("/v1/sources") as [API.Source]) ?? []).map(\.name).sorted()
        if good { goodVariant += 1 }
        do { try writeConfig(good: good) } catch { violation("\(error)"); return }
        let marker = good ? "reloaded" : "reload failed; keeping the running configuration"
        let count = logText.components(separatedBy: marker).count
        kill(p.processIdentifier, SIGHUP)
        let deadline = Date(timeIntervalSinceNow: 30)
        var seen = false
        while Date() < deadline && p.isRunning {
            if logText.components(separatedBy: marker).count > count { seen = true; break }
            usleep(100_000)
        }
        if !good { try? writeConfig(good: true) }  // a later restart must find a good file
        guard p.isRunning else { return }
        if !seen { violation("SIGHUP with a \(good ? "good" : "bad") configuration: no '\(marker)' within 30 s"); return }
        if !good {
            let after = ((try? api.get("/v1/sources") as [API.Source]) ?? []).map(\.name).sorted()
            if after != sourcesBefore { violation("a refused reload changed the sources: \(sourcesBefore) → \(after)"); return }
        }
    }

    // MARK: the run

    func run(for seconds: Double) -> ChaosSummary {
        let began = Date()
        say("chaos: \(root), conceptd \(binary), \(Int(seconds)) s, seed \(seed)")
        guard start() else {
            summary.seconds = Date().timeIntervalSince(began)
            return summary
        }
        var next = Date(timeIntervalSinceNow: 15)
        var lastHealth = Date()
        var lastGood = Date()
        let faults: [(String, Int)] = [("kill", 2), ("term", 1), ("flap", 4), ("disk", diskMounted ? 2 : 0), ("corrupt", 4),
                                       ("hup-good", 2), ("hup-bad", 2)]
        while Date().timeIntervalSince(began) < seconds {
            usleep(200_000)
            _ = notify.drain(timeout: 0)
            if let p = process, !p.isRunning {
                summary.crashes += 1
                violation("conceptd exited on its own with status \(p.terminationStatus): \(lastLines(5))")
                freeDisk()
                start()
                continue
            }
            freeDiskIfDue()
            if Date().timeIntervalSince(lastGood) > 20 { dropGood(); lastGood = Date() }
            if Date().timeIntervalSince(lastHealth) > 10 {
                lastHealth = Date()
                if (try? api.get("/v1/status") as API.Status) == nil, process?.isRunning == true {
                    violation("the API did not answer /v1/status within 15 s")
                }
            }
            guard Date() >= next else { continue }
            let total = faults.map(\.1).reduce(0, +)
            var pick = Int.random(in: 0..<total, using: &rng)
            let fault = faults.first { f in pick -= f.1; return pick < 0 }!.0
            summary.injected[fault, default: 0] += 1
            say("chaos: \(String(format: "%6.0f", Date().timeIntervalSince(began))) s  \(fault)  (step \(currentStep().map(String.init) ?? "-"))")
            let violationsBefore = summary.violations.count
            switch fault {
            case "kill": kill9()
            case "term": term()
            case "flap": flap()
            case "disk": fillDisk()
            case "corrupt": dropCorrupt()
            case "hup-good": reload(good: true)
            default: reload(good: false)
            }
            // Survived: the daemon runs (restarted where the fault was a stop) and no check failed.
            if process?.isRunning == true && summary.violations.count == violationsBefore { summary.survived += 1 }
            next = Date(timeIntervalSinceNow: Double.random(in: 0.3...1.7, using: &rng) * meanInterval)
        }
        // The end: a clean stop on a disk with room (which also settles a disk fault still open).
        freeDisk()
        if let p = process, p.isRunning {
            kill(p.processIdentifier, SIGTERM)
            if !waitExit(p, timeout: 150) { violation("the final SIGTERM did not stop it within 150 s"); kill(p.processIdentifier, SIGKILL) }
            else if p.terminationStatus != 0 { violation("the final SIGTERM: exit status \(p.terminationStatus): \(lastLines(5))") }
        }
        summary.finalStep = newestSnapshotStep() ?? 0
        checkLogs()
        summary.seconds = Date().timeIntervalSince(began)
        return summary
    }

    func freeDisk() {
        if diskFullUntil != nil { unlink(fillerPath); diskFullUntil = nil }
    }

    /// Across every run's log: no raw libav line, and "intact" only about a snapshot that existed.
    func checkLogs() {
        for i in 1...max(1, runIndex) {
            let text = (try? String(contentsOfFile: logs + "/run-\(i).log", encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") {
                if line.contains(" @ 0x") || !line.hasPrefix("20") {
                    violation("run \(i): a line that is not a log record: \(line.prefix(200))")
                    break
                }
                if line.contains("is intact"), !line.contains("the previous one (step ") {
                    violation("run \(i): 'intact' without naming the snapshot: \(line.prefix(200))")
                }
            }
        }
    }
}

/// One line on stdout at once (also when stdout is a file: progress shows as it happens).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
