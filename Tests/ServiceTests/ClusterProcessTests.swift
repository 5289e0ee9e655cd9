import Foundation
import Testing
import Glibc
import ConceptTestSupport
import ConceptAPI

/// conceptd as a two-rank Open MPI job on this machine (`mpirun --oversubscribe -np 2`, loopback only): one model
/// trained by both ranks, each ingesting its own live source; rank 0's API shows both; SIGUSR2 to mpirun stops every
/// rank at the same step with a final snapshot and exit status 0; a restart resumes both ranks at that step with the
/// same weights; a rank killed with SIGKILL ends the job within seconds, and a restart resumes from rank 0's snapshot.
extension ProcessSuites {
@Suite struct ClusterProcessTests {
    /// A running `mpirun -np 2 conceptd` with its combined log.
    final class Job {
        let process = Process()
        let log: String

        /// With `launcher`, `conceptd launch` starts mpirun (and takes SIGTERM); otherwise mpirun directly.
        init(dir: TempDir, config: String, run: Int, launcher: Bool = false) throws {
            guard let mpirun = which("mpirun") else { throw TestFailure("mpirun not found: `make deps` installs openmpi-bin") }
            guard let python = which("python3") else { throw TestFailure("python3 not found") }
            log = dir.path + "/job-\(run).txt"
            FileManager.default.createFile(atPath: log, contents: nil)
            var env = ProcessInfo.processInfo.environment
            // As the README's cluster section says: root needs both variables; loopback only.
            env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
            env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
            env["OMPI_MCA_btl_tcp_if_include"] = "lo"
            env["OMPI_MCA_oob_tcp_if_include"] = "lo"
            // Seconds between mpirun's SIGTERM and SIGKILL to the ranks left when one is gone (default 1): room for
            // their log line on a loaded machine.
            env["OMPI_MCA_odls_base_sigkill_timeout"] = "3"
            env.removeValue(forKey: "NOTIFY_SOCKET"); env.removeValue(forKey: "WATCHDOG_USEC")
            // The test runner's threads block signals and a spawned child inherits that mask: mpirun would never see
            // SIGUSR2. It starts through an exec that clears the mask, as systemd starts a unit's process.
            process.executableURL = URL(fileURLWithPath: python)
            let command = launcher
                ? [try conceptdBinary(), "launch", "--config", config, "--mpirun", mpirun, "--", "--oversubscribe"]
                : [mpirun, "--oversubscribe", "-np", "2", try conceptdBinary(), "run", "--config", config]
            process.arguments = ["-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])"]
                + command
            process.environment = env
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle(forWritingAtPath: log)
            process.standardError = FileHandle(forWritingAtPath: log)
            try process.run()
        }

        var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        var lines: [Substring] { logText.split(separator: "\n") }

        /// The value of `key=` in a log line.
        static func field(_ key: String, _ line: Substring) -> String? {
            guard let r = line.range(of: " \(key)=") else { return nil }
            return String(line[r.upperBound...].prefix { !$0.isWhitespace })
        }

        /// Waits until `condition` holds (true) or `timeout` passes (false).
        func wait(timeout: Double, _ condition: () -> Bool) -> Bool {
            let deadline = Date(timeIntervalSinceNow: timeout)
            while Date() < deadline {
                if condition() { return true }
                if !process.isRunning { return condition() }
                usleep(200_000)
            }
            return false
        }

        /// The API's URL from rank 0's "API listening" line.
        var apiURL: String? { lines.first { $0.contains("API listening") }.flatMap { Self.field("url", $0) } }

        /// The rank processes (mpirun's children), by rank, from their environment.
        func ranks() -> [Int: pid_t] {
            var found: [Int: pid_t] = [:]
            let me = process.processIdentifier
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let pid = pid_t(entry),
                      let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                      let close = stat.lastIndex(of: ")") else { continue }
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                guard fields.count > 2, pid_t(fields[1]) == me,
                      let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
                for variable in environ.split(separator: 0) where variable.starts(with: Array("OMPI_COMM_WORLD_RANK=".utf8)) {
                    if let rank = Int(String(decoding: variable.dropFirst("OMPI_COMM_WORLD_RANK=".count), as: UTF8.self)) {
                        found[rank] = pid
                    }
                }
            }
            return found
        }

