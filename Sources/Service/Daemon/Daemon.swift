import Collective
import ConceptAPI
import ConceptModel
import Foundation
import Learner
import Logging
import Media
import ServiceLifecycle
import Synchronization
import SystemdSupport

/// conceptd's runtime: media ingest feeding a replay buffer, the training loop on its own thread, snapshots, and
/// the systemd protocol (READY, STATUS, WATCHDOG only on progress, RELOADING on SIGHUP, STOPPING), as
/// swift-service-lifecycle services in one group. SIGTERM/SIGINT stop it gracefully: the current step finishes, a
/// final snapshot is written, and the process exits 0 (75 when that snapshot fails, see ``DaemonError``).
public final class Daemon: Sendable {
    let configPath: String
    let current: Mutex<DaemonConfig>
    let logger: Logger
    let notifier: SystemdNotifier
    let environment: [String: String]
    let ingest: MediaIngest
    let replay: ReplayBuffer
    public let loop: TrainingLoop
    let watchdog: WatchdogMonitor?
    /// Live concept statistics (concepts, sources' current concepts, attention maps, loss history).
    public let statistics: LiveStatistics
    /// The periodic probe (nil without `[probe]`).
    let probe: ProbeRunner?
    /// Prometheus metrics behind `/metrics`.
    public let metrics: DaemonMetrics
    /// When this process started.
    let startedAt = Date()
    /// The API's bound URL once it listens (READY waits for it).
    let apiListening = OnceValue<String>()
    /// The data-parallel world this process trains in (a world of one without `mpirun`).
    public let communicator: any Communicator
    /// Whether this process keeps snapshots, runs the probe and serves the API: one process, or rank 0 of a job.
    public var isFace: Bool { communicator.isRoot }

