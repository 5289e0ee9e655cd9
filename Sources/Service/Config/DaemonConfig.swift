import ConceptModel
import Learner
import Media
import ConceptAPI

/// The daemon's whole configuration, read from a TOML file (see `configs/conceptd.toml` for every key).
///
/// Load it with ``DaemonConfig/load(file:environment:)``; a bad file throws a ``ConfigError`` listing every
/// problem. Paths in the result are absolute, secrets are read, and ``description`` never shows a secret.
public struct DaemonConfig: Sendable, Equatable {
    /// The file this configuration was read from, if any.
    public var file: String?
    /// Where the daemon keeps its state (snapshots, ingest records); relative paths in the file resolve here.
    public var stateDirectory: String
    /// The model preset the `[model]` section started from (`tiny`, `small`, `paper`).
    public var preset: String
    /// The learning method `[model] method` chose (`conceptd` unless the file says otherwise).
    public var method: ModelConfig.Method = .conceptd
    /// Keys of the file that `method = "paper"` overrode (it pins the spec's configuration), in file order.
    public var pinnedKeys: [String] = []
    /// The model: the preset with `[model]`'s overrides and `[training]`'s optimiser settings applied.
    public var model: ModelConfig
    /// The online training loop.
    public var training: TrainingSettings
    /// The video sources, in file order (disabled ones included, see ``SourceConfig/enabled``).
    public var sources: [SourceConfig]
    /// When and where snapshots are written.
    public var snapshots: SnapshotSettings
    /// The concept probe, if configured.
    public var probe: ProbeSettings?
    /// The HTTP API.
    public var api: APISettings
    /// Log level and destination.
    public var logging: LoggingSettings
    /// The data-parallel job (`[cluster]`), if this configuration is for one; nil: one process.
    public var cluster: ClusterConfig? = nil

    /// The sources that are enabled.
    public var enabledSources: [SourceConfig] { sources.filter(\.enabled) }
    /// The enabled sources rank `rank` ingests (every enabled source in one process).
    public func enabledSources(rank: Int) -> [SourceConfig] { enabledSources.filter { $0.rank == rank } }
    /// Frames in each clip the sources must deliver: the model's `frames + 1`.
    public var clipFrames: Int { model.frames + 1 }
}

/// How the replay buffer chooses which clip to drop when it is full (the learner's own type).
public typealias ReplayPolicy = Learner.ReplayPolicy

/// `[training]`: the online loop. Learning rate, momentum and weight decay live in ``DaemonConfig/model``.
public struct TrainingSettings: Sendable, Equatable {
    /// Clips per step (at least 2: batch norm and Sinkhorn need two clips).
    public var batchSize: Int = 8
    /// Steps trained without the local loss `L_loc` before it joins.
    public var warmupSteps: Int = 1000
    /// Clips the replay buffer holds (at least ``batchSize``).
    public var replaySize: Int = 256
    /// What the replay buffer drops when full.
    public var replayPolicy: ReplayPolicy = .fifo
    /// Compute threads; 0 means one per core.
    public var threads: Int = 0
    /// Seed of every random choice; nil: drawn once at first start and kept in the snapshots.
    public var seed: UInt64? = nil
    /// Stop (with a final snapshot) after this many steps; nil: run until stopped.
    public var maxSteps: Int? = nil
    /// How the learning rate changes with the step.
    public var schedule: LearningRateSchedule = .constant
    /// Frames per second a source samples when its `fps` is not set.
    public var clipFps: Double = 16

    /// The defaults.
    public init() {}

    /// The defaults of `method`.
    public init(method: ModelConfig.Method) {
        let m = method.training
        batchSize = m.batchSize
        warmupSteps = m.warmupSteps
        schedule = m.schedule
        clipFps = m.clipFps
    }
}

/// How frames are cropped to the model's size after the short-side resize.
public enum CropMode: String, Sendable, Equatable, CaseIterable {
    /// The centre of the frame.
    case center
    /// A random position per clip (augmentation for training).
    case random
}

/// What a watch folder does with a file once it has been ingested (the media layer's own type).
public typealias AfterIngest = Media.AfterIngest

