import ConceptModel
import Testing

@testable import Service
import ConceptTestSupport

/// A source for files that are about something else (a configuration without one is refused).
private let oneSource = "\n[[source]]\nname = \"cam\"\nuri = \"lavfi:testsrc2\"\n"

@Suite("Configuration: valid files")
struct ConfigTests {
    @Test("a file with only a source gives the documented defaults")
    func defaults() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let c = try DaemonConfig.parse("" + oneSource, environment: testEnvironment(dir.path))
        #expect(c.stateDirectory == "/var/lib/conceptd")
        #expect(c.preset == "small")
        #expect(c.method == .conceptd && c.pinnedKeys.isEmpty)
        #expect(c.model == (try ModelConfig.preset("small", method: .conceptd)))
        #expect(c.training == TrainingSettings(method: .conceptd))
        #expect(c.sources.map(\.name) == ["cam"])
        #expect(c.snapshots.directory == "/var/lib/conceptd/snapshots")
        #expect(c.snapshots.everySeconds == 600 && c.snapshots.everySteps == nil && c.snapshots.keep == 3)
        #expect(c.probe == nil)
        #expect(c.api.listen == ListenAddress(host: "127.0.0.1", port: 8787))
        #expect(c.api.token == nil)
        #expect(c.logging == LoggingSettings())
    }

    @Test("[model] and [training] build the ModelConfig the learner gets")
    func modelConfig() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let c = try DaemonConfig.parse("""
            [model]
            preset = "tiny"
            ks = 30
            kd = 12
            top_k = 7
            alpha = 0.5
            beta = 2
            gamma = 0.02
            sigma = "mlp"
            nce = 0.25
            queue_length = 64
            tau = 0.2
            margin = 1.1
            [training]
            lr = 0.05
            momentum = 0.8
            weight_decay = 0.001
            batch_size = 16
            warmup_steps = 10
            replay_size = 100
            replay_policy = "reservoir"
            threads = 2
            seed = 7
            max_steps = 500
            """ + oneSource, environment: testEnvironment(dir.path))
        var expected = try ModelConfig.preset("tiny", method: .conceptd)
        expected.ks = 30; expected.kd = 12; expected.topK = 7
        expected.alpha = 0.5; expected.beta = 2; expected.gamma = 0.02
        expected.sigma = .mlp; expected.nce = 0.25; expected.queueLength = 64
        expected.tau = 0.2; expected.margin = 1.1
        expected.learningRate = 0.05; expected.momentum = 0.8; expected.weightDecay = 0.001
        #expect(c.model == expected)
        #expect(c.preset == "tiny")
        #expect(c.clipFrames == expected.frames + 1)
        #expect(c.training.batchSize == 16 && c.training.warmupSteps == 10 && c.training.replaySize == 100)
        #expect(c.training.replayPolicy == .reservoir && c.training.threads == 2)
        #expect(c.training.seed == 7 && c.training.maxSteps == 500)
        try c.model.validate()
    }

    @Test("the options beyond the paper reach the model; lr_schedule and clip_fps reach the training settings")
    func methodOptions() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let c = try DaemonConfig.parse("""
            [model]
            preset = "tiny"
            method = "conceptd"
            difference = "raw"
            static_view = "gray"
            nce = 0.5
            nce_static = 0.25
            static_consistency = 3
            static_consistency_grad = "prototypes"
            fid_v_grad = "dynamic"
            nce_queue = true
            nce_reverse = false
            nce_static_negative = true
            nce_tau = 0.2
            nce_tau_start = 0.5
            nce_tau_steps = 400
            sigma = "bn"
            v_heads = "split"
            v_heads_init = "identity"
            [training]
            lr_schedule = "rsqrt"
            lr_hold_steps = 300
            clip_fps = 8
            """ + oneSource, environment: testEnvironment(dir.path))
        #expect(c.model.difference == .raw && c.model.staticView == .gray && c.model.nce == 0.5 && c.model.nceStatic == 0.25)
        #expect(c.model.staticConsistency == 3 && c.model.staticConsistencyGrad == .prototypes && c.model.fidVGrad == .dynamic && c.model.nceTauStart == 0.5 && c.model.nceTauSteps == 400)
        #expect(c.model.nceQueue && !c.model.nceReverse && c.model.nceStaticNegative && c.model.nceTau == 0.2)
        #expect(c.model.sigma == .bn && c.model.vHeads == .split && c.model.vHeadsInit == .identity)
        #expect(c.training.schedule == .inverseSquareRoot(hold: 300) && c.training.clipFps == 8)
        #expect(c.pinnedKeys.isEmpty)
    }

    @Test("method = paper pins the spec's configuration whatever else the file says, and names what it ignored")
    func paperPins() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let c = try DaemonConfig.parse("""
            [model]
            preset = "tiny"
            method = "paper"
            nce = 1
            difference = "normalized"
            queue_length = 0
            [training]
            lr = 0.5
            lr_schedule = "rsqrt"
            batch_size = 4
            """ + oneSource, environment: testEnvironment(dir.path))
        #expect(c.method == .paper)
        #expect(c.model == (try ModelConfig.preset("tiny", method: .paper)))
        #expect(c.model.method == .paper)
        var spec = ModelConfig()
        (spec.widths, spec.stem, spec.frames, spec.height, spec.width) = (c.model.widths, c.model.stem, c.model.frames, c.model.height, c.model.width)
        #expect(c.model == spec, "exactly the spec's defaults on the tiny backbone")
        #expect(c.training.schedule == .constant)
        #expect(c.training.batchSize == 4, "the batch size is not part of the method")
        #expect(c.pinnedKeys == ["model.nce", "model.difference", "model.queue_length", "training.lr", "training.lr_schedule"])
        #expect(c.description.contains("method = paper ignores model.nce, model.difference"))
    }

    @Test("a large batch without replay_size gets a buffer that can hold a batch")
    func replayFollowsBatch() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let c = try DaemonConfig.parse("[training]\nbatch_size = 300\n" + oneSource, environment: testEnvironment(dir.path))
        #expect(c.training.replaySize == 300)
    }

    @Test("relative paths resolve against state_directory, which resolves against the working directory")
    func paths() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let clip = try dir.file("state/clips/a.mp4", "not really a video")
        _ = try dir.directory("state/probe")
        let c = try DaemonConfig.parse("""
            state_directory = "state"
            [[source]]
            name = "a"
            uri = "file:clips/a.mp4"
            [[source]]
            name = "inbox"
            uri = "folder:./in/../inbox"
            after = "move:done"
            [[source]]
            name = "abs"
            uri = "\(clip)"
            [[source]]
            name = "url"
            uri = "file://\(clip)"
            [snapshots]
            directory = "snaps"
            every_steps = 50
            [probe]
            set = "probe"
            every_steps = 10
            """, environment: testEnvironment(dir.path))
        #expect(c.stateDirectory == dir.path + "/state")
        #expect(c.sources.map(\.uri) == ["file:" + clip, "folder:\(dir.path)/state/inbox", "file:" + clip, "file:" + clip])
        #expect(c.sources.map(\.kind) == [.file, .folder, .file, .file])
        #expect(c.sources[1].after == .move(dir.path + "/state/done"))
        #expect(c.sources[0].after == nil)
        #expect(c.snapshots.directory == dir.path + "/state/snaps")
        #expect(c.snapshots.everySteps == 50 && c.snapshots.everySeconds == nil)
        #expect(c.probe == {
            var p = ProbeSettings(input: .set(dir.path + "/state/probe"))
            p.everySteps = 10
            return p
        }())
    }

    @Test("without state_directory, $STATE_DIRECTORY (systemd) is the default")
    func stateDirectoryFromSystemd() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let c = try DaemonConfig.parse("" + oneSource, environment: testEnvironment(dir.path, ["STATE_DIRECTORY": "/var/lib/x:/var/lib/y"]))
        #expect(c.stateDirectory == "/var/lib/x")
        #expect(c.snapshots.directory == "/var/lib/x/snapshots")
    }

    @Test("every source key reaches SourceConfig")
    func sourceKeys() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let c = try DaemonConfig.parse("""
            [model]
            preset = "tiny"
            [[source]]
            name = "cam-1"
            uri = "rtsp://192.0.2.1:554/live"
            enabled = false
            options = { rtsp_transport = "tcp", timeout = "5000000" }
            fps = 12.5
            stride = 4
            short_side = 80
            crop = "center"
            flip = true
            stall_seconds = 10
            [[source]]
            name = "test.src"
            uri = "lavfi:testsrc2=size=160x120:rate=25"
            [[source]]
            name = "dev"
            uri = "v4l2:/dev/video0"
            """, environment: testEnvironment(dir.path))
        let s = c.sources[0]
        #expect(s.name == "cam-1" && s.kind == .network && !s.enabled)
        #expect(s.options == ["rtsp_transport": "tcp", "timeout": "5000000"])
        #expect(s.fps == 12.5 && s.stride == 4 && s.shortSide == 80 && s.crop == .center && s.flip && s.stallSeconds == 10)
        #expect(c.sources.map(\.kind) == [.network, .lavfi, .v4l2])
        #expect(c.enabledSources.map(\.name) == ["test.src", "dev"])
        #expect(c.sources[1].crop == .random && !c.sources[1].flip && c.sources[1].fps == nil)
    }

    @Test("password_credential reads $CREDENTIALS_DIRECTORY and splices the secret only into connectionURI")
    func credentials() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let creds = try dir.directory("creds")
        _ = try dir.file("creds/stream_cam1", "p@ss:w/rd\n", mode: 0o600)
        let c = try DaemonConfig.parse("""
            [[source]]
            name = "cam1"
            uri = "rtsp://192.0.2.7/stream?x=1"
            username = "viewer"
            password_credential = "stream_cam1"
            [[source]]
            name = "cam2"
            uri = "rtsp://admin@192.0.2.8/s"
            password_credential = "stream_cam1"
            """, environment: testEnvironment(dir.path, ["CREDENTIALS_DIRECTORY": creds]))
        let s = c.sources[0]
        #expect(s.password?.value == "p@ss:w/rd")
        #expect(s.passwordCredential == "stream_cam1")
        #expect(s.connectionURI == "rtsp://viewer:p%40ss%3Aw%2Frd@192.0.2.7/stream?x=1")
        #expect(s.uri == "rtsp://192.0.2.7/stream?x=1")
        #expect(s.redactedURI == "rtsp://viewer:***@192.0.2.7/stream?x=1")
        #expect(c.sources[1].connectionURI == "rtsp://admin:p%40ss%3Aw%2Frd@192.0.2.8/s")
        #expect(c.sources[1].redactedURI == "rtsp://admin:***@192.0.2.8/s")
        // The secret appears in no rendering meant for people or logs.
        for text in [c.description, c.summary, s.summary, "\(s)", String(reflecting: s), "\(s.password!)"] {
            #expect(!text.contains("p@ss"), "secret leaked into: \(text)")
            #expect(!text.contains("p%40ss"), "secret leaked into: \(text)")
        }
        var dumped = ""
        dump(c, to: &dumped)
        #expect(!dumped.contains("p@ss"))
    }

    @Test("a password written into the uri is masked in every log rendering")
    func inlinePasswordRedacted() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let c = try DaemonConfig.parse("""
            [[source]]
            name = "cam"
            uri = "rtsp://u:hunter2@192.0.2.1/live"
            """, environment: testEnvironment(dir.path))
        #expect(c.sources[0].connectionURI == "rtsp://u:hunter2@192.0.2.1/live")
        #expect(c.sources[0].redactedURI == "rtsp://u:***@192.0.2.1/live")
        #expect(!c.description.contains("hunter2"))
    }

    @Test("the API token comes from a file or a credential")
    func apiToken() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let token = try dir.file("token", "s3cret-token\n", mode: 0o600)
        let c = try DaemonConfig.parse("""
            [api]
            listen = "0.0.0.0:9000"
            token_file = "\(token)"
            """ + oneSource, environment: testEnvironment(dir.path))
        #expect(c.api.listen == ListenAddress(host: "0.0.0.0", port: 9000))
        #expect(c.api.token?.value == "s3cret-token")
        #expect(c.api.tokenSource == token)
        #expect(!c.description.contains("s3cret"))

        let creds = try dir.directory("creds")
        _ = try dir.file("creds/api", "t0k")
        let d = try DaemonConfig.parse("[api]\nlisten = \"[::]:8787\"\ntoken_credential = \"api\"\n" + oneSource,
                                       environment: testEnvironment(dir.path, ["CREDENTIALS_DIRECTORY": creds]))
        #expect(d.api.token?.value == "t0k" && d.api.tokenSource == "credential:api")
        #expect(d.api.listen.isIPv6 && !d.api.listen.isLoopback)
    }

    @Test("a reload plan lists added, removed and changed sources and the sections that need a restart")
    func reloadPlan() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let env = testEnvironment(dir.path)
        let old = try DaemonConfig.parse("""
            [[source]]
            name = "a"
            uri = "lavfi:testsrc2"
            [[source]]
            name = "b"
            uri = "lavfi:testsrc"
            [[source]]
            name = "c"
            uri = "lavfi:smptebars"
            """, environment: env)
        let new = try DaemonConfig.parse("""
            [training]
            batch_size = 4
            [[source]]
            name = "a"
            uri = "lavfi:testsrc2"
            [[source]]
            name = "b"
            uri = "lavfi:testsrc"
            fps = 4
            [[source]]
            name = "c"
            uri = "lavfi:smptebars"
            enabled = false
            [[source]]
            name = "d"
            uri = "lavfi:rgbtestsrc"
            """, environment: env)
        let plan = old.reloadPlan(to: new)
        #expect(plan.added.map(\.name) == ["d"])
        #expect(plan.removed == ["c"])
        #expect(plan.changed.map(\.name) == ["b"])
        #expect(plan.needsRestart == ["training"])
        #expect(old.reloadPlan(to: old).sourcesUnchanged && old.reloadPlan(to: old).needsRestart.isEmpty)
    }
}

