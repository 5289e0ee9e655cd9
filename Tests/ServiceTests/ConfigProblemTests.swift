import Foundation
import Testing

@testable import Service
import ConceptTestSupport

/// Parses `text` expecting failure; returns the problems as `line: path: message` strings and the error.
private func problems(_ text: String, env: ConfigEnvironment) throws -> (ConfigError, [String]) {
    // A source where the file is about something else: a configuration without one is a problem of its own.
    let text = text.contains("[source]") || text.contains("[[source]]") || text.contains("\nsource") ? text : text + "\n[[source]]\nname = \"t\"\nuri = \"lavfi:testsrc2\"\n"
    do {
        _ = try DaemonConfig.parse(text, file: "t.toml", environment: env)
    } catch {
        return (error, error.problems.map { "\($0.line.map(String.init) ?? "-"): \($0.keyPath): \($0.message)" })
    }
    throw TestFailure("expected the configuration to be rejected:\n\(text)")
}

@Suite("Configuration: problems")
struct ConfigProblemTests {
    @Test("every problem in a file is reported at once, with key path and line, in line order")
    func everyProblem() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (error, p) = try problems("""
            trainng = 3                      # 1
            [model]                          # 2
            preset = "tiney"                 # 3
            ks = 0                           # 4
            [training]                       # 5
            batch_size = 1                   # 6
            lr = "fast"                      # 7
            replay_size = 2.0                # 8
            replay_policy = "lifo"           # 9
            [[source]]                       # 10
            name = "cam"                     # 11
            uri = "rtsp://192.0.2.1/x"       # 12
            options = { timeout = 5000000 }  # 13
            [[source]]                       # 14
            name = "cam"                     # 15
            uri = "gopher://x"               # 16
            fsp = 8                          # 17
            [[source]]                       # 18
            uri = "lavfi:testsrc"            # 19
            [snapshots]                      # 20
            keep = 0                         # 21
            [logging]                        # 22
            format = "json"                  # 23
            """, env: testEnvironment(dir.path))
        #expect(error.problems.map(\.line) == [1, 3, 4, 6, 7, 8, 9, 13, 15, 16, 17, 18, 21, 23])
        #expect(p[0] == "1: trainng: unknown key 'trainng' (did you mean 'training'?)")
        #expect(p[1].hasPrefix("3: model.preset: must be one of tiny, small, paper, got \"tiney\""))
        #expect(p[2] == "4: model.ks: must be in 1...4096, got 0")
        #expect(p[3].hasPrefix("6: training.batch_size: must be in 2...4096, got 1"))
        #expect(p[4] == "7: training.lr: expected a number, got a string \"fast\"")
        #expect(p[5].hasPrefix("8: training.replay_size: expected an integer, got the float 2.0"))
        #expect(p[6].hasPrefix("9: training.replay_policy: must be one of fifo, reservoir, got \"lifo\""))
        #expect(p[7] == "13: source[0].options.timeout: libav options are strings: write timeout = \"5000000\"")
        #expect(p[8] == "15: source[1].name: duplicate source name 'cam' (first used by source[0])")
        #expect(p[9].hasPrefix("16: source[1].uri: unknown source type in \"gopher://x\""))
        #expect(p[10] == "17: source[1].fsp: unknown key 'fsp' (did you mean 'fps'?)")
        #expect(p[11].hasPrefix("18: source[2]: missing required key 'name'"))
        #expect(p[12] == "21: snapshots.keep: must be in 1...1000, got 0")
        #expect(p[13] == "23: logging.format: must be one of auto, journal, text, got \"json\"")
        #expect(error.lines[0] == "t.toml:1: trainng: unknown key 'trainng' (did you mean 'training'?)")
    }

    @Test("a TOML syntax error names its line")
    func syntax() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (error, p) = try problems("[model]\npreset = \"tiny\"\nks = [1,\n", env: testEnvironment(dir.path))
        #expect(error.isSyntaxError)
        #expect(p.count == 1)
        #expect(error.problems[0].line != nil && error.problems[0].line! >= 3)
        #expect(p[0].contains("TOML syntax"))
        let (dup, _) = try problems("[api]\nlisten = \"127.0.0.1:1\"\nlisten = \"127.0.0.1:2\"\n", env: testEnvironment(dir.path))
        #expect(dup.isSyntaxError && dup.problems[0].line == 3)
    }

    @Test("a missing or unreadable file is one problem naming the file")
    func unreadable() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        do {
            _ = try DaemonConfig.load(file: dir.path + "/absent.toml", environment: testEnvironment(dir.path))
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.isUnreadable)
            #expect(error.lines == ["\(dir.path)/absent.toml: cannot read: No such file or directory"])
        }
        let bin = try dir.file("bin.toml", "")
        try [UInt8]([0x61, 0x20, 0x3d, 0x20, 0x22, 0xff, 0x22]).withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: bin)) }
        #expect(throws: ConfigError.self) { try DaemonConfig.load(file: bin, environment: testEnvironment(dir.path)) }
    }

    @Test("binding beyond loopback without a token is refused")
    func publicWithoutToken() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (_, p) = try problems("[api]\nlisten = \"0.0.0.0:8787\"\n", env: testEnvironment(dir.path))
        #expect(p.count == 1)
        #expect(p[0].hasPrefix("2: api.listen: 0.0.0.0:8787 is reachable from other machines"))
        let (_, q) = try problems("[api]\nlisten = \"example.com:80\"\n", env: testEnvironment(dir.path))
        #expect(q == ["2: api.listen: 'example.com' is not an IPv4 address, [IPv6] address or localhost"])
        // Loopback needs no token.
        _ = try DaemonConfig.parse("[api]\nlisten = \"[::1]:1\"\n[[source]]\nname = \"t\"\nuri = \"lavfi:testsrc2\"\n",
                                   environment: testEnvironment(dir.path))
    }

    @Test("unreadable paths: token file, probe set and manifest, file sources")
    func unreadablePaths() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let emptyToken = try dir.file("empty-token", "")
        let notDir = try dir.file("plain", "x")
        let (_, p) = try problems("""
            state_directory = "\(dir.path)"
            [[source]]
            name = "f"
            uri = "file:nothing.mp4"
            [[source]]
            name = "d"
            uri = "file:\(dir.path)"
            [[source]]
            name = "w"
            uri = "folder:plain"
            [probe]
            set = "plain"
            [api]
            token_file = "\(emptyToken)"
            """, env: testEnvironment("/"))
        #expect(p == [
            "4: source[0].uri: \(dir.path)/nothing.mp4 does not exist",
            "7: source[1].uri: \(dir.path) is a directory: use folder:\(dir.path) for a watch folder",
            "10: source[2].uri: \(notDir) exists and is not a directory",
            "12: probe.set: \(notDir) is not a directory",
            "14: api.token_file: \(emptyToken) is empty",
        ])
        let (_, q) = try problems("[probe]\nmanifest = \"/nonexistent/list\"\nevery_minutes = 0\n", env: testEnvironment(dir.path))
        #expect(q == ["2: probe.manifest: /nonexistent/list does not exist", "3: probe.every_minutes: must be > 0.0 and <= 10080.0, got 0.0"])
        let (_, r) = try problems("[probe]\nevery_steps = 5\n", env: testEnvironment(dir.path))
        #expect(r == ["1: probe: missing required key 'set' or 'manifest' (the probe's clips)"])
    }

    @Test("credentials: missing directory, missing file, bad name, and keys on sources that cannot use them")
    func credentialProblems() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let source = """
            [[source]]
            name = "cam"
            uri = "rtsp://192.0.2.1/live"
            username = "viewer"
            password_credential = "cam"
            """
        let (_, a) = try problems(source, env: testEnvironment(dir.path))
        #expect(a.count == 1 && a[0].hasPrefix("5: source[0].password_credential: needs $CREDENTIALS_DIRECTORY"))
        let (_, b) = try problems(source, env: testEnvironment(dir.path, ["CREDENTIALS_DIRECTORY": dir.path]))
        #expect(b == ["5: source[0].password_credential: credential 'cam': \(dir.path)/cam: cannot read: No such file or directory"])
        let (_, noUser) = try problems(source.replacingOccurrences(of: "username = \"viewer\"\n", with: ""),
                                       env: testEnvironment(dir.path, ["CREDENTIALS_DIRECTORY": dir.path]))
        #expect(noUser == ["4: source[0].password_credential: a password needs a user: set username or write user@ in the uri"])
        let (_, c) = try problems("""
            [[source]]
            name = "cam"
            uri = "rtsp://u:pw@192.0.2.1/live"
            username = "v"
            password_credential = "../etc/shadow"
            [[source]]
            name = "lav"
            uri = "lavfi:testsrc"
            username = "x"
            after = "keep"
            """, env: testEnvironment(dir.path, ["CREDENTIALS_DIRECTORY": dir.path]))
        #expect(c == [
            "4: source[0].username: the uri already names a user: give it in one place",
            "5: source[0].password_credential: the uri already holds a password: remove it from the uri",
            "9: source[1].username: only network sources (scheme://) take a username",
            "10: source[1].after: only folder: sources take 'after'",
        ])
        #expect(!c.joined().contains("pw@"), "a password written in the uri must not appear in messages")
    }

    @Test("wrong shapes: [source] instead of [[source]], a table where a value belongs, top_k beyond ks/kd")
    func shapes() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (_, p) = try problems("""
            logging = "info"
            [source]
            name = "x"
            [model]
            ks = 4
            kd = 8
            top_k = 5
            [training.nested]
            a = 1
            """, env: testEnvironment(dir.path))
        #expect(p == [
            "1: logging: expected a table, got a string \"info\"",
            "2: source: expected an array of tables: write [[source]] (two brackets) for each entry",
            "7: model.top_k: must be at most min(ks, kd) = 4, got 5",
            "8: training.nested: unknown key 'nested' (known keys: lr, momentum, weight_decay, batch_size, warmup_steps, replay_size, replay_policy, threads, seed, max_steps, clip_fps, lr_hold_steps, lr_schedule)",
        ])
    }

    @Test("source URIs are checked by kind")
    func uriKinds() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (_, p) = try problems("""
            [[source]]
            name = "a"
            uri = "v4l2:video0"
            [[source]]
            name = "b"
            uri = "lavfi:  "
            [[source]]
            name = "c"
            uri = "rtsp:///nohost"
            [[source]]
            name = "bad name!"
            uri = "folder:"
            """, env: testEnvironment(dir.path))
        #expect(p == [
            "3: source[0].uri: v4l2: needs a device path such as v4l2:/dev/video0",
            "6: source[1].uri: lavfi: needs a filter graph such as lavfi:testsrc2=size=320x240:rate=25",
            "9: source[2].uri: rtsp:///nohost has no host",
            "11: source[3].name: use 1-64 letters, digits, '-', '_' or '.' (not first), got \"bad name!\"",
            "12: source[3].uri: folder: needs a path",
        ])
    }

    @Test("values: non-finite floats, negative seeds, fps and short_side bounds")
    func values() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (_, p) = try problems("""
            [model]
            preset = "tiny"
            alpha = nan
            gamma = -0.1
            [training]
            seed = -1
            [[source]]
            name = "x"
            uri = "lavfi:testsrc"
            fps = 0
            short_side = 32
            """, env: testEnvironment(dir.path))
        #expect(p == [
            "3: model.alpha: must be a finite number, got nan",
            "4: model.gamma: must be >= 0.0 and <= 1000.0, got -0.1",
            "6: training.seed: must be at least 0, got -1",
            "10: source[0].fps: must be > 0.0 and <= 1000.0, got 0.0",
            "11: source[0].short_side: must be in 64...16384, got 32 (the model's clips are 64x64)",
        ])
    }

    @Test("the method keys: an unknown method, option values out of their sets and ranges")
    func methodValues() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (_, p) = try problems("""
            [model]
            method = "papers"
            difference = "sobel"
            static_view = 3
            nce_static = -1
            nce_queue = "yes"
            static_consistency = -0.5
            [training]
            lr_schedule = "cosine"
            lr_hold_steps = 0
            clip_fps = 0
            """, env: testEnvironment(dir.path))
        #expect(p.count == 9, "\(p)")
        #expect(p[0].hasPrefix("2: model.method: must be one of conceptd, paper"))
        #expect(p[1].hasPrefix("3: model.difference: must be one of raw, normalized"))
        #expect(p[2].hasPrefix("4: model.static_view:"))
        #expect(p[3].hasPrefix("5: model.nce_static: must be"))
        #expect(p[4].hasPrefix("6: model.nce_queue:"))
        #expect(p.contains { $0.hasPrefix("7: model.static_consistency: must be") })
        #expect(p.contains { $0.hasPrefix("9: training.lr_schedule: must be one of constant, rsqrt") })
        #expect(p.contains { $0.hasPrefix("10: training.lr_hold_steps: must be") })
        #expect(p.contains { $0.hasPrefix("11: training.clip_fps: must be") })
    }

    @Test("the InfoNCE temperature schedule: each key needs the other, and both are range-checked")
    func temperatureSchedule() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        for (body, expected) in [
            ("nce_tau_start = 0.2", "2: model.nce_tau_start: needs nce_tau_steps"),
            ("nce_tau_steps = 300", "2: model.nce_tau_steps: has no effect without nce_tau_start"),
            ("nce_tau_start = 0\nnce_tau_steps = 300", "2: model.nce_tau_start: must be"),
            ("nce_tau_start = 0.2\nnce_tau_steps = 0", "3: model.nce_tau_steps: must be"),
        ] {
            let (_, p) = try problems("[model]\n" + body + "\n", env: testEnvironment(dir.path))
            #expect(p.count == 1 && p[0].hasPrefix(expected), "\(body): \(p)")
        }
    }

    @Test("v_heads_init needs split heads and static_consistency_grad the consistency term; each knows its values")
    func headInit() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        for (body, expected) in [
            ("v_heads = \"shared\"\nv_heads_init = \"identity\"", "3: model.v_heads_init: needs v_heads = \"split\""),
            ("v_heads_init = \"eye\"", "2: model.v_heads_init: must be one of random, identity"),
            ("static_consistency = 0\nstatic_consistency_grad = \"prototypes\"", "3: model.static_consistency_grad: needs static_consistency > 0"),
            ("v_heads = \"shared\"\nv_heads_shared_steps = 500", "3: model.v_heads_shared_steps: needs v_heads = \"split\" with v_heads_init = \"identity\""),
            ("v_heads = \"split\"\nv_heads_init = \"random\"\nv_heads_shared_steps = 500", "4: model.v_heads_shared_steps: needs v_heads = \"split\" with v_heads_init = \"identity\""),
            ("static_consistency = 2\nstatic_consistency_grad = \"encoder\"", "3: model.static_consistency_grad: must be one of all, prototypes, head"),
            ("static_consistency = 2\nstatic_consistency_grad = \"head\"\nv_heads = \"shared\"", "3: model.static_consistency_grad: \"head\" needs v_heads = \"split\""),
            ("fid_v_grad = \"static\"", "2: model.fid_v_grad: must be one of all, dynamic"),
        ] {
            let (_, p) = try problems("[model]\n" + body + "\n", env: testEnvironment(dir.path))
            #expect(p.count == 1 && p[0].hasPrefix(expected), "\(body): \(p)")
        }
        // Identity split heads are no problem, nor are shared heads with the random init spelt out.
        let c = try DaemonConfig.parse("[model]\nv_heads = \"split\"\nv_heads_init = \"identity\"\n[[source]]\nname = \"t\"\nuri = \"lavfi:testsrc2\"\n",
                                       file: "t.toml", environment: testEnvironment(dir.path))
        #expect(c.model.vHeadsInit == .identity && c.model.vHeads == .split && c.method == .conceptd)
        let shared = try DaemonConfig.parse("[model]\nv_heads = \"shared\"\nv_heads_init = \"random\"\n[[source]]\nname = \"t\"\nuri = \"lavfi:testsrc2\"\n",
                                            file: "t.toml", environment: testEnvironment(dir.path))
        #expect(shared.model.vHeadsInit == .random && shared.model.vHeads == .shared)
        // Shared heads alone take the random init (a method with identity split heads would otherwise make them a problem).
        let sharedOnly = try DaemonConfig.parse("[model]\nv_heads = \"shared\"\n[[source]]\nname = \"t\"\nuri = \"lavfi:testsrc2\"\n",
                                                file: "t.toml", environment: testEnvironment(dir.path))
        #expect(sharedOnly.model.vHeadsInit == .random && sharedOnly.model.vHeads == .shared && sharedOnly.method == .conceptd)
        let phased = try DaemonConfig.parse("[model]\nv_heads = \"split\"\nv_heads_init = \"identity\"\nv_heads_shared_steps = 500\n[[source]]\nname = \"t\"\nuri = \"lavfi:testsrc2\"\n",
                                            file: "t.toml", environment: testEnvironment(dir.path))
        #expect(phased.model.vHeadsSharedSteps == 500 && phased.model.metadata["v_heads_shared_steps"] == "500")
        let head = try DaemonConfig.parse("[model]\nv_heads = \"split\"\nstatic_consistency = 10\nstatic_consistency_grad = \"head\"\n[[source]]\nname = \"t\"\nuri = \"lavfi:testsrc2\"\n",
                                          file: "t.toml", environment: testEnvironment(dir.path))
        #expect(head.model.staticConsistencyGrad == .head && head.model.metadata["static_consistency_grad"] == "head")
    }

    @Test("an unknown preset is one problem: clip-size checks that depend on it are skipped")
    func unknownPresetNoCascade() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (_, p) = try problems("""
            [model]
            preset = "huge"
            [[source]]
            name = ".hidden"
            uri = "lavfi:testsrc"
            short_side = 64
            """, env: testEnvironment(dir.path))
        #expect(p == [
            "2: model.preset: must be one of tiny, small, paper, got \"huge\"",
            "4: source[0].name: use 1-64 letters, digits, '-', '_' or '.' (not first), got \".hidden\"",
        ])
    }

    @Test("a NUL byte is refused with its line rather than cutting the file short")
    func nulByte() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (e, p) = try problems("[model]\npreset = \"tiny\"\n\0[training]\nbatch_size = 0\n", env: testEnvironment(dir.path))
        #expect(e.isSyntaxError)
        #expect(p == ["3: : the file contains a NUL byte"])
    }
}
