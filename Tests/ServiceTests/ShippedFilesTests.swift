import Foundation
import Testing

@testable import Service
import ConceptTestSupport

@Suite("Shipped configuration and unit files")
struct ShippedFilesTests {
    @Test("configs/conceptd.toml is valid: production paths, the small preset, API on loopback")
    func production() throws {
        let c = try DaemonConfig.load(file: repoRoot + "/configs/conceptd.toml", environment: testEnvironment("/"))
        #expect(c.stateDirectory == "/var/lib/conceptd")
        #expect(c.snapshots.directory.hasPrefix("/var/lib/conceptd/"))
        #expect(c.preset == "small")
        #expect(c.api.listen.isLoopback)
        #expect(c.logging.format == .auto)
        #expect(c.sources.allSatisfy { !$0.uri.contains("/work") })
        // The default method, as measured in the README's "What it learns".
        #expect(c.method == .conceptd && c.pinnedKeys.isEmpty)
        #expect(c.model.sigma == .bn && c.model.difference == .normalized && c.model.nce == 1 && c.model.nceStatic == 1)
        #expect(c.training.warmupSteps == 200 && c.training.schedule == .inverseSquareRoot(hold: 1000) && c.training.clipFps == 8)
    }

    @Test("configs/demo.toml is valid: tiny preset, a watch folder under the state directory, a lavfi live source, a probe")
    func demo() throws {
        // The probe set is generated on first start (make run); the fixture generates one the same way.
        let demo = try DemoFixture(probeClipsPerPair: 2)
        defer { demo.dir.cleanup() }
        let c = try DaemonConfig.load(file: demo.config, environment: testEnvironment(repoRoot))
        #expect(c.preset == "tiny")
        #expect(c.probe?.input == .manifest(demo.state + "/probe/manifest.tsv"))
        #expect(c.probe?.everyMinutes == 3)
        let folder = try #require(c.sources.first { $0.kind == .folder })
        #expect(folder.uri.hasPrefix("folder:" + c.stateDirectory + "/"))
        let live = try #require(c.sources.first { $0.kind == .lavfi })
        #expect(live.uri == "lavfi:testsrc2=size=160x120:rate=25")
        #expect(c.api.listen.host == "127.0.0.1")
        #expect(c.stateDirectory == demo.state)
        #expect(c.method == .conceptd && c.model.sigma == .bn && !c.model.nceQueue && c.training.batchSize == 8)
    }

    /// `KEY=VALUE` lines of the unit (comments and section headers dropped), in order.
    static func directives(_ text: String) -> [(String, String)] {
        text.split(separator: "\n").compactMap { raw in
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#"), !line.hasPrefix(";"), !line.hasPrefix("["),
                  let eq = line.firstIndex(of: "=") else { return nil }
            return (String(line[..<eq]), String(line[line.index(after: eq)...]))
        }
    }