    /// Loads the newest good snapshot (or starts fresh) and prepares every part; nothing runs yet. Throws
    /// ``DaemonError`` (`.unusableDirectory`) when the state, snapshot or ingest-record directory cannot be created,
    /// listed or written by this user: it never starts a fresh model it could not save.
    /// `seams` are for tests only (see ``DaemonSeams``).
    ///
    /// In a data-parallel job (`communicator` of several ranks, `[cluster]` in the file) rank 0 loads the snapshot and
    /// every other rank takes its state over MPI; each rank ingests only its own sources. Throws ``DaemonError``
    /// (`.cluster`) when the job's size and the file's `[cluster] ranks` differ.
    public init(config: DaemonConfig, configPath: String, logger: Logger, environment: [String: String],
                communicator: any Communicator = SingleProcess(),
                metrics: DaemonMetrics = DaemonMetrics(), seams: DaemonSeams = DaemonSeams()) throws {
        let ranks = config.cluster?.ranks ?? 1
        guard ranks == communicator.size else {
            throw DaemonError(.cluster, communicator.size == 1
                ? "\(configPath) is for a cluster of \(ranks) ranks: start it with conceptd launch (or mpirun -np \(ranks))"
                : config.cluster == nil
                    ? "mpirun started \(communicator.size) ranks but \(configPath) has no [cluster] section"
                    : "mpirun started \(communicator.size) ranks but \(configPath) says [cluster] ranks = \(ranks)")
        }
        if let hosts = config.cluster?.hosts, !hosts.isEmpty {
            // Sources given to hosts: this rank must run where the file says it does.
            let expected = hosts[communicator.rank], actual = ProcessInfo.processInfo.hostName
            let short = actual.split(separator: ".").first.map(String.init) ?? actual
            guard expected == actual || expected == short else {
                throw DaemonError(.cluster, "rank \(communicator.rank) runs on \(actual), but [cluster] hosts puts it on \(expected): "
                    + "list the hosts in the hostfile's order, one rank per host (mpirun --map-by node)")
            }
        }
        self.communicator = communicator
        try DirectoryAccess.prepare(config.stateDirectory, role: "state directory")
        if communicator.isRoot {
            try DirectoryAccess.prepare(config.snapshots.directory, role: "snapshot directory", generations: true)
        }
        if config.sources.contains(where: { $0.kind == .folder }) {
            try DirectoryAccess.prepare((config.stateDirectory as NSString).appendingPathComponent("ingest"),
                                        role: "ingest-record directory")
        }
        self.configPath = configPath
        self.metrics = metrics
        current = Mutex(config)
        self.logger = logger
        self.environment = environment
        notifier = SystemdNotifier(environment: environment)
        watchdog = WatchdogSettings(environment: environment).map { WatchdogMonitor(settings: $0) }
        let seed = config.training.seed ?? UInt64(Date().timeIntervalSince1970)
        var store = SnapshotStore(directory: URL(fileURLWithPath: config.snapshots.directory), keep: config.snapshots.keep)
        store.afterEachFile = seams.afterSnapshotFile
        if config.method == .paper {
            let ignoring = config.pinnedKeys.isEmpty ? "" : "; ignoring \(config.pinnedKeys.joined(separator: ", ")) from the file"
            logger.notice("method = paper: the spec's configuration is pinned\(ignoring)")
        }
        logger.info("method \(config.method)", metadata: ["options": "\(config.model.optionSummary)",
                                                         "lr_schedule": "\(config.training.schedule)"])
        let trainer = try Trainer(config: config.model, batchSize: config.training.batchSize,
                                  warmupSteps: config.training.warmupSteps, seed: seed, store: communicator.isRoot ? store : nil,
                                  schedule: config.training.schedule)
        if communicator.isRoot {
            let (loaded, skipped) = try trainer.resume()
            for reason in skipped { logger.warning("skipped a damaged snapshot: \(reason)") }
            if let loaded {
                logger.info("resumed", metadata: ["step": "\(loaded.manifest.step)", "snapshot": "\(loaded.directory.path)"])
            } else {
                logger.info("no snapshot: starting a fresh model", metadata: ["seed": "\(seed)"])
            }
        }
        if communicator.size > 1, let settings = config.cluster {
            trainer.join(communicator, synchronizeBatchNorm: settings.syncBatchNorm)
            do { try trainer.synchronizeFromRoot() } catch {
                throw DaemonError(.cluster, "rank \(communicator.rank) could not take rank 0's state: \(error)")
            }
            logger.info("cluster: in step with rank 0", metadata: [
                "rank": "\(communicator.rank)", "ranks": "\(communicator.size)", "step": "\(trainer.state.step)",
                "parameters": "\(trainer.parameterChecksum.prefix(16))", "sync_batchnorm": "\(settings.syncBatchNorm)",
            ])
        }
        probe = communicator.isRoot ? config.probe.map { ProbeRunner(settings: $0, config: config, seed: seed, logger: logger) } : nil
        replay = ReplayBuffer(capacity: config.training.replaySize,
                              policy: config.training.replayPolicy, seed: seed)
        let ingest = MediaIngest(queueCapacity: Swift.max(8, config.training.batchSize * 2))
        self.ingest = ingest
        let statistics = try LiveStatistics(config: config.model)
        self.statistics = statistics
        let replay = self.replay, rank = communicator.rank
        let cluster = communicator.size == 1 ? nil
            : ClusterSettings(communicator: communicator, checksumEvery: config.cluster?.checksumEvery ?? 100,
                              sourceCounts: {
                                  let stats = ingest.statistics()
                                  return (stats.filter { $0.state == .live }.count, stats.count)
                              },
                              sourceReport: {
                                  // This rank's sources as the API's JSON, for rank 0's /v1/sources and dashboard.
                                  let list = Daemon.sources(ingest: ingest, replay: replay, statistics: statistics,
                                                            config: config, rank: rank)
                                  return (try? Array(API.encoder().encode(list))) ?? []
                              })
        loop = TrainingLoop(trainer: trainer, replay: replay, snapshotEverySteps: config.snapshots.everySteps,
                            snapshotEverySeconds: config.snapshots.everySeconds, observer: watchdog,
                            statistics: statistics, logger: logger, maxSteps: config.training.maxSteps,
                            stallAfterSteps: seams.stallAfterSteps, cluster: cluster) {
            var progress: [String: String] = [:]
            for (name, ledger) in ingest.ledgers() {
                if let data = try? ledger.jsonData(), let text = String(data: data, encoding: .utf8) { progress[name] = text }
            }
            return progress
        }
        let progress = trainer.state.sourceProgress
        for source in config.enabledSources(rank: communicator.rank) { try addSource(source, config: config, progress: progress) }
    }

    func addSource(_ source: SourceConfig, config: DaemonConfig, progress: [String: String]) throws {
        let options = source.mediaOptions(config: config, ledger: IngestLedger.fromProgress(progress[source.name]), logger: logger)
        _ = try ingest.add(source.connectionURI, name: source.name, options: options)
        logger.info("source added", metadata: ["source": "\(source.name)", "uri": "\(source.redactedURI)"])
    }

