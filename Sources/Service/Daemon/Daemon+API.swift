import ConceptModel
import Foundation
import Learner
import Media
import Autograd
import ConceptAPI
import ConceptReports
import TensorKernels

/// The daemon as the HTTP API's backend: every answer is a snapshot of the running parts, read without
/// stopping them.
extension Daemon: APIBackend {
    public func apiStatus() -> API.Status {
        let t = loop.status, cfg = current.withLock { $0 }
        let stats = ingest.statistics()
        let m = cfg.model
        let state: String
        if let max = cfg.training.maxSteps, t.step >= max { state = "max steps reached" }
        else { state = t.waitingForData ? "waiting for clips" : "training" }
        return API.Status(
            version: conceptdVersion, startedAt: startedAt, uptimeSeconds: Date().timeIntervalSince(startedAt), state: state,
            model: API.ModelSummary(preset: cfg.preset, widths: m.widths, frames: m.frames, height: m.height, width: m.width,
                                    ks: m.ks, kd: m.kd, topK: m.topK),
            training: trainingSummary(t, cfg),
            snapshot: API.SnapshotSummary(step: t.lastSnapshotStep, path: t.lastSnapshot,
                                          ageSeconds: t.lastSnapshotTime.map { Date().timeIntervalSince($0) },
                                          error: t.lastSnapshotError),
            sources: API.SourceCounts(total: stats.count, live: stats.filter { $0.state == .live }.count),
            probe: probeHeadline(),
            residentBytes: DaemonMetrics.residentBytes(),
            cluster: t.ranks.isEmpty ? nil : API.ClusterSummary(worldSize: t.ranks.count, ranks: t.ranks.map {
                API.RankSummary(rank: $0.rank, step: $0.step, clipsPerSecond: $0.clipsPerSecond, sourcesLive: $0.liveSources,
                                sources: $0.sources, replayFill: $0.replayFill, lastAllreduceSeconds: $0.lastAllReduceSeconds,
                                hasData: $0.hasData)
            }))
    }

    func trainingSummary(_ t: TrainingSnapshot, _ cfg: DaemonConfig) -> API.TrainingSummary {
        API.TrainingSummary(step: t.step, skippedSteps: t.skipped, rollbacks: t.rollbacks, losses: LossTerms(t.losses),
                            lossAverage: LossTerms(t.lossAverage), clipsPerSecond: t.clipsPerSecond, replayFill: t.replayFill,
                            replayCapacity: cfg.training.replaySize, queueFill: t.queueFill, queueCapacity: cfg.model.queueLength,
                            warmupSteps: cfg.training.warmupSteps, localLossOn: t.step >= cfg.training.warmupSteps,
                            batchSize: cfg.training.batchSize)
    }

    public func apiSources() -> [API.Source] {
        let cfg = current.withLock { $0 }
        let mine = Self.sources(ingest: ingest, replay: replay, statistics: statistics, config: cfg,
                                rank: communicator.size > 1 ? communicator.rank : nil)
        // Rank 0 of a job: every other rank's sources too, as of the last gather (every few seconds).
        let others = loop.status.rankReports.enumerated().filter { $0.offset != communicator.rank }.flatMap { _, bytes in
            (try? API.decoder().decode([API.Source].self, from: Data(bytes))) ?? []
        }
        return mine + others
    }