    @Test("systemd/conceptd.service carries the settings the issue asks for")
    func unitSettings() throws {
        let text = try String(contentsOfFile: repoRoot + "/systemd/conceptd.service", encoding: .utf8)
        let d = Self.directives(text)
        func value(_ k: String) -> String? { d.last { $0.0 == k }?.1 }
        let expected: [String: String] = [
            "Type": "notify", "ExecReload": "/bin/kill -HUP $MAINPID", "Restart": "on-failure",
            "RestartPreventExitStatus": "78 73", "DynamicUser": "yes", "StateDirectory": "conceptd",
            "ConfigurationDirectory": "conceptd", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
            "NoNewPrivileges": "yes", "DevicePolicy": "closed", "DeviceAllow": "char-video4linux rw",
            "SupplementaryGroups": "video", "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
            "MemoryDenyWriteExecute": "yes", "ProtectProc": "invisible", "ProcSubset": "pid", "CapabilityBoundingSet": "",
            "SystemCallArchitectures": "native", "SystemCallErrorNumber": "EPERM",
            "ExecStart": "/usr/local/bin/conceptd --config /etc/conceptd/conceptd.toml",
        ]
        for (k, v) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(value(k) == v, "\(k)")
        }
        #expect(d.filter { $0.0 == "SystemCallFilter" }.map(\.1) == ["@system-service", "~@privileged @resources", "setpriority"])
        #expect(Int(value("WatchdogSec") ?? "") ?? 0 > 0)
        #expect(value("LoadCredential")?.isEmpty == false)
    }

    @Test("systemd/conceptd-cluster.service runs conceptd launch over the hostfile and verifies cleanly")
    func clusterUnit() throws {
        let text = try String(contentsOfFile: repoRoot + "/systemd/conceptd-cluster.service", encoding: .utf8)
        let d = Self.directives(text)
        func value(_ k: String) -> String? { d.last { $0.0 == k }?.1 }
        let exec = try #require(value("ExecStart"))
        #expect(exec.hasPrefix("/usr/local/bin/conceptd launch --hostfile /etc/conceptd/hosts --config /etc/conceptd/cluster.toml"))
        #expect(value("KillSignal") == nil && value("KillMode") == "mixed")
        #expect(value("Restart") == "on-failure")
        #expect(value("User") == "conceptd")
        #expect(text.contains("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"))
        guard let analyze = which("systemd-analyze") else {
            print("skipped: systemd-analyze is not installed")
            return
        }
        let dir = try TempDir()
        defer { dir.cleanup() }
        let unit = try dir.file("conceptd-cluster.service", text.replacingOccurrences(of: "/usr/local/bin/conceptd launch", with: "/bin/true launch"))
        let env = ["PATH": "/usr/bin:/bin", "SYSTEMD_LOG_COLOR": "0"]
        var command = [analyze, "verify", unit]
        if getuid() == 0, let unshare = which("unshare"), FileManager.default.fileExists(atPath: "/run/systemd"),
           (try? runProcess(unshare, ["--mount", "--propagation", "private", "true"], environment: env))?.status == 0 {
            command = [unshare, "--mount", "--propagation", "private", "sh", "-c",
                       "mount -t tmpfs tmpfs /run/systemd && exec \"$@\"", "sh"] + command
        }
        let r = try runProcess(command[0], Array(command.dropFirst()), environment: env)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let output = (r.stdout + r.stderr).split(separator: "\n").filter { $0.contains("conceptd-cluster.service") }
        #expect(output.isEmpty, "systemd-analyze verify:\n\(output.joined(separator: "\n"))")
    }

    @Test("configs/cluster-demo.toml is a valid two-rank cluster: one source per rank, one compute thread")
    func clusterDemoConfig() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        // Its probe set is generated by `make run-cluster`; an empty manifest stands in for it here.
        let text = try String(contentsOfFile: repoRoot + "/configs/cluster-demo.toml", encoding: .utf8)
            .replacingOccurrences(of: "state_directory = \".build/cluster-demo\"", with: "state_directory = \"\(dir.path)\"")
        _ = try dir.file("probe/manifest.tsv", "path\tbackground\tmotion\tsplit\n")
        let file = try dir.file("cluster-demo.toml", text)
        let c = try DaemonConfig.load(file: file, environment: testEnvironment(dir.path))
        let cluster = try #require(c.cluster)
        #expect(cluster.ranks == 2 && cluster.syncBatchNorm)
        #expect(c.enabledSources(rank: 0).count == 1 && c.enabledSources(rank: 1).count == 1)
        #expect(c.training.threads == 1)
    }

    @Test("systemd-analyze verify accepts the unit without a single warning; security rates its exposure at most 2.0")
    func verify() throws {
        guard let analyze = which("systemd-analyze") else {
            print("skipped: systemd-analyze is not installed")
            return
        }
        let text = try String(contentsOfFile: repoRoot + "/systemd/conceptd.service", encoding: .utf8)
        // verify needs ExecStart's binary to exist: point it at /bin/true, keep everything else identical.
        let original = "ExecStart=/usr/local/bin/conceptd "
        #expect(text.contains(original))
        let patched = text.replacingOccurrences(of: original, with: "ExecStart=/bin/true ")
        #expect(patched.count == text.count - "/usr/local/bin/conceptd".count + "/bin/true".count)
        let dir = try TempDir()
        defer { dir.cleanup() }
        let unit = try dir.file("conceptd.service", patched)
        // As root, verify touches /run/systemd/systemd-units-load; give it a private /run/systemd when possible.
        let env = ["PATH": "/usr/bin:/bin", "SYSTEMD_LOG_COLOR": "0"]
        let isolate: [String]
        if getuid() == 0, let unshare = which("unshare"), FileManager.default.fileExists(atPath: "/run/systemd"),
           (try? runProcess(unshare, ["--mount", "--propagation", "private", "true"], environment: env))?.status == 0 {
            isolate = [unshare, "--mount", "--propagation", "private", "sh", "-c",
                       "mount -t tmpfs tmpfs /run/systemd && exec \"$@\"", "sh", analyze]
        } else {
            isolate = [analyze]
        }
        func verify(_ file: String) throws -> ProcessResult {
            try runProcess(isolate[0], Array(isolate.dropFirst()) + ["verify", file], environment: env)
        }
        let r = try verify(unit)
        #expect(r.status == 0, "systemd-analyze verify failed:\n\(r.stdout)\(r.stderr)")
        // Parse errors are only warnings (exit 0), so the output must be empty too.
        let output = (r.stdout + r.stderr).split(separator: "\n").filter { $0.contains("conceptd.service") }
        #expect(output.isEmpty, "systemd-analyze verify:\n\(output.joined(separator: "\n"))")

        // The check has teeth: a misspelt value is reported.
        let broken = try dir.file("broken/conceptd.service", patched.replacingOccurrences(of: "ProtectHome=yes", with: "ProtectHome=yess"))
        let b = try verify(broken)
        #expect((b.stdout + b.stderr).contains("ProtectHome") || (b.stdout + b.stderr).contains("protect home"))

        // systemd-analyze security (offline, on the file): overall exposure at most 2.0 ("OK"); README reports it.
        func exposure(_ file: String) throws -> (Double?, String) {
            let r = try runProcess(isolate[0], Array(isolate.dropFirst()) + ["security", "--offline=true", "--no-pager", file],
                                   environment: env)
            let text = r.stdout + r.stderr
            let marker = "Overall exposure level for conceptd.service:"
            let line = text.split(separator: "\n").first { $0.contains(marker) }
            let value = line.flatMap { $0.components(separatedBy: marker).last?.split(separator: " ").first }.flatMap { Double($0) }
            return (value, text)
        }
        let (score, report) = try exposure(unit)
        let value = try #require(score, "no exposure line:\n\(report)")
        #expect(value <= 2.0, "exposure \(value):\n\(report)")
        let readme = try String(contentsOfFile: repoRoot + "/README.md", encoding: .utf8)
        #expect(readme.contains("`systemd-analyze security conceptd.service`: exposure \(String(format: "%.1f", value))"),
                "the README must report the score \(value)")
        // Teeth: without the system-call filter the same unit scores worse.
        let unfiltered = try dir.file("unfiltered/conceptd.service", patched.split(separator: "\n")
            .filter { !$0.hasPrefix("SystemCallFilter=") }.joined(separator: "\n"))
        let (worse, _) = try exposure(unfiltered)
        #expect((worse ?? 0) > value + 1, "\(worse ?? -1) vs \(value)")
    }
}

