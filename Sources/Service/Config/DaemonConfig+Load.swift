import ConceptModel
import Foundation
import TOMLKit

/// What a configuration is resolved against: environment variables (`STATE_DIRECTORY`,
/// `CREDENTIALS_DIRECTORY`) and the working directory.
public struct ConfigEnvironment: Sendable, Equatable {
    /// Environment variables.
    public var variables: [String: String]
    /// The directory relative `state_directory` values resolve against.
    public var workingDirectory: String

    /// An explicit environment (tests, tools).
    public init(variables: [String: String], workingDirectory: String) {
        self.variables = variables
        self.workingDirectory = workingDirectory
    }

    /// This process's environment and working directory.
    public static var current: ConfigEnvironment {
        ConfigEnvironment(variables: ProcessInfo.processInfo.environment,
                          workingDirectory: FileManager.default.currentDirectoryPath)
    }

    /// `$STATE_DIRECTORY` (systemd `StateDirectory=`; the first of several), else `/var/lib/conceptd`.
    var defaultStateDirectory: String {
        if let s = variables["STATE_DIRECTORY"], let first = s.split(separator: ":").first, !first.isEmpty {
            return String(first)
        }
        return "/var/lib/conceptd"
    }
}

extension DaemonConfig {
    /// The largest configuration file read.
    static let maxFileSize = 1 << 20

    /// Reads and checks a configuration file. Throws a ``ConfigError`` with every problem found.
    public static func load(file: String, environment: ConfigEnvironment = .current) throws(ConfigError) -> DaemonConfig {
        let bytes: [UInt8]
        do { bytes = try FileIO.readAll(path: file, limit: maxFileSize) } catch {
            throw ConfigError.unreadable(file: file, error.description)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError.syntax(file: file, line: nil, "the file is not UTF-8 text")
        }
        return try parse(text, file: file, environment: environment)
    }

    /// Checks a configuration given as TOML text; `file` only names it in messages and ``DaemonConfig/file``.
    public static func parse(_ text: String, file: String? = nil,
                             environment: ConfigEnvironment = .current) throws(ConfigError) -> DaemonConfig {
        if let nul = text.utf8.firstIndex(of: 0) {
            let line = text.utf8[..<nul].reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            throw ConfigError.syntax(file: file, line: line, "the file contains a NUL byte")
        }
        let root: TOMLNode
        do { root = try TOMLNode.parse(text) } catch let error as TOMLParseError {
            let line = error.source.begin.line > 0 ? error.source.begin.line : nil
            throw ConfigError.syntax(file: file, line: line, "TOML syntax: \(error.description)")
        } catch {
            throw ConfigError.syntax(file: file, line: nil, "TOML syntax: \(error)")
        }
        guard case .table(let entries) = root else { throw ConfigError.syntax(file: file, line: nil, "not a TOML table") }
        let log = ProblemLog(locator: TOMLKeyLocator(text))
        var reader = ConfigBuilder(environment: environment, log: log)
        var config = reader.read(TableReader(entries, path: .root, log: log))
        config.file = file
        if !log.isEmpty { throw ConfigError.invalid(file: file, problems: log.problems) }
        return config
    }
}

/// Reads the sections into a ``DaemonConfig``, recording problems and carrying on with defaults so that one run
/// finds every problem.
struct ConfigBuilder {
    let environment: ConfigEnvironment
    let log: ProblemLog
    var stateDirectory = "/var/lib/conceptd"

    init(environment: ConfigEnvironment, log: ProblemLog) {
        self.environment = environment
        self.log = log
    }

