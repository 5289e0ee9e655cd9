import Foundation
import Testing
import ConceptTestSupport
import TensorKernels

@Suite("conceptd check-config (the built binary)")
struct CheckConfigCommandTests {
    @Test("valid files: exit 0 and a summary", arguments: ["configs/conceptd.toml", "demo"])
    func valid(file: String) throws {
        let bin = try conceptdBinary()
        let demo = file == "demo" ? try DemoFixture(probeClipsPerPair: 2) : nil
        defer { demo?.dir.cleanup() }
        let file = demo?.config ?? file
        let r = try runProcess(bin, ["check-config", file], environment: ["PATH": "/usr/bin:/bin"], currentDirectory: repoRoot)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.hasPrefix("\(file): ok: preset "))
    }

    /// The built binary runs OpenBLAS's vector kernels on a CPU that has AVX2 or AVX-512 even where OpenBLAS does not
    /// know the CPU model (it restarts itself with `OPENBLAS_CORETYPE`), and keeps a core the environment names.
    @Test("check-config reports the compute: vector kernels when the CPU has them, the user's core when set")
    func computeKernels() throws {
        let bin = try conceptdBinary()
        func compute(_ env: [String: String]) throws -> (core: String, level: String, line: String, stderr: String) {
            let r = try runProcess(bin, ["check-config", "configs/conceptd.toml"], environment: env, currentDirectory: repoRoot)
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
            let lines = r.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count == 2 && lines[0].hasPrefix("configs/conceptd.toml: ok: "), "printed once: \(r.stdout)")
            let line = try #require(lines.first { $0.hasPrefix("compute: ") }, "\(r.stdout)")
            let core = try #require(line.firstMatch(of: /OpenBLAS (\S+) kernels/)).1
            let level = try #require(line.firstMatch(of: /CPU vector level: ([^)]+)\)/)).1
            return (String(core), String(level), line, r.stderr)
        }
        let auto = try compute(["PATH": "/usr/bin:/bin"])
        if auto.level != "none" {
            #expect(BLASCore.vectorCores.contains(auto.core.lowercased()), "\(auto.core) kernels on a CPU with \(auto.level)")
        }
        #expect(auto.stderr.isEmpty, "a restart is reported in the compute line, not on stderr: \(auto.stderr)")
        let chosen = try compute(["PATH": "/usr/bin:/bin", "OPENBLAS_CORETYPE": "Prescott"])
        #expect(chosen.core == "Prescott")
        #expect(!chosen.line.contains("restarted") && chosen.stderr.isEmpty, "\(chosen.line) \(chosen.stderr)")
    }

    @Test("a bad file: exit 78 and every problem as path:line: key.path: message")
    func invalid() throws {
        let bin = try conceptdBinary()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let file = try dir.file("bad.toml", """
            [training]
            batch_sise = 8
            [[source]]
            name = "cam"
            uri = "rtsp://viewer:hunter2@192.0.2.1/live"
            fps = -1
            [api]
            listen = "0.0.0.0:8787"
            """)
        let r = try runProcess(bin, ["check-config", file], environment: ["PATH": "/usr/bin:/bin"])
        #expect(r.status == 78)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines == [
            "\(file):2: training.batch_sise: unknown key 'batch_sise' (did you mean 'batch_size'?)",
            "\(file):6: source[0].fps: must be > 0.0 and <= 1000.0, got -1.0",
            "\(file):8: api.listen: 0.0.0.0:8787 is reachable from other machines: set token_file or token_credential, or listen on 127.0.0.1",
        ])
        #expect(!(r.stdout + r.stderr).contains("hunter2"))
    }

    @Test("a cluster file: a rank without sources, an input on two ranks, and ranks outside the cluster are rejected")
    func clusterOwnership() throws {
        let bin = try conceptdBinary()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let bad = try dir.file("cluster.toml", """
            [cluster]
            ranks = 3
            [[source]]
            name = "a"
            uri = "lavfi:testsrc2"
            rank = 0
            [[source]]
            name = "b"
            uri = "lavfi:testsrc2"
            rank = 1
            [[source]]
            name = "c"
            uri = "lavfi:smptebars"
            rank = 3
            """)
        let r = try runProcess(bin, ["check-config", bad], environment: ["PATH": "/usr/bin:/bin"])
        #expect(r.status == 78)
        #expect(r.stdout.split(separator: "\n").map(String.init) == [
            "\(bad):2: cluster.ranks: rank 2 has no enabled source: every rank must ingest data (set rank = N in a [[source]])",
            "\(bad):9: source[1].uri: lavfi:testsrc2 is ingested by rank 0 (source 'a') and rank 1: give each input to one rank",
            "\(bad):14: source[2].rank: rank 3 is not in the cluster's ranks 0..<3",
        ], "\(r.stdout)")

        let noCluster = try dir.file("single.toml", "[[source]]\nname = \"a\"\nuri = \"lavfi:testsrc2\"\nrank = 1\n")
        let single = try runProcess(bin, ["check-config", noCluster], environment: ["PATH": "/usr/bin:/bin"])
        #expect(single.status == 78)
        #expect(single.stdout == "\(noCluster):4: source[0].rank: rank 1 needs a [cluster] section with ranks > 1\n")

        let hosts = try dir.file("hosts.toml", """
            [cluster]
            ranks = 2
            hosts = ["node-a", "node-b"]
            [[source]]
            name = "a"
            uri = "lavfi:testsrc2"
            host = "node-b"
            [[source]]
            name = "b"
            uri = "lavfi:smptebars"
            host = "node-c"
            [[source]]
            name = "c"
            uri = "lavfi:rgbtestsrc"
            host = "node-a"
            rank = 1
            """)
        let h = try runProcess(bin, ["check-config", hosts], environment: ["PATH": "/usr/bin:/bin"])
        #expect(h.status == 78)
        #expect(h.stdout.split(separator: "\n").map(String.init) == [
            "\(hosts):11: source[1].host: \"node-c\" is none of [cluster] hosts (node-a, node-b)",
            "\(hosts):15: source[2].host: give either rank or host, not both",
        ], "\(h.stdout)")

        let good = try dir.file("good.toml", """
            [cluster]
            ranks = 2
            sync_batchnorm = false
            checksum_every = 50
            [[source]]
            name = "a"
            uri = "lavfi:testsrc2"
            [[source]]
            name = "b"
            uri = "lavfi:smptebars"
            rank = 1
            """)
        let ok = try runProcess(bin, ["check-config", good], environment: ["PATH": "/usr/bin:/bin"])
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        let byHost = try dir.file("by-host.toml", """
            [cluster]
            ranks = 2
            hosts = ["node-a", "node-b"]
            [[source]]
            name = "a"
            uri = "lavfi:testsrc2"
            host = "node-a"
            [[source]]
            name = "b"
            uri = "lavfi:smptebars"
            host = "node-b"
            """)
        let ok2 = try runProcess(bin, ["check-config", byHost], environment: ["PATH": "/usr/bin:/bin"])
        #expect(ok2.status == 0, "\(ok2.stdout)\(ok2.stderr)")
    }

    @Test("a missing file, a syntax error and a missing credential exit 78 too")
    func otherFailures() throws {
        let bin = try conceptdBinary()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let missing = try runProcess(bin, ["check-config", dir.path + "/none.toml"], environment: [:])
        #expect(missing.status == 78)
        #expect(missing.stdout == "\(dir.path)/none.toml: cannot read: No such file or directory\n")

        let syntax = try dir.file("syntax.toml", "[model]\npreset = tiny\n")
        let s = try runProcess(bin, ["check-config", syntax], environment: [:])
        #expect(s.status == 78)
        #expect(s.stdout.hasPrefix("\(syntax):2: TOML syntax: "))

        let cred = try dir.file("cred.toml", "[[source]]\nname = \"c\"\nuri = \"rtsp://192.0.2.1/\"\nusername = \"u\"\npassword_credential = \"c\"\n")
        let c1 = try runProcess(bin, ["check-config", cred], environment: [:])
        #expect(c1.status == 78)
        #expect(c1.stdout.contains("\(cred):5: source[0].password_credential: needs $CREDENTIALS_DIRECTORY"))
        _ = try dir.file("creds/c", "pw-value\n")
        let c2 = try runProcess(bin, ["check-config", "--show", cred], environment: ["CREDENTIALS_DIRECTORY": dir.path + "/creds"])
        #expect(c2.status == 0, "\(c2.stdout)")
        #expect(c2.stdout.contains("rtsp://u:***@192.0.2.1/") && !c2.stdout.contains("pw-value"))
    }

    @Test("the daemon refuses a bad configuration with status 78 and the same messages on stderr")
    func daemonRefuses() throws {
        let bin = try conceptdBinary()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let file = try dir.file("bad.toml", "[logging]\nlevel = \"loud\"\n")
        let check = try runProcess(bin, ["check-config", file], environment: [:])
        let run = try runProcess(bin, ["--config", file], environment: [:])
        #expect(run.status == 78 && check.status == 78)
        #expect(run.stderr == check.stdout)
        #expect(run.stderr.contains("\(file):2: logging.level: must be one of trace, debug, info"))
    }
}
