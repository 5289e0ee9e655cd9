import ConceptReports
import Foundation

/// JSON bodies of the HTTP API (`/v1/...`). Field names are the API's contract: they are encoded as written here,
/// dates as ISO-8601 strings. The same types decode on the client side (``APIClient``, `conceptctl`).
public enum API {
    /// The API's version prefix.
    public static let prefix = "v1"

    /// The encoder every endpoint uses (ISO-8601 dates, sorted keys so output is stable).
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted] : [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    /// The matching decoder.
    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    /// `GET /v1/status`: the daemon at a glance.
    public struct Status: Codable, Sendable, Equatable {
        /// conceptd's version.
        public var version: String
        /// When this process started.
        public var startedAt: Date
        /// Seconds since then.
        public var uptimeSeconds: Double
        /// `training`, `waiting for clips`, `max steps reached`.
        public var state: String
        /// The model preset and its concept counts.
        public var model: ModelSummary
        /// Training progress.
        public var training: TrainingSummary
        /// The last snapshot.
        public var snapshot: SnapshotSummary
        /// Sources: how many, how many live.
        public var sources: SourceCounts
        /// The newest probe result's headline (nil before the first probe).
        public var probe: ProbeHeadline?
        /// Resident memory of the process in bytes.
        public var residentBytes: Int
        /// The data-parallel job, when the daemon is rank 0 of one (nil: one process).
        public var cluster: ClusterSummary?

        /// A value with every field given.
        package init(version: String, startedAt: Date, uptimeSeconds: Double, state: String, model: ModelSummary, training: TrainingSummary, snapshot: SnapshotSummary, sources: SourceCounts, probe: ProbeHeadline? = nil, residentBytes: Int, cluster: ClusterSummary? = nil) {
            self.cluster = cluster
            self.version = version
            self.startedAt = startedAt
            self.uptimeSeconds = uptimeSeconds
            self.state = state
            self.model = model
            self.training = training
            self.snapshot = snapshot
            self.sources = sources
            self.probe = probe
            self.residentBytes = residentBytes
        }
    }

    /// A data-parallel job (`/v1/status`'s `cluster`): its size and every rank as of rank 0's last step.
    public struct ClusterSummary: Codable, Sendable, Equatable {
        /// Ranks in the job.
        public var worldSize: Int
        /// Every rank, in rank order.
        public var ranks: [RankSummary]
        /// A value with every field given.
        package init(worldSize: Int, ranks: [RankSummary]) { self.worldSize = worldSize; self.ranks = ranks }
    }

    /// One rank of a data-parallel job.
    public struct RankSummary: Codable, Sendable, Equatable {
        public var rank: Int
        /// Steps applied (the same on every rank while the job is in step).
        public var step: Int
        public var clipsPerSecond: Double
        public var sourcesLive: Int
        public var sources: Int
        /// Clips in the rank's replay buffer.
        public var replayFill: Int
        /// Seconds of the rank's last gradient all-reduce.
        public var lastAllreduceSeconds: Double
        /// Whether the rank had a batch's worth of clips (the job waits for every rank).
        public var hasData: Bool
        /// A value with every field given.
        package init(rank: Int, step: Int, clipsPerSecond: Double, sourcesLive: Int, sources: Int, replayFill: Int,
                     lastAllreduceSeconds: Double, hasData: Bool) {
            self.rank = rank; self.step = step; self.clipsPerSecond = clipsPerSecond; self.sourcesLive = sourcesLive
            self.sources = sources; self.replayFill = replayFill; self.lastAllreduceSeconds = lastAllreduceSeconds
            self.hasData = hasData
        }
    }

    /// The model in one line.
    public struct ModelSummary: Codable, Sendable, Equatable {
        public var preset: String
        public var widths: [Int]
        public var frames: Int
        public var height: Int
        public var width: Int
        public var ks: Int
        public var kd: Int
        public var topK: Int

        /// A value with every field given.
        package init(preset: String, widths: [Int], frames: Int, height: Int, width: Int, ks: Int, kd: Int, topK: Int) {
            self.preset = preset
            self.widths = widths
            self.frames = frames
            self.height = height
            self.width = width
            self.ks = ks
            self.kd = kd
            self.topK = topK
        }
    }

    /// Training progress.
    public struct TrainingSummary: Codable, Sendable, Equatable {
        /// Steps applied.
        public var step: Int
        /// Steps skipped (non-finite loss or gradients).
        public var skippedSteps: Int
        /// Rollbacks to the last good snapshot.
        public var rollbacks: Int
        /// The last step's losses.
        public var losses: LossTerms
        /// Exponential moving averages of the losses.
        public var lossAverage: LossTerms
        /// Clips trained per second (recent).
        public var clipsPerSecond: Double
        /// Clips in the replay buffer / its capacity.
        public var replayFill: Int
        public var replayCapacity: Int
        /// Rows in each Sinkhorn queue / its length.
        public var queueFill: Int
        public var queueCapacity: Int
        /// Warm-up steps without `L_loc`, and whether `L_loc` is on now.
        public var warmupSteps: Int
        public var localLossOn: Bool
        /// Batch size.
        public var batchSize: Int

        /// A value with every field given.
        package init(step: Int, skippedSteps: Int, rollbacks: Int, losses: LossTerms, lossAverage: LossTerms, clipsPerSecond: Double, replayFill: Int, replayCapacity: Int, queueFill: Int, queueCapacity: Int, warmupSteps: Int, localLossOn: Bool, batchSize: Int) {
            self.step = step
            self.skippedSteps = skippedSteps
            self.rollbacks = rollbacks
            self.losses = losses
            self.lossAverage = lossAverage
            self.clipsPerSecond = clipsPerSecond
            self.replayFill = replayFill
            self.replayCapacity = replayCapacity
            self.queueFill = queueFill
            self.queueCapacity = queueCapacity
            self.warmupSteps = warmupSteps
            self.localLossOn = localLossOn
            self.batchSize = batchSize
        }
    }

    /// The newest snapshot.
    public struct SnapshotSummary: Codable, Sendable, Equatable {
        /// Its step (nil: none yet).
        public var step: Int?
        /// Its directory.
        public var path: String?
        /// Seconds since it was written by this process (nil: none yet, or written by an earlier run).
        public var ageSeconds: Double?
        /// The last snapshot error, if the last attempt failed.
        public var error: String?

        /// A value with every field given.
        package init(step: Int? = nil, path: String? = nil, ageSeconds: Double? = nil, error: String? = nil) {
            self.step = step
            self.path = path
            self.ageSeconds = ageSeconds
            self.error = error
        }
    }

    /// Source counts.
    public struct SourceCounts: Codable, Sendable, Equatable {
        public var total: Int
        public var live: Int

        /// A value with every field given.
        package init(total: Int, live: Int) {
            self.total = total
            self.live = live
        }
    }

    /// The headline of the newest probe.
    public struct ProbeHeadline: Codable, Sendable, Equatable {
        /// The step the probe ran at.
        public var step: Int
        /// When it finished.
        public var time: Date
        /// Linear-probe accuracy of the pooled feature `v` per label column.
        public var accuracy: [String: Double]

        /// A value with every field given.
        package init(step: Int, time: Date, accuracy: [String: Double]) {
            self.step = step
            self.time = time
            self.accuracy = accuracy
        }
    }

    /// `POST /v1/snapshot`'s answer.
    public struct SnapshotWritten: Codable, Sendable, Equatable {
        /// The step written.
        public var step: Int
        /// The snapshot's directory.
        public var path: String

        /// A value with every field given.
        package init(step: Int, path: String) {
            self.step = step
            self.path = path
        }
    }

    /// Every error body: `{"error": {"status": 404, "message": "..."}}`.
    public struct ErrorBody: Codable, Sendable, Equatable {
        /// The error.
        public struct Detail: Codable, Sendable, Equatable {
            public var status: Int
            public var message: String

            /// A value with every field given.
            package init(status: Int, message: String) {
                self.status = status
                self.message = message
            }
        }
        public var error: Detail
        /// An error body.
        public init(status: Int, message: String) { error = Detail(status: status, message: message) }
    }
}