/// One `[[source]]`: plain data for the media layer, which interprets the URI.
public struct SourceConfig: Sendable, Equatable {
    /// Unique name, used in logs, statistics and the API.
    public var name: String
    /// The source as written, relative `file:`/`folder:` paths made absolute. Never holds a credential
    /// (see ``connectionURI``); it may hold a password the user wrote into it, so log ``redactedURI`` instead.
    public var uri: String
    /// Whether the daemon ingests from it.
    public var enabled: Bool = true
    /// libav options passed to the input as they are (`rtsp_transport = "tcp"`, `timeout = "5000000"`).
    public var options: [String: String] = [:]
    /// Frames per second sampled from the video; nil: the media layer's default.
    public var fps: Double? = nil
    /// Sampled frames between the starts of consecutive clips; nil: the media layer's default.
    public var stride: Int? = nil
    /// Short side the frames are resized to before cropping; nil: the model's larger side.
    public var shortSide: Int? = nil
    /// How frames are cropped to the model's size.
    public var crop: CropMode = .random
    /// Random horizontal flips (augmentation).
    public var flip: Bool = false
    /// Seconds without a frame after which a live source is reopened; nil: the media layer's default.
    public var stallSeconds: Double? = nil
    /// The cap of the reconnect delay in seconds (1...3600); nil: the media layer's default (60). The delay
    /// starts at 1 s and doubles over failed attempts only; a session that delivered frames starts again at 1 s.
    public var reconnectMaxSeconds: Double? = nil
    /// Seconds a watch-folder file must stop growing before it is ingested; nil: the media layer's default.
    public var settleSeconds: Double? = nil
    /// What a watch folder does with ingested files; nil for other sources (and then `keep`).
    public var after: AfterIngest? = nil
    /// User name spliced into a network URI.
    public var username: String? = nil
    /// Password read from `$CREDENTIALS_DIRECTORY/<password_credential>`.
    public var password: Secret? = nil
    /// The credential's name, if the password came from one (safe to log).
    public var passwordCredential: String? = nil
    /// The rank of a data-parallel job that ingests it (`rank`, or the first rank on `host`; 0 by default).
    public var rank: Int = 0
    /// The machine that ingests it (`host`, one of `[cluster] hosts`), if the file names one instead of a rank.
    public var host: String? = nil

    /// A source with a name and URI and defaults for the rest.
    public init(name: String, uri: String) {
        self.name = name
        self.uri = uri
    }

    /// What kind of source the URI names.
    public var kind: SourceKind { SourceKind(uri: uri) ?? .file }

    /// The URI to hand to libav: ``uri`` with ``username`` and ``password`` spliced in. Contains the secret:
    /// never log it.
    public var connectionURI: String {
        guard username != nil || password != nil else { return uri }
        return SourceURI.splice(uri: uri, username: username, password: password?.value)
    }

    /// ``uri`` with any password replaced by `***` (and the user name kept): safe for logs.
    public var redactedURI: String {
        let u = SourceURI.redacting(uri)
        guard username != nil || password != nil else { return u }
        return SourceURI.splice(uri: u, username: username, password: password == nil ? nil : "***", encode: false)
    }
}

/// The kinds of source URI the configuration accepts.
public enum SourceKind: String, Sendable, Equatable, CaseIterable {
    /// `file:/path` or a bare path: decoded once.
    case file
    /// `folder:/path`: a watch folder.
    case folder
    /// `v4l2:/dev/videoN`: a capture device.
    case v4l2
    /// `lavfi:<graph>`: a libavfilter source graph (synthetic live video).
    case lavfi
    /// `scheme://...`: a network stream libavformat opens (rtsp, http, udp, tcp, rtmp, srt, ...).
    case network

    /// Network schemes accepted in `scheme://` URIs.
    public static let networkSchemes: Set<String> = [
        "rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp", "hls",
    ]