    /// The current one-line status (also systemd's STATUS=).
    public var status: ServiceStatus {
        let t = loop.status
        let stats = ingest.statistics()
        let live = stats.filter { $0.state == .live }.count
        return ServiceStatus(step: UInt64(t.step), loss: t.step > 0 ? Double(t.lossAverage.total) : nil,
                             clipsPerSecond: t.clipsPerSecond, liveSources: live, sources: stats.count,
                             note: t.waitingForData ? "waiting for clips" : nil)
    }

    /// Runs until SIGTERM/SIGINT; returns after the final snapshot. Throws ``DaemonError`` (`.finalSnapshotFailed`)
    /// when that snapshot could not be written, after logging how many steps are lost.
    public func run() async throws {
        signal(SIGHUP, SIG_IGN)
        let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hup.setEventHandler { [self] in Task { await self.reload() } }
        hup.resume()
        defer { hup.cancel() }
        let settings = current.withLock { $0.api }
        // Rank 0 is the face of a data-parallel job: the only one with an API (and a probe, and snapshots).
        var face: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if isFace {
            let api = APIServer.application(backend: self, listen: settings.listen, token: settings.token?.value,
                                            logger: logger) { [self] url in
                logger.info("API listening", metadata: ["url": "\(url)", "dashboard": "\(url)/", "auth": "\(settings.token == nil ? "none (loopback)" : "bearer token from \(settings.tokenSource ?? "config")")"])
                apiListening.set(url)
            }
            face.append(.init(service: APIService(app: api, listen: settings.listen),
                              successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))
        } else {
            apiListening.set("rank \(communicator.rank): no API (rank 0 serves the cluster's)")
        }
        // Graceful shutdown runs in reverse order: the status service first (it stops the trainer after its current
        // step and sends STOPPING), then the probe, the API, the trainer (final snapshot), ingest.
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: IngestService(daemon: self), successTerminationBehavior: .gracefullyShutdownGroup),
                .init(service: TrainerService(loop: loop), successTerminationBehavior: .gracefullyShutdownGroup),
            ] + face
              + (probe.map { [.init(service: ProbeService(runner: $0, loop: loop, logger: logger), successTerminationBehavior: .ignore)] } ?? [])
              + [.init(service: StatusService(daemon: self), successTerminationBehavior: .ignore)],
            // mpirun cannot forward SIGTERM (it ends the job itself) but forwards SIGUSR2: a rank of a job stops
            // gracefully on either (`conceptd launch` turns its own SIGTERM into SIGUSR2 for mpirun).
            gracefulShutdownSignals: communicator.size > 1 ? [.sigterm, .sigint, .sigusr2] : [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        let step = loop.status.step
        if let reason = loop.fatalError {
            _ = try? notifier.send(.status("stopped: \(reason)"))
            throw DaemonError(.cluster, reason)
        }
        if let failure = loop.finalSnapshotFailure {
            let since = failure.lastSnapshotStep.map { "the last snapshot (step \($0))" } ?? "the start (there is no snapshot)"
            let message = "the final snapshot at step \(failure.step) failed: \(failure.stepsLost) steps since \(since) are lost: \(failure.reason)"
            logger.critical("\(message)", metadata: ["step": "\(failure.step)", "stepsLost": "\(failure.stepsLost)"])
            _ = try? notifier.send(.status("stopped: \(message)"))
            throw DaemonError(.finalSnapshotFailed, message)
        }
        logger.info("stopped", metadata: ["step": "\(step)"])
    }

    /// SIGHUP: re-reads the configuration and applies source changes without restarting the learner.
    func reload() async {
        _ = try? notifier.send(.reloadingNow())
        defer { _ = try? notifier.send([.ready, status.notifyState]) }
        let new: DaemonConfig
        do { new = try DaemonConfig.load(file: configPath) }
        catch {
            logger.error("reload failed; keeping the running configuration:\n\(error.lines.joined(separator: "\n"))")
            return
        }
        let old = current.withLock { $0 }
        let plan = old.reloadPlan(to: new)
        for name in plan.removed + plan.changed.map(\.name) {
            await ingest.remove(named: name)
            logger.info("source removed", metadata: ["source": "\(name)"])
        }
        for source in plan.added + plan.changed where source.enabled {
            do { try addSource(source, config: old, progress: [:]) } catch { logger.error("cannot add source \(source.name): \(error)") }
        }
        if !plan.needsRestart.isEmpty { logger.warning("changes that need a restart were not applied: \(plan.needsRestart.joined(separator: ", "))") }
        current.withLock { $0.sources = new.sources }
        logger.info("reloaded", metadata: ["added": "\(plan.added.count)", "removed": "\(plan.removed.count)", "changed": "\(plan.changed.count)"])
    }
}