extension API {
    /// One source: its ingest counters (URI with credentials redacted) and, once inspected, its current concepts.
    public struct Source: Codable, Sendable {
        /// The configured name.
        public var name: String
        /// The URI, credentials redacted.
        public var uri: String
        /// `file`, `folder`, `rtsp`, `lavfi`, `v4l2`, ...
        public var kind: String
        /// Ingest counters and state.
        public var statistics: SourceStatistics
        /// Clips of this source in the replay buffer now.
        public var replayClips: Int
        /// The top static and dynamic concepts of its latest inspected clip (nil until first inspected).
        public var concepts: SourceConcepts?
        /// Where its attention overlay is served (nil until first inspected; nil for another rank's source).
        public var attentionPath: String?
        /// In a data-parallel job, the rank that ingests it (nil in one process).
        public var rank: Int?

        /// A value with every field given.
        package init(name: String, uri: String, kind: String, statistics: SourceStatistics, replayClips: Int, concepts: SourceConcepts? = nil, attentionPath: String? = nil, rank: Int? = nil) {
            self.rank = rank
            self.name = name
            self.uri = uri
            self.kind = kind
            self.statistics = statistics
            self.replayClips = replayClips
            self.concepts = concepts
            self.attentionPath = attentionPath
        }
    }

    /// `GET /v1/training`: progress and the loss history.
    public struct Training: Codable, Sendable {
        /// Progress now.
        public var summary: TrainingSummary
        /// Downsampled history of every loss term.
        public var history: TrainingHistory

        /// A value with every field given.
        package init(summary: TrainingSummary, history: TrainingHistory) {
            self.summary = summary
            self.history = history
        }
    }
}