    mutating func read(_ root: TableReader) -> DaemonConfig {
        stateDirectory = Paths.resolve(environment.defaultStateDirectory, against: environment.workingDirectory)
        if let s = root.string("state_directory") {
            if let p = checkedPath(s, root, "state_directory") {
                stateDirectory = Paths.resolve(p, against: environment.workingDirectory)
            }
        }

        let modelTable = root.table("model") ?? .empty(path: "model", log: log)
        let trainingTable = root.table("training") ?? .empty(path: "training", log: log)
        let (preset, model, presetKnown, method, pinned) = readModel(modelTable, trainingTable)
        let training = readTraining(trainingTable, method: method, pinned: pinned)
        trainingTable.rejectUnknownKeys()

        var sources: [SourceConfig] = []
        let sourceTables = root.arrayOfTables("source")
        if let list = sourceTables {
            sources = list.compactMap { readSource($0, model: presetKnown ? model : nil) }
            checkDuplicateNames(sources, list)
        }
        if !root.has("source") || sourceTables?.isEmpty == true {
            // An empty (or truncated) file must not start, or reload into, a daemon without a single input.
            log.add("source", "no [[source]] table: add at least one (name and uri) for the daemon to learn from")
        }
        let snapshots = readSnapshots(root.table("snapshots") ?? .empty(path: "snapshots", log: log))
        let probe = root.table("probe").flatMap { readProbe($0) }
        let api = readAPI(root.table("api") ?? .empty(path: "api", log: log))
        let logging = readLogging(root.table("logging") ?? .empty(path: "logging", log: log))
        let cluster = root.table("cluster").flatMap { readCluster($0) }
        resolveHosts(&sources, sourceTables ?? [], cluster: cluster)
        checkOwnership(sources, sourceTables ?? [], cluster: cluster)
        root.rejectUnknownKeys()

        var config = DaemonConfig(file: nil, stateDirectory: stateDirectory, preset: preset, method: method,
                                  pinnedKeys: pinned.keys + training.pinned, model: model, training: training.settings,
                                  sources: sources, snapshots: snapshots, probe: probe, api: api, logging: logging)
        config.cluster = cluster
        return config
    }

    // MARK: paths

    /// A path value as written: no `~`, no NUL.
    func checkedPath(_ s: String, _ t: TableReader, _ key: String) -> String? {
        if s.hasPrefix("~") { t.problem(key, "'~' is not expanded: write the full path"); return nil }
        if s.contains("\0") { t.problem(key, "must not contain NUL"); return nil }
        return s
    }

    /// A path value resolved against the state directory.
    func path(_ t: TableReader, _ key: String) -> String? {
        guard let s = t.string(key), let p = checkedPath(s, t, key) else { return nil }
        return Paths.resolve(p, against: stateDirectory)
    }

    // MARK: [model]

    /// What `method = "paper"` overrides of the file: the keys it ignored.
    struct Pinned { var keys: [String] = [] }

    /// The model keys of `[model]` that set a method option (the ones `method = "paper"` pins).
    static let modelMethodKeys = ["ks", "kd", "top_k", "alpha", "beta", "gamma", "nce", "nce_tau", "nce_tau_start", "nce_tau_steps", "nce_static", "static_consistency", "static_consistency_grad", "fid_v_grad", "nce_queue",
                                  "nce_reverse", "nce_static_negative", "v_heads", "v_heads_init", "v_heads_shared_steps", "difference", "static_view", "tau", "eps", "margin", "sinkhorn_iterations",
                                  "queue_length", "sigma"]
    /// The `[training]` keys that belong to the method (pinned by `method = "paper"` too).
    static let trainingMethodKeys = ["lr", "momentum", "weight_decay", "lr_schedule", "lr_hold_steps"]