    /// This process's sources as the API shows them (`rank` set in a data-parallel job).
    static func sources(ingest: MediaIngest, replay: ReplayBuffer, statistics: LiveStatistics, config cfg: DaemonConfig,
                        rank: Int?) -> [API.Source] {
        let inReplay = replay.countsBySource
        let configured = Dictionary(cfg.sources.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        return ingest.statistics().map { st in
            var st = st
            let source = configured[st.name]
            st.uri = source?.redactedURI ?? "<redacted>"
            let concepts = statistics.source(named: st.name)
            // Another rank's attention overlay lives in that rank's memory: only rank 0's (or one process's) is served.
            let served = concepts != nil && (rank ?? 0) == 0
            return API.Source(name: st.name, uri: st.uri, kind: source?.kind.rawValue ?? "unknown", statistics: st,
                              replayClips: inReplay[st.name] ?? 0, concepts: concepts,
                              attentionPath: served ? "/\(API.prefix)/sources/\(Self.pathComponent(st.name))/attention.png" : nil,
                              rank: rank)
        }
    }

    /// Percent-encodes a name for use as one path component.
    static func pathComponent(_ name: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name
    }

    public func apiSnapshot() async -> SnapshotOutcome { await loop.snapshotNow() }

    public func apiMetrics() -> [UInt8] {
        updateMetrics()
        return metrics.exposition()
    }

    /// Pulls every metric from the running parts into the registry.
    func updateMetrics() {
        let t = loop.status, cfg = current.withLock { $0 }, m = metrics
        m.gauge("conceptd_step", [], Double(t.step))
        m.counter("conceptd_skipped_steps_total", [], total: t.skipped)
        m.counter("conceptd_rollbacks_total", [], total: t.rollbacks)
        let terms: [(String, KeyPath<Losses, Scalar>)] = [("total", \.total), ("aln", \.aln), ("loc", \.loc), ("fid", \.fid),
                                                          ("div", \.div), ("nce", \.nce), ("nce_static", \.nceStatic),
                                                          ("consistency", \.consistency)]
        for (name, term) in terms {
            m.gauge("conceptd_loss", [("term", name)], Double(t.losses[keyPath: term]))
            m.gauge("conceptd_loss_average", [("term", name)], Double(t.lossAverage[keyPath: term]))
        }
        m.gauge("conceptd_clips_per_second", [], t.clipsPerSecond)
        m.gauge("conceptd_replay_clips", [], Double(t.replayFill))
        m.gauge("conceptd_replay_capacity", [], Double(cfg.training.replaySize))
        m.gauge("conceptd_sinkhorn_queue_rows", [], Double(t.queueFill))
        m.gauge("conceptd_waiting_for_data", [], t.waitingForData ? 1 : 0)
        m.gauge("conceptd_snapshot_step", [], Double(t.lastSnapshotStep ?? -1))
        m.gauge("conceptd_snapshot_age_seconds", [], t.lastSnapshotTime.map { Date().timeIntervalSince($0) } ?? Date().timeIntervalSince(startedAt))
        m.gauge("conceptd_snapshot_failing", [], t.lastSnapshotError == nil ? 0 : 1)
        m.gauge("conceptd_resident_memory_bytes", [], Double(DaemonMetrics.residentBytes()))
        m.gauge("conceptd_uptime_seconds", [], Date().timeIntervalSince(startedAt))
        if !t.ranks.isEmpty {
            m.gauge("conceptd_cluster_ranks", [], Double(t.ranks.count))
            for r in t.ranks {
                let l = [("rank", String(r.rank))]
                m.gauge("conceptd_rank_step", l, Double(r.step))
                m.gauge("conceptd_rank_clips_per_second", l, r.clipsPerSecond)
                m.gauge("conceptd_rank_sources_live", l, Double(r.liveSources))
                m.gauge("conceptd_rank_replay_clips", l, Double(r.replayFill))
                m.gauge("conceptd_rank_allreduce_seconds", l, r.lastAllReduceSeconds)
                m.gauge("conceptd_rank_waiting_for_data", l, r.hasData ? 0 : 1)
            }
        }
        for s in ingest.statistics() {
            let l = [("source", s.name)]
            m.gauge("conceptd_source_up", l, s.state == .live ? 1 : 0)
            m.gauge("conceptd_source_fps", l, s.measuredFPS)
            m.counter("conceptd_source_frames_decoded_total", l, total: s.framesDecoded)
            m.counter("conceptd_source_clips_total", l, total: s.clipsMade)
            m.counter("conceptd_source_clips_dropped_total", l, total: s.clipsDropped)
            m.counter("conceptd_source_reconnects_total", l, total: s.reconnects)
            m.counter("conceptd_source_stalls_total", l, total: s.stalls)
            m.counter("conceptd_source_bad_packets_total", l, total: s.badPackets)
            m.counter("conceptd_source_files_ingested_total", l, total: s.filesIngested)
            m.counter("conceptd_source_files_rejected_total", l, total: s.filesRejected)
        }
        updateConceptAndProbeMetrics()
    }
}