/// Feeds the replay buffer from the media queue; stops the sources on shutdown.
struct IngestService: Service {
    let daemon: Daemon
    func run() async throws {
        let ingest = daemon.ingest, replay = daemon.replay
        await withGracefulShutdownHandler {
            for await clip in ingest.queue {
                replay.add(ReplayClip(data: clip.data, staticIndex: clip.staticIndex, source: clip.source))
            }
        } onGracefulShutdown: {
            Task { await ingest.shutdown() }
        }
    }
}

/// Runs the training loop on a dedicated thread (compute never blocks the cooperative pool).
struct TrainerService: Service {
    let loop: TrainingLoop
    func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                    let thread = Thread { loop.run(); done.resume() }
                    thread.name = "conceptd.trainer"
                    thread.stackSize = 16 << 20
                    thread.start()
                }
            } onGracefulShutdown: {
                loop.requestStop()
            }
            // SIGTERM stops the loop first (the status service asks it to, before the API drains); the final
            // snapshot is written by now. Stay until the group reaches this service, as an orderly service does.
            if loop.isStopping { try? await gracefulShutdown() }
        } onCancel: {
            loop.requestStop()
        }
    }
}

/// READY once everything runs, STATUS every few seconds, WATCHDOG while the trainer progresses, STOPPING on shutdown.
struct StatusService: Service {
    let daemon: Daemon
    func run() async throws {
        let notifier = daemon.notifier, logger = daemon.logger
        // READY only once the model is loaded (it is: init did that) and the API accepts connections.
        guard await daemon.apiListening.wait() != nil else { return }
        _ = try? notifier.send([.ready, daemon.status.notifyState])
        logger.info("ready", metadata: ["status": "\(daemon.status)"])
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                if let watchdog = daemon.watchdog {
                    group.addTask {
                        await watchdog.run(notifier: notifier) { event in
                            if case .stalled = event { logger.error("the trainer made no progress for a watchdog interval: pings stopped") }
                        }
                    }
                }
                group.addTask {
                    while !Task.isCancelled && !Task.isShuttingDownGracefully {
                        try? await Task.sleep(for: .seconds(5))
                        _ = try? notifier.send(daemon.status.notifyState)
                    }
                }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            // First of all: the trainer stops after the step in progress (the other services' shutdown, the API
            // draining its connections, must not leave it training on).
            daemon.loop.requestStop()
            let step = daemon.loop.status.step
            _ = try? notifier.send([.stopping, .status("stopping at step \(step): finishing the current step and writing a snapshot")])
        }
    }
}

/// The HTTP API as a service; a bind failure names the address.
struct APIService<App: Service>: Service {
    let app: App
    let listen: ListenAddress
    func run() async throws {
        do { try await app.run() } catch {
            throw ServiceError.apiFailed("cannot serve the API on \(listen): \(error)")
        }
    }
}

/// Errors of the daemon's services.
struct ServiceError: Error, CustomStringConvertible {
    private enum Code { case apiFailed }
    private let code: Code
    let description: String
    static func apiFailed(_ m: String) -> ServiceError { .init(code: .apiFailed, description: m) }
}

/// A value set once; waiters resume when it is set, or with nil when the waiting task is cancelled.
final class OnceValue<Value: Sendable>: Sendable {
    private let state = Mutex<(value: Value?, waiters: [CheckedContinuation<Value?, Never>])>((nil, []))

    /// Sets the value (later calls are ignored) and wakes every waiter.
    func set(_ value: Value) {
        let waiters = state.withLock { s -> [CheckedContinuation<Value?, Never>] in
            guard s.value == nil else { return [] }
            s.value = value
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: value) }
    }

    /// The value now.
    var value: Value? { state.withLock { $0.value } }

    /// Waits for the value (nil if the task is cancelled or the group shuts down first).
    func wait() async -> Value? {
        await withGracefulShutdownHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Value?, Never>) in
                let now = state.withLock { s -> Value? in
                    if let v = s.value { return v }
                    s.waiters.append(c)
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        } onGracefulShutdown: { [self] in
            let waiters = state.withLock { s in defer { s.waiters = [] }; return s.waiters }
            for w in waiters { w.resume(returning: nil) }
        }
    }
}