    /// The model from its preset, method and overrides; the flag says whether the preset was valid (if not, the
    /// defaults stand in so that the rest can still be checked, but size-dependent checks are skipped). With
    /// `method = "paper"` the method keys are still checked, then ignored: the spec's configuration is pinned.
    func readModel(_ t: TableReader, _ training: TableReader) -> (String, ModelConfig, Bool, ModelConfig.Method, Pinned) {
        let presets = ["tiny", "small", "paper"]
        var preset = "small"
        var known = true
        if let p = t.string("preset") {
            if presets.contains(p) { preset = p } else {
                known = false
                t.problem("preset", "must be one of \(presets.joined(separator: ", ")), got \"\(p)\""
                    + TableReader.suggestion(for: p, among: presets))
            }
        }
        let method = t.choice("method", ModelConfig.Method.self) ?? .conceptd
        var c = (try? ModelConfig.preset(preset, method: method)) ?? ModelConfig()
        if let v = t.int("ks", min: 1, max: 4096) { c.ks = v }
        if let v = t.int("kd", min: 1, max: 4096) { c.kd = v }
        if let v = t.int("top_k", min: 1) {
            if v > min(c.ks, c.kd) { t.problem("top_k", "must be at most min(ks, kd) = \(min(c.ks, c.kd)), got \(v)") } else { c.topK = v }
        }
        if let v = t.double("alpha", min: 0, max: 1000) { c.alpha = .init(v) }
        if let v = t.double("beta", min: 0, max: 1000) { c.beta = .init(v) }
        if let v = t.double("gamma", min: 0, max: 1000) { c.gamma = .init(v) }
        if let v = t.double("nce", min: 0, max: 1000) { c.nce = .init(v) }
        if let v = t.double("nce_static", min: 0, max: 1000) { c.nceStatic = .init(v) }
        if let v = t.double("static_consistency", min: 0, max: 1000) { c.staticConsistency = .init(v) }
        if let v = t.choice("static_consistency_grad", ModelConfig.ConsistencyGradient.self) {
            if c.staticConsistency > 0 { c.staticConsistencyGrad = v } else if v != .all { t.problem("static_consistency_grad", "needs static_consistency > 0 (there is no consistency term to train)") }
        }
        if let v = t.choice("fid_v_grad", ModelConfig.FidelityGradient.self) { c.fidVGrad = v }
        if let v = t.bool("nce_queue") { c.nceQueue = v }
        if let v = t.bool("nce_reverse") { c.nceReverse = v }
        if let v = t.bool("nce_static_negative") { c.nceStaticNegative = v }
        if let v = t.double("nce_tau", above: 0, max: 100) { c.nceTau = .init(v) }
        let tauStart = t.double("nce_tau_start", above: 0, max: 100), tauSteps = t.int("nce_tau_steps", min: 1, max: Self.maxStepCount)
        if let tauStart, let tauSteps {
            c.nceTauStart = .init(tauStart); c.nceTauSteps = tauSteps
        } else if tauStart != nil, !t.has("nce_tau_steps") {
            t.problem("nce_tau_start", "needs nce_tau_steps, the steps over which the temperature falls to nce_tau")
        } else if tauSteps != nil, !t.has("nce_tau_start") {
            t.problem("nce_tau_steps", "has no effect without nce_tau_start, the temperature of the first step")
        }
        if let v = t.choice("difference", ModelConfig.Difference.self) { c.difference = v }
        if let v = t.choice("static_view", ModelConfig.StaticView.self) { c.staticView = v }
        if let v = t.double("tau", above: 0, max: 100) { c.tau = .init(v) }
        if let v = t.double("eps", above: 0, max: 100) { c.eps = .init(v) }
        if let v = t.double("margin", min: 0, max: 100) { c.margin = .init(v) }
        if let v = t.int("sinkhorn_iterations", min: 1, max: 1000) { c.sinkhornIterations = v }
        if let v = t.int("queue_length", min: 0, max: 1 << 20) { c.queueLength = v }
        if let v = t.choice("sigma", ModelConfig.Sigma.self) { c.sigma = v }
        if let v = t.choice("v_heads", ModelConfig.VHeads.self) { c.vHeads = v }
        // The method's identity init and shared phase belong to its split heads: shared heads have neither.
        if c.vHeads == .shared { c.vHeadsInit = .random }
        if let v = t.choice("v_heads_init", ModelConfig.VHeadsInit.self) {
            if c.vHeads == .split { c.vHeadsInit = v } else if v != .random { t.problem("v_heads_init", "needs v_heads = \"split\" (there are no heads to initialise)") }
        }
        if c.vHeadsInit != .identity { c.vHeadsSharedSteps = 0 }
        if let v = t.int("v_heads_shared_steps", min: 0, max: Self.maxStepCount) {
            if v == 0 || (c.vHeads == .split && c.vHeadsInit == .identity) { c.vHeadsSharedSteps = v } else {
                t.problem("v_heads_shared_steps", "needs v_heads = \"split\" with v_heads_init = \"identity\" (the heads it holds as one)")
            }
        }
        if c.staticConsistencyGrad == .head && c.vHeads != .split {
            // A method's head-only consistency belongs to its split heads; asked for in the file, it is a problem.
            if t.has("static_consistency_grad") {
                t.problem("static_consistency_grad", "\"head\" needs v_heads = \"split\" (there is no static head to train)")
            } else { c.staticConsistencyGrad = .all }
        }
        t.rejectUnknownKeys()

        // The optimiser lives in ModelConfig; its keys are in [training].
        if let v = training.double("lr", above: 0, max: 10) { c.learningRate = .init(v) }
        if let v = training.double("momentum", min: 0, below: 1) { c.momentum = .init(v) }
        if let v = training.double("weight_decay", min: 0, below: 1) { c.weightDecay = .init(v) }

        var pinned = Pinned()
        if method == .paper {
            pinned.keys = Self.modelMethodKeys.filter(t.has).map { "model.\($0)" }
            c.apply(method: .paper)
        }

        // The model's own check; only reached for combinations the keys above do not catch.
        do { try c.validate() } catch {
            let reported = log.problems.contains { p in
                p.keyPath.components.first == .key("model") || p.keyPath.components.first == .key("training")
            }
            if !reported { log.add("model", "\(error)") }
        }
        return (preset, c, known, method, pinned)
    }