/// `make install-files` (the copying half of `make install`) into a DESTDIR: binaries, the unit with the prefix's
/// paths, the default configuration (never overwriting an existing one) and a private credentials folder.
@Suite(.serialized) struct InstallTests {
    @Test func installsIntoDestdirAndKeepsAnExistingConfig() throws {
        guard let make = which("make") else { return }
        let dir = try TempDir(); defer { dir.cleanup() }
        let bin = (try conceptdBinary() as NSString).deletingLastPathComponent
        let args = ["-s", "-C", repoRoot, "install-files", "BIN=\(bin)", "DESTDIR=\(dir.path)", "PREFIX=/opt/conceptd"]
        let r = try runProcess(make, args)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let fm = FileManager.default
        for p in ["/opt/conceptd/bin/conceptd", "/opt/conceptd/bin/conceptctl"] { #expect(fm.isExecutableFile(atPath: dir.path + p), "\(p)") }
        let unit = try String(contentsOfFile: dir.path + "/etc/systemd/system/conceptd.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/opt/conceptd/bin/conceptd --config /etc/conceptd/conceptd.toml"))
        let cluster = try String(contentsOfFile: dir.path + "/etc/systemd/system/conceptd-cluster.service", encoding: .utf8)
        #expect(cluster.contains("ExecStart=/opt/conceptd/bin/conceptd launch --hostfile /etc/conceptd/hosts --config /etc/conceptd/cluster.toml"))
        let config = dir.path + "/etc/conceptd/conceptd.toml"
        #expect(try String(contentsOfFile: config, encoding: .utf8) == String(contentsOfFile: repoRoot + "/configs/conceptd.toml", encoding: .utf8))
        let mode = try fm.attributesOfItem(atPath: dir.path + "/etc/conceptd/credentials")[.posixPermissions] as? Int
        #expect(mode == 0o700)
        // A second install keeps the administrator's edits.
        try "# edited\n".write(toFile: config, atomically: true, encoding: .utf8)
        let again = try runProcess(make, args)
        #expect(again.status == 0 && again.stdout.contains("kept the existing"), "\(again.stdout)")
        #expect(try String(contentsOfFile: config, encoding: .utf8) == "# edited\n")
        // The installed binary runs.
        let check = try runProcess(dir.path + "/opt/conceptd/bin/conceptd", ["check-config", repoRoot + "/configs/conceptd.toml"])
        #expect(check.status == 0 || check.status == 78, "\(check.stdout)\(check.stderr)")
    }
}