@Suite("Listen addresses")
struct ListenAddressTests {
    @Test("parses IPv4, bracketed IPv6, localhost and a bare host", arguments: [
        ("127.0.0.1:8787", "127.0.0.1", 8787, true),
        ("127.3.4.5:1", "127.3.4.5", 1, true),
        ("0.0.0.0:80", "0.0.0.0", 80, false),
        ("192.0.2.4", "192.0.2.4", 8787, false),
        ("[::1]:9000", "::1", 9000, true),
        ("[::]:0", "::", 0, false),
        ("[::ffff:127.0.0.1]:5", "::ffff:127.0.0.1", 5, true),
        ("localhost:8080", "localhost", 8080, true),
    ])
    func parses(text: String, host: String, port: Int, loopback: Bool) throws {
        let a = try ListenAddress(parsing: text)
        #expect(a.host == host && a.port == port && a.isLoopback == loopback)
        #expect(try ListenAddress(parsing: a.description) == a)
    }

    @Test("rejects what cannot be bound", arguments: ["::1:80", "[::1", "example.com:80", "127.0.0.1:65536", "127.0.0.1:x", "", "[127.0.0.1]:80"])
    func rejects(text: String) {
        #expect(throws: ListenAddressError.self) { try ListenAddress(parsing: text) }
    }
}