    // MARK: [training]

    /// The largest step count a key may name (`max_steps`, `warmup_steps`): a billion steps is decades of training.
    static let maxStepCount = 1_000_000_000
    /// The largest step interval (`every_steps` of snapshots and the probe).
    static let maxStepInterval = 10_000_000

    func readTraining(_ t: TableReader, method: ModelConfig.Method, pinned: Pinned) -> (settings: TrainingSettings, pinned: [String]) {
        var s = TrainingSettings(method: method)
        if let v = t.int("batch_size", min: 2, max: 4096, hint: " (batch norm and Sinkhorn need at least 2 clips)") { s.batchSize = v }
        if let v = t.int("warmup_steps", min: 0, max: Self.maxStepCount) { s.warmupSteps = v }
        if let v = t.int("replay_size", min: 1, max: 1 << 20) {
            if v < s.batchSize {
                t.problem("replay_size", "must be at least batch_size (\(s.batchSize)) to form a batch, got \(v)")
            } else { s.replaySize = v }
        } else if !t.has("replay_size") {
            s.replaySize = max(s.replaySize, s.batchSize)
        }
        if let v = t.choice("replay_policy", ReplayPolicy.self) { s.replayPolicy = v }
        if let v = t.int("threads", min: 0, max: 1024, hint: " (0: one per core)") { s.threads = v }
        if let v = t.int("seed", min: 0) { s.seed = UInt64(v) }
        if let v = t.int("max_steps", min: 1, max: Self.maxStepCount) { s.maxSteps = v }
        if let v = t.double("clip_fps", above: 0, max: 1000) { s.clipFps = v }
        let hold = t.int("lr_hold_steps", min: 1, max: 1 << 40)
        switch t.string("lr_schedule") {
        case nil:
            if let hold, case .inverseSquareRoot = s.schedule { s.schedule = .inverseSquareRoot(hold: hold) }
        case "constant": s.schedule = .constant
        case "rsqrt": s.schedule = .inverseSquareRoot(hold: hold ?? 1000)
        case let other?: t.problem("lr_schedule", "must be one of constant, rsqrt, got \"\(other)\""
                                    + TableReader.suggestion(for: other, among: ["constant", "rsqrt"]))
        }
        var ignored: [String] = []
        if method == .paper {
            ignored = Self.trainingMethodKeys.filter(t.has).map { "training.\($0)" }
            s.schedule = ModelConfig.Method.paper.training.schedule
        }
        return (s, ignored)
    }