    /// The kind of a URI, nil when the URI has an unknown scheme.
    public init?(uri: String) {
        if uri.hasPrefix("/") || uri.hasPrefix("./") || uri.hasPrefix("../") { self = .file; return }
        guard let colon = uri.firstIndex(of: ":") else { self = .file; return }
        switch uri[..<colon] {
        case "file": self = .file
        case "folder": self = .folder
        case "v4l2": self = .v4l2
        case "lavfi": self = .lavfi
        default:
            guard uri[colon...].hasPrefix("://"), Self.networkSchemes.contains(uri[..<colon].lowercased()) else { return nil }
            self = .network
        }
    }
}

/// `[snapshots]`: atomic snapshots of the learner.
public struct SnapshotSettings: Sendable, Equatable {
    /// Directory holding the snapshot generations (absolute).
    public var directory: String
    /// Write one every this many steps (nil: not by steps).
    public var everySteps: Int? = nil
    /// Write one every this many seconds (nil: not by time). With both, whichever comes first.
    public var everySeconds: Double? = 600
    /// Generations kept (the newest ones); older ones are deleted once a new one is complete.
    public var keep: Int = 3

    /// Settings writing into `directory`.
    public init(directory: String) { self.directory = directory }
}

/// `[probe]`: the concept probe (parsed and validated here; the probe issue runs it).
public struct ProbeSettings: Sendable, Equatable {
    /// Where the probe clips come from.
    public enum Input: Sendable, Equatable {
        /// A directory of clips (absolute path).
        case set(String)
        /// A manifest file listing clips (absolute path).
        case manifest(String)
    }
    /// The probe's clips.
    public var input: Input
    /// Run every this many steps (nil: not by steps).
    public var everySteps: Int? = nil
    /// Run every this many minutes (nil: not by time).
    public var everyMinutes: Double? = nil

    /// A probe over `input`.
    public init(input: Input) { self.input = input }
}

/// `[api]`: the HTTP API.
public struct APISettings: Sendable, Equatable {
    /// Address and port the API listens on.
    public var listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 8787)
    /// Bearer token required by the API (nil: none; only allowed on loopback).
    public var token: Secret? = nil
    /// Where the token came from (a file path or `credential:<name>`), safe to log.
    public var tokenSource: String? = nil

    /// The defaults: 127.0.0.1:8787 without a token.
    public init() {}
}

/// Minimum severity of log records.
public enum LogLevel: String, Sendable, Equatable, CaseIterable {
    /// Everything, including per-step detail.
    case trace
    /// Diagnostics.
    case debug
    /// Normal operation (the default).
    case info
    /// Significant events: sources going live or failing, snapshots written.
    case notice
    /// Problems the daemon works around.
    case warning
    /// Failures of a part (a source, a snapshot write).
    case error
    /// Failures of the daemon.
    case critical
}

/// Where log records go.
public enum LogFormat: String, Sendable, Equatable, CaseIterable {
    /// The journal when stderr is connected to it (`JOURNAL_STREAM`), plain text otherwise.
    case auto
    /// Always the journal's native protocol, with structured fields.
    case journal
    /// Always plain text lines on stderr.
    case text
}

/// `[logging]`.
public struct LoggingSettings: Sendable, Equatable {
    /// Minimum level logged.
    public var level: LogLevel = .info
    /// Destination.
    public var format: LogFormat = .auto

    /// The defaults: info, auto.
    public init() {}
}

/// `[cluster]`: one model trained by several processes (`mpirun -np ranks conceptd ...`), each ingesting its own
/// sources. Rank 0 keeps the snapshots, runs the probe and serves the API for the whole job.
public struct ClusterConfig: Sendable, Equatable {
    /// The number of processes the job is launched with; every one must own at least one enabled source.
    public var ranks: Int
    /// Whether batch norm in training uses every rank's batch (the statistics of one large batch).
    public var syncBatchNorm: Bool = true
    /// Every this many steps the ranks compare checksums of their parameters; a mismatch ends the job.
    public var checksumEvery: Int = 100
    /// The host each rank runs on (`hosts[r]` is rank r's), when sources are given to hosts; empty: by rank only.
    public var hosts: [String] = []

    /// A job of `ranks` processes with the defaults.
    public init(ranks: Int) { self.ranks = ranks }
}