        /// Sends `sig` to mpirun and waits for it to exit; nil if it did not within `timeout`.
        func stop(signal sig: Int32 = SIGUSR2, timeout: Double = 90) -> Int32? {
            kill(process.processIdentifier, sig)
            return waitForExit(timeout: timeout)
        }

        func waitForExit(timeout: Double) -> Int32? {
            let deadline = Date(timeIntervalSinceNow: timeout)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning { return nil }
            return process.terminationStatus
        }

        deinit {
            if process.isRunning {
                for (_, pid) in ranks() { kill(pid, SIGKILL) }
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
    }

    static func config(_ dir: TempDir) throws -> String {
        try dir.file("cluster.toml", """
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
            threads = 1
            [cluster]
            ranks = 2
            checksum_every = 3
            [[source]]
            name = "bars"
            uri = "lavfi:smptebars=size=96x72:rate=25"
            fps = 8
            rank = 0
            [[source]]
            name = "pattern"
            uri = "lavfi:testsrc2=size=96x72:rate=25"
            fps = 8
            rank = 1
            [snapshots]
            every_steps = 4
            keep = 3
            [api]
            listen = "127.0.0.1:0"
            [logging]
            level = "info"
            format = "text"
            """)
    }

    static func snapshotSteps(_ dir: TempDir) -> [Int] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/state/snapshots")) ?? [])
            .filter { $0.hasPrefix("snapshot-") }
            .compactMap { Int($0.dropFirst("snapshot-".count).prefix(12)) }.sorted()
    }

    /// Both ranks' "in step with rank 0" lines: (rank, step, parameter checksum).
    static func inStep(_ job: Job) -> [(rank: String, step: String, parameters: String)] {
        job.lines.filter { $0.contains("cluster: in step with rank 0") }.compactMap { line in
            guard let r = Job.field("rank", line), let s = Job.field("step", line), let p = Job.field("parameters", line) else { return nil }
            return (r, s, p)
        }
    }

    /// Both ranks' "stopped" lines: rank → step.
    static func stopped(_ job: Job) -> [String: String] {
        var out: [String: String] = [:]
        for line in job.lines where line.contains("conceptd: stopped") {
            if let r = Job.field("rank", line), let s = Job.field("step", line) { out[r] = s }
        }
        return out
    }