    // MARK: [[source]]

    /// One source; `model` is nil when the preset is unknown (then clip-size checks are skipped).
    func readSource(_ t: TableReader, model: ModelConfig?) -> SourceConfig? {
        defer { t.rejectUnknownKeys() }
        t.require("name", "a unique name for logs and the API")
        t.require("uri", "file:, folder:, v4l2:, lavfi: or a network URL")
        let name = t.string("name")
        if let name, !Self.isValidSourceName(name) {
            t.problem("name", "use 1-64 letters, digits, '-', '_' or '.' (not first), got \"\(name)\"")
        }
        var uri = t.string("uri")
        var kind: SourceKind?
        if let u = uri {
            kind = SourceKind(uri: u)
            if kind == nil {
                t.problem("uri", "unknown source type in \"\(SourceURI.redacting(u))\": use file:, folder:, v4l2:, lavfi:, "
                    + "or one of \(SourceKind.networkSchemes.sorted().map { $0 + "://" }.joined(separator: ", "))")
            }
            if let k = kind { uri = checkURI(u, kind: k, t) }
        }

        var s = SourceConfig(name: name ?? "", uri: uri ?? "")
        if let v = t.bool("enabled") { s.enabled = v }
        if let v = t.int("rank", min: 0, max: 65535) { s.rank = v }
        if let v = t.string("host") {
            if t.has("rank") { t.problem("host", "give either rank or host, not both") }
            else if v.isEmpty || v.contains(where: \.isWhitespace) { t.problem("host", "must be a host name, got \"\(v)\"") }
            else { s.host = v }
        }
        if let v = t.stringTable("options") { s.options = v }
        if let v = t.double("fps", above: 0, max: 1000) { s.fps = v }
        if let v = t.int("stride", min: 1, max: 100_000) { s.stride = v }
        if let model {
            let side = max(model.height, model.width)
            let hint = " (the model's clips are \(model.width)x\(model.height))"
            if let v = t.int("short_side", min: side, max: 16384, hint: hint) { s.shortSide = v }
        } else if let v = t.int("short_side", min: 1, max: 16384) {
            s.shortSide = v
        }
        if let v = t.choice("crop", CropMode.self) { s.crop = v }
        if let v = t.bool("flip") { s.flip = v }
        if let v = t.double("stall_seconds", above: 0, max: 86400) { s.stallSeconds = v }
        if let v = t.double("reconnect_max_seconds", min: 1, max: 3600) { s.reconnectMaxSeconds = v }

        let isFolder = kind == .folder
        if let v = t.double("settle_seconds", min: 0, max: 86400) {
            if isFolder || kind == nil { s.settleSeconds = v } else { t.problem("settle_seconds", "only folder: sources take settle_seconds") }
        }
        if let a = t.string("after") {
            if !isFolder && kind != nil { t.problem("after", "only folder: sources take 'after'") }
            else if let v = readAfter(a, t) { s.after = v }
        }
        if isFolder && s.after == nil { s.after = .keep }

        let isNetwork = kind == .network
        if let u = t.string("username") {
            if !isNetwork && kind != nil { t.problem("username", "only network sources (scheme://) take a username") }
            else if let uri, SourceURI.authority(uri)?.userinfo != nil { t.problem("username", "the uri already names a user: give it in one place") }
            else { s.username = u }
        }
        if let c = t.string("password_credential") {
            if !isNetwork && kind != nil {
                t.problem("password_credential", "only network sources (scheme://) take a password")
            } else if let uri, let ui = SourceURI.authority(uri)?.userinfo, ui.contains(":") {
                t.problem("password_credential", "the uri already holds a password: remove it from the uri")
            } else if s.username == nil, let uri, SourceURI.authority(uri)?.userinfo == nil {
                t.problem("password_credential", "a password needs a user: set username or write user@ in the uri")
            } else if let secret = readCredential(c, t, "password_credential") {
                s.password = secret
                s.passwordCredential = c
            }
        }
        return name == nil || uri == nil || kind == nil ? nil : s
    }

    static func isValidSourceName(_ n: String) -> Bool {
        (1...64).contains(n.utf8.count) && !n.hasPrefix(".") && n.unicodeScalars.allSatisfy { c in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "-" || c == "_" || c == "."
        }
    }

    /// Checks a URI of a known kind; returns it with relative file and folder paths resolved.
    func checkURI(_ u: String, kind: SourceKind, _ t: TableReader) -> String? {
        switch kind {
        case .file, .folder:
            var p = u
            if kind == .folder { p = String(u.dropFirst("folder:".count)) } else if u.hasPrefix("file:") { p = String(u.dropFirst("file:".count)) }
            if p.hasPrefix("//") { p = String(p.dropFirst(2)) }  // file:///abs
            guard !p.isEmpty else { t.problem("uri", "\(kind.rawValue): needs a path"); return nil }
            guard let cp = checkedPath(p, t, "uri") else { return nil }
            let abs = Paths.resolve(cp, against: stateDirectory)
            if kind == .file {
                switch FileIO.kind(abs) {
                case .missing: t.problem("uri", "\(abs) does not exist")
                case .directory: t.problem("uri", "\(abs) is a directory: use folder:\(abs) for a watch folder")
                default: if !FileIO.isReadable(abs) { t.problem("uri", "\(abs) is not readable") }
                }
                return "file:" + abs
            }
            switch FileIO.kind(abs) {
            case .missing: break  // the daemon creates it
            case .directory: if !FileIO.isReadable(abs, directory: true) { t.problem("uri", "\(abs) is not readable") }
            default: t.problem("uri", "\(abs) exists and is not a directory")
            }
            return "folder:" + abs
        case .v4l2:
            let dev = u.dropFirst("v4l2:".count)
            if !dev.hasPrefix("/") { t.problem("uri", "v4l2: needs a device path such as v4l2:/dev/video0"); return nil }
            return u
        case .lavfi:
            if String(u.dropFirst("lavfi:".count)).trimmingSpaces.isEmpty { t.problem("uri", "lavfi: needs a filter graph such as lavfi:testsrc2=size=320x240:rate=25"); return nil }
            return u
        case .network:
            if (SourceURI.host(u) ?? "").isEmpty { t.problem("uri", "\(SourceURI.redacting(u)) has no host"); return nil }
            if u.contains(where: { $0 == " " || $0 == "\n" || $0 == "\t" }) { t.problem("uri", "must not contain spaces"); return nil }
            return u
        }
    }

    func readAfter(_ a: String, _ t: TableReader) -> AfterIngest? {
        switch a {
        case "keep": return .keep
        case "delete": return .delete
        default:
            if a.hasPrefix("move:") {
                let d = String(a.dropFirst(5))
                guard !d.isEmpty, let p = checkedPath(d, t, "after") else { t.problem("after", "move: needs a directory: move:/path"); return nil }
                return .move(Paths.resolve(p, against: stateDirectory))
            }
            t.problem("after", "must be keep, delete or move:<directory>, got \"\(a)\"")
            return nil
        }
    }

    func checkDuplicateNames(_ sources: [SourceConfig], _ tables: [TableReader]) {
        var first: [String: ConfigKeyPath] = [:]
        for t in tables {
            guard case .string(let name)? = t.node("name") else { continue }
            if let p = first[name] {
                t.problem("name", "duplicate source name '\(name)' (first used by \(p))")
            } else {
                first[name] = t.path
            }
        }
    }

    // MARK: [cluster]

    func readCluster(_ t: TableReader) -> ClusterConfig? {
        defer { t.rejectUnknownKeys() }
        t.require("ranks", "the number of processes mpirun starts (-np)")
        guard let ranks = t.int("ranks", min: 1, max: 65536) else { return nil }
        var c = ClusterConfig(ranks: ranks)
        if let v = t.bool("sync_batchnorm") { c.syncBatchNorm = v }
        if let v = t.int("checksum_every", min: 1, max: 1_000_000) { c.checksumEvery = v }
        if let hosts = t.stringArray("hosts") {
            if hosts.count != ranks {
                t.problem("hosts", "lists \(hosts.count) host\(hosts.count == 1 ? "" : "s") for \(ranks) ranks: one per rank, in rank order")
            } else if let bad = hosts.first(where: { $0.isEmpty || $0.contains(where: \.isWhitespace) }) {
                t.problem("hosts", "\"\(bad)\" is not a host name")
            } else {
                c.hosts = hosts
            }
        }
        return c
    }

    /// Gives every source with `host` the first rank on that host (`[cluster] hosts`).
    func resolveHosts(_ sources: inout [SourceConfig], _ tables: [TableReader], cluster: ClusterConfig?) {
        for i in sources.indices where i < tables.count {
            guard let host = sources[i].host else { continue }
            guard let cluster, !cluster.hosts.isEmpty else {
                tables[i].problem("host", "host \"\(host)\" needs [cluster] hosts (the host of each rank)")
                continue
            }
            guard let rank = cluster.hosts.firstIndex(of: host) else {
                tables[i].problem("host", "\"\(host)\" is none of [cluster] hosts (\(cluster.hosts.joined(separator: ", ")))")
                continue
            }
            sources[i].rank = rank
        }
    }

    /// Every source's rank exists, every rank has an enabled source, and no input is ingested by two ranks.
    func checkOwnership(_ sources: [SourceConfig], _ tables: [TableReader], cluster: ClusterConfig?) {
        let ranks = cluster?.ranks ?? 1
        for (source, t) in zip(sources, tables) where source.rank >= ranks {
            t.problem("rank", cluster == nil
                ? "rank \(source.rank) needs a [cluster] section with ranks > \(source.rank)"
                : "rank \(source.rank) is not in the cluster's ranks 0..<\(ranks)")
        }
        guard let cluster else { return }
        var owner: [String: (rank: Int, name: String)] = [:]
        for (source, t) in zip(sources, tables) where source.enabled && !source.uri.isEmpty {
            if let first = owner[source.uri], first.rank != source.rank {
                t.problem("uri", "\(source.redactedURI) is ingested by rank \(first.rank) (source '\(first.name)') and rank "
                    + "\(source.rank): give each input to one rank")
            } else if owner[source.uri] == nil {
                owner[source.uri] = (source.rank, source.name)
            }
        }
        guard !sources.isEmpty else { return }
        let idle = (0..<cluster.ranks).filter { r in !sources.contains { $0.enabled && $0.rank == r } }
        if !idle.isEmpty {
            log.add(("cluster" as ConfigKeyPath).appending("ranks"), "rank\(idle.count == 1 ? "" : "s") "
                + "\(idle.map(String.init).joined(separator: ", ")) \(idle.count == 1 ? "has" : "have") no enabled source: "
                + "every rank must ingest data (set rank = N in a [[source]])")
        }
    }

    /// A secret from `$CREDENTIALS_DIRECTORY/<name>`.
    func readCredential(_ name: String, _ t: TableReader, _ key: String) -> Secret? {
        guard SecretFile.isValidCredentialName(name) else { t.problem(key, "\"\(name)\" is not a credential name (a file name without '/')"); return nil }
        guard let dir = environment.variables["CREDENTIALS_DIRECTORY"], !dir.isEmpty else {
            t.problem(key, "needs $CREDENTIALS_DIRECTORY: run under systemd with LoadCredential=\(name):/path/to/file, "
                + "or set CREDENTIALS_DIRECTORY to a directory holding a file '\(name)'")
            return nil
        }
        do { return try SecretFile.read(path: dir + "/" + name) } catch {
            t.problem(key, "credential '\(name)': \(error.description)")
            return nil
        }
    }

    // MARK: [snapshots]

    func readSnapshots(_ t: TableReader) -> SnapshotSettings {
        var s = SnapshotSettings(directory: Paths.resolve("snapshots", against: stateDirectory))
        if let d = path(t, "directory") { s.directory = d }
        let steps = t.int("every_steps", min: 1, max: Self.maxStepInterval)
        let seconds = t.double("every_seconds", min: 1, max: 604_800)
        if t.has("every_steps") || t.has("every_seconds") {
            s.everySteps = steps
            s.everySeconds = seconds
        }
        if let v = t.int("keep", min: 1, max: 1000) { s.keep = v }
        t.rejectUnknownKeys()
        return s
    }

    // MARK: [probe]

    func readProbe(_ t: TableReader) -> ProbeSettings? {
        defer { t.rejectUnknownKeys() }
        let set = path(t, "set")
        let manifest = path(t, "manifest")
        var input: ProbeSettings.Input?
        switch (t.has("set"), t.has("manifest")) {
        case (true, true):
            t.problem("manifest", "give either set (a directory of clips) or manifest (a file listing clips), not both")
        case (false, false):
            log.add(t.path, "missing required key 'set' or 'manifest' (the probe's clips)")
        case (true, false):
            if let set {
                switch FileIO.kind(set) {
                case .directory: if FileIO.isReadable(set, directory: true) { input = .set(set) } else { t.problem("set", "\(set) is not readable") }
                case .missing: t.problem("set", "\(set) does not exist")
                default: t.problem("set", "\(set) is not a directory")
                }
            }
        case (false, true):
            if let manifest {
                switch FileIO.kind(manifest) {
                case .file: if FileIO.isReadable(manifest) { input = .manifest(manifest) } else { t.problem("manifest", "\(manifest) is not readable") }
                case .missing: t.problem("manifest", "\(manifest) does not exist")
                default: t.problem("manifest", "\(manifest) is not a file")
                }
            }
        }
        let steps = t.int("every_steps", min: 1, max: Self.maxStepInterval)
        let minutes = t.double("every_minutes", above: 0, max: 10_080)
        guard let input else { return nil }
        var p = ProbeSettings(input: input)
        p.everySteps = steps
        p.everyMinutes = minutes
        if !t.has("every_steps") && !t.has("every_minutes") { p.everyMinutes = 60 }
        return p
    }

    // MARK: [api]

    func readAPI(_ t: TableReader) -> APISettings {
        defer { t.rejectUnknownKeys() }
        var a = APISettings()
        if let l = t.string("listen") {
            do { a.listen = try ListenAddress(parsing: l) } catch { t.problem("listen", error.message) }
        }
        let file = path(t, "token_file")
        let credential = t.string("token_credential")
        if t.has("token_file") && t.has("token_credential") {
            t.problem("token_credential", "give either token_file or token_credential, not both")
        } else if let file {
            do { a.token = try SecretFile.read(path: file); a.tokenSource = file } catch { t.problem("token_file", error.description) }
        } else if let credential {
            if let s = readCredential(credential, t, "token_credential") { a.token = s; a.tokenSource = "credential:\(credential)" }
        }
        let hasTokenKey = t.has("token_file") || t.has("token_credential")
        if !a.listen.isLoopback && !hasTokenKey {
            t.problem("listen", "\(a.listen) is reachable from other machines: set token_file or token_credential, "
                + "or listen on 127.0.0.1")
        }
        return a
    }

    // MARK: [logging]

    func readLogging(_ t: TableReader) -> LoggingSettings {
        var l = LoggingSettings()
        if let v = t.choice("level", LogLevel.self) { l.level = v }
        if let v = t.choice("format", LogFormat.self) { l.format = v }
        t.rejectUnknownKeys()
        return l
    }
}

/// Lexical path handling (no file system access).
enum Paths {
    /// `path` made absolute against `base` and normalised (`.`, `..`, repeated `/`).
    static func resolve(_ path: String, against base: String) -> String {
        let joined = path.hasPrefix("/") ? path : base + "/" + path
        var parts: [Substring] = []
        for c in joined.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            if c == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(c)
        }
        return "/" + parts.joined(separator: "/")
    }
}