    @Test func twoRanksTrainOneModelStopTogetherAndResumeInStep() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let config = try Self.config(dir)
        var step = 0
        do {
            let job = try Job(dir: dir, config: config, run: 0)
            #expect(job.wait(timeout: 120) { job.apiURL != nil }, "rank 0 never listened:\n\(job.logText)")
            let client = try APIClient(baseURL: try #require(job.apiURL), timeout: 10)
            var status: API.Status?
            #expect(job.wait(timeout: 180) {
                status = try? client.get("/v1/status")
                return (status?.cluster?.ranks.map(\.step).min() ?? 0) >= 6
            }, "the ranks did not reach step 6:\n\(job.logText)")
            let cluster = try #require(status?.cluster)
            #expect(cluster.worldSize == 2)
            #expect(cluster.ranks.map(\.rank) == [0, 1])
            #expect(cluster.ranks.allSatisfy { $0.sources == 1 && $0.sourcesLive == 1 && $0.lastAllreduceSeconds > 0 })
            #expect(Set(cluster.ranks.map(\.step)).count == 1, "ranks out of step: \(cluster.ranks.map(\.step))")
            let metrics = try client.checked(client.request("GET", "/metrics")).text
            #expect(metrics.contains("conceptd_cluster_ranks 2") && metrics.contains("conceptd_rank_step{rank=\"1\"}"), "\(metrics)")
            // Rank 0 ingests only its own source, and shows rank 1's as gathered every few seconds.
            var sources: [API.Source] = []
            #expect(job.wait(timeout: 30) {
                sources = (try? client.get("/v1/sources")) ?? []
                return sources.count == 2 && sources[1].statistics.clipsMade > 0
            }, "rank 1's source never showed clips on rank 0: \(sources.map { ($0.name, $0.rank, $0.statistics.clipsMade) })")
            #expect(sources.map(\.name) == ["bars", "pattern"] && sources.map(\.rank) == [0, 1], "\(sources.map { ($0.name, $0.rank) })")
            #expect(sources.last?.attentionPath == nil)
            let pattern = try client.get("/v1/sources/pattern") as API.Source
            #expect(pattern.rank == 1)

            #expect(job.stop() == 0, "mpirun did not exit 0 on SIGUSR2:\n\(job.logText)")
            let stops = Self.stopped(job)
            #expect(stops.count == 2 && Set(stops.values).count == 1, "ranks stopped at \(stops)")
            step = Int(stops["0"] ?? "") ?? -1
            #expect(Self.snapshotSteps(dir).last == step, "the final snapshot is rank 0's last step \(step)")
            #expect(!job.lines.contains { $0.contains("snapshot written") && $0.contains("rank=1") }, "rank 1 wrote a snapshot")
        }
        // Restart, through `conceptd launch`: rank 0 resumes, rank 1 takes its state; both at the final step with the
        // same weights. SIGTERM to the launcher stops the job the same way, exit 0.
        let again = try Job(dir: dir, config: config, run: 1, launcher: true)
        #expect(again.wait(timeout: 120) { Self.inStep(again).count == 2 }, "the ranks did not get in step:\n\(again.logText)")
        let both = Self.inStep(again)
        #expect(both.allSatisfy { $0.step == "\(step)" }, "resumed at \(both.map(\.step)), expected \(step)")
        #expect(Set(both.map(\.parameters)).count == 1, "the ranks resumed with different weights: \(both.map(\.parameters))")
        #expect(again.logText.contains("resumed") && again.lines.contains { $0.contains("resumed") && $0.contains("step=\(step)") })
        #expect(again.wait(timeout: 120) { Self.snapshotSteps(dir).last ?? 0 > step }, "no training after the restart")
        #expect(again.stop(signal: SIGTERM) == 0, "conceptd launch did not exit 0 on SIGTERM:\n\(again.logText)")
        let stops = Self.stopped(again)
        #expect(stops.count == 2 && Set(stops.values).count == 1, "ranks stopped at \(stops)")
        #expect(Self.snapshotSteps(dir).last == Int(stops["0"] ?? ""), "the final snapshot is rank 0's last step")
    }

    @Test func aRankKilledWithSIGKILLEndsTheJobAndARestartResumes() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let config = try Self.config(dir)
        do {
            let job = try Job(dir: dir, config: config, run: 0)
            #expect(job.wait(timeout: 240) { !Self.snapshotSteps(dir).isEmpty }, "no snapshot was written:\n\(job.logText)")
            let rank1 = try #require(job.ranks()[1], "rank 1's process not found")
            let killed = Date()
            kill(rank1, SIGKILL)
            let status = job.waitForExit(timeout: 30)
            let seconds = Date().timeIntervalSince(killed)
            #expect(status != nil && status != 0, "mpirun exit status \(String(describing: status))")
            #expect(seconds < 15, "the job took \(seconds) s to end")
            #expect(job.logText.contains("rank 1") && job.logText.contains("signal 9"), "no line names the lost rank:\n\(job.logText)")
            // The remaining rank says why it stops (mpirun's SIGTERM reaches it before the SIGKILL that follows).
            #expect(job.logText.contains("rank 0: stop requested"), "rank 0 logged no reason:\n\(job.logText)")
        }
        let last = try #require(Self.snapshotSteps(dir).last)
        let again = try Job(dir: dir, config: config, run: 1)
        #expect(again.wait(timeout: 120) { Self.inStep(again).count == 2 }, "the ranks did not get in step:\n\(again.logText)")
        let both = Self.inStep(again)
        #expect(both.allSatisfy { $0.step == "\(last)" }, "resumed at \(both.map(\.step)), expected rank 0's last snapshot \(last)")
        #expect(Set(both.map(\.parameters)).count == 1)
        #expect(again.stop() == 0, "\(again.logText)")
    }
}
}
