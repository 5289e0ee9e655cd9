import Collective
import ConceptModel
import Foundation
import Logging
import Synchronization

/// What the training loop reports (read by the status line, and later the API).
public struct TrainingSnapshot: Sendable {
    public var step = 0
    public var skipped = 0
    public var rollbacks = 0
    public var losses = Losses()
    public var lossAverage = Losses()
    public var clipsPerSecond: Double = 0
    public var replayFill = 0
    public var waitingForData = true
    /// Rows in the Sinkhorn feature queues (all three fill together).
    public var queueFill = 0
    public var lastSnapshot: String?
    public var lastSnapshotStep: Int?
    public var lastSnapshotError: String?
    /// When the last snapshot was written by this process (nil: none yet, or it came from an earlier run).
    public var lastSnapshotTime: Date?
    /// In a data-parallel job, every rank's numbers as of the last step (rank order); empty in one process.
    public var ranks: [RankStatus] = []
    /// In a data-parallel job, on rank 0: every rank's source report (`ClusterSettings.sourceReport`), rank order, as
    /// of the last gather (every `reportSeconds`); empty otherwise.
    public var rankReports: [[UInt8]] = []
}

/// One rank's numbers in a data-parallel job, shared with every rank at each iteration of the loop.
public struct RankStatus: Sendable, Equatable {
    public var rank: Int
    public var step: Int
    public var clipsPerSecond: Double
    public var liveSources: Int
    public var sources: Int
    public var replayFill: Int
    /// Seconds of this rank's last gradient all-reduce.
    public var lastAllReduceSeconds: Double
    /// Whether the rank had a batch's worth of clips.
    public var hasData: Bool
}

/// How a training loop takes part in a data-parallel job.
public struct ClusterSettings: Sendable {
    /// The world (every rank runs one loop).
    public var communicator: any Communicator
    /// Every this many steps the ranks compare parameter checksums; a mismatch ends the job.
    public var checksumEvery: Int
    /// This rank's live and configured sources, for the per-rank status.
    public var sourceCounts: @Sendable () -> (live: Int, total: Int)
    /// This rank's per-source statistics, as bytes rank 0 can decode (the daemon sends its API's JSON).
    public var sourceReport: @Sendable () -> [UInt8]
    /// How often rank 0 gathers the source reports.
    public var reportSeconds: Double

    /// Settings for `communicator`'s world.
    public init(communicator: any Communicator, checksumEvery: Int, reportSeconds: Double = 3,
                sourceCounts: @escaping @Sendable () -> (live: Int, total: Int),
                sourceReport: @escaping @Sendable () -> [UInt8] = { [] }) {
        self.communicator = communicator
        self.checksumEvery = Swift.max(1, checksumEvery)
        self.reportSeconds = reportSeconds
        self.sourceCounts = sourceCounts
        self.sourceReport = sourceReport
    }
}

/// The result of an on-demand snapshot.
public enum SnapshotOutcome: Sendable, Equatable {
    /// Written at `step` into `path`.
    case written(step: Int, path: String)
    /// Failed; `reason` says why and whether an earlier snapshot is intact (there may be none).
    case failed(step: Int, reason: String)
}

/// The final snapshot at shutdown could not be written: the steps since the last good snapshot are lost.
public struct FinalSnapshotFailure: Sendable, Equatable {
    /// The step the trainer had reached.
    public var step: Int
    /// The step of the newest good snapshot (nil: there is none).
    public var lastSnapshotStep: Int?
    /// Why the write failed.
    public var reason: String
    /// Steps trained since the newest good snapshot (all of them when there is none).
    public var stepsLost: Int { step - (lastSnapshotStep ?? 0) }
}

/// Who hears how the training loop is doing (the daemon's systemd watchdog): steps made, waits with a reason,
/// and work resuming. Called on the trainer's thread; implementations must be quick and thread-safe.
public protocol TrainingObserver: Sendable {
    /// The progress counter (steps, skipped steps included) grew to `counter`.
    func progressed(to counter: UInt64)
    /// The loop waits for a known reason (no clips yet, the step limit reached).
    func idle(reason: String)
    /// The loop started working again.
    func busy()
}

/// The trainer's thread: draws batches from the replay buffer and steps, writes scheduled snapshots, reports
/// progress to the watchdog (never from a timer), and stops between steps when asked, writing a final snapshot.
public final class TrainingLoop: @unchecked Sendable {
    let trainer: Trainer
    let replay: ReplayBuffer
    let watchdog: (any TrainingObserver)?
    /// Live concept statistics, recorded after each step; sources are inspected between steps.
    let statistics: LiveStatistics?
    let logger: Logger
    private var schedule: SnapshotSchedule
    private let stopRequested = Mutex(false)
    private let snapshotRequested = Mutex(false)
    private let snapshotWaiters = Mutex<(finished: Bool, waiting: [CheckedContinuation<SnapshotOutcome, Never>])>((false, []))
    private let report = Mutex(TrainingSnapshot())
    private let progressProvider: @Sendable () -> [String: String]
    private let maxSteps: Int?
    /// A fault for the daemon's process tests: the loop blocks after this many steps, as a hung trainer would.
    private let stallAfterSteps: Int?
    /// The data-parallel job this loop steps in (nil: one process).
    private let cluster: ClusterSettings?
    /// Whether this loop writes snapshots (one process, or rank 0 of a job).
    private var writesSnapshots: Bool { cluster.map { $0.communicator.isRoot } ?? true }
    private let fatal = Mutex<String?>(nil)

    /// A loop over `trainer` fed by `replay`, writing snapshots every `snapshotEverySteps` steps or
    /// `snapshotEverySeconds` seconds (whichever comes first; nil: not by that measure), telling `observer` how it
    /// goes, recording `statistics` after each step, and stopping after `maxSteps`. `sourceProgress` gives the
    /// per-source ingest records a snapshot stores. `stallAfterSteps` injects a hung trainer (tests only).
    public init(trainer: Trainer, replay: ReplayBuffer, snapshotEverySteps: Int?, snapshotEverySeconds: Double?,
                observer: (any TrainingObserver)?, statistics: LiveStatistics? = nil, logger: Logger, maxSteps: Int?,
                stallAfterSteps: Int? = nil, cluster: ClusterSettings? = nil,
                sourceProgress: @escaping @Sendable () -> [String: String]) {
        self.cluster = cluster
        self.trainer = trainer
        self.replay = replay
        self.watchdog = observer
        self.statistics = statistics
        self.logger = logger
        self.maxSteps = maxSteps
        progressProvider = sourceProgress
        self.stallAfterSteps = stallAfterSteps
        schedule = SnapshotSchedule(everySteps: snapshotEverySteps, everySeconds: snapshotEverySeconds,
                                    startStep: trainer.state.step, now: Self.now())
        report.withLock {
            $0.step = trainer.state.step; $0.lossAverage = trainer.state.lossAverage
            $0.skipped = trainer.state.skippedSteps; $0.rollbacks = trainer.state.rollbacks
            $0.lastSnapshot = trainer.lastSnapshot?.directory.path; $0.lastSnapshotStep = trainer.lastSnapshot?.manifest.step
            $0.queueFill = trainer.learner.queues[.v]?.count ?? 0
        }
    }

    static func now() -> TimeInterval { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// The latest numbers.
    public var status: TrainingSnapshot { report.withLock { $0 } }

    /// Asks the loop to stop after the current step (it then writes a final snapshot).
    public func requestStop() {
        let first = stopRequested.withLock { was in defer { was = true }; return !was }
        if first, let cluster {
            // mpirun sends SIGTERM to every rank when one of them is gone, as well as when the job is stopped.
            logger.notice("rank \(cluster.communicator.rank): stop requested (SIGUSR2 or SIGTERM: the job is stopping, or mpirun is ending it because a rank exited); finishing the step the job is in")
        }
        replay.close()
    }

    /// Whether ``requestStop()`` was called.
    public var isStopping: Bool { stopRequested.withLock { $0 } }

    /// Why the loop ended a data-parallel job (the ranks lost each other, or their weights drifted apart); nil otherwise.
    public var fatalError: String? { fatal.withLock { $0 } }

    /// Set when the final snapshot at the end of ``run()`` failed.
    public var finalSnapshotFailure: FinalSnapshotFailure? { finalFailure.withLock { $0 } }
    private let finalFailure = Mutex<FinalSnapshotFailure?>(nil)

    /// Runs `body` on the trainer's thread between two steps (or while it waits for data) and returns its result:
    /// the way other parts read the model (a weight copy for the probe, a source inspection) without locking it.
    public func perform<T: Sendable>(_ body: @escaping @Sendable (Trainer) -> T) async -> T? {
        await withCheckedContinuation { (c: CheckedContinuation<T?, Never>) in
            let accepted = jobs.withLock { j -> Bool in
                guard !j.finished else { return false }
                j.pending.append(Job(run: { trainer in c.resume(returning: body(trainer)) }, cancel: { c.resume(returning: nil) }))
                return true
            }
            if !accepted { c.resume(returning: nil) }
        }
    }

    private struct Job: @unchecked Sendable { let run: (Trainer) -> Void; let cancel: () -> Void }
    private let jobs = Mutex<(finished: Bool, pending: [Job])>((false, []))

    /// Runs the queued jobs (trainer thread).
    private func runJobs() {
        let pending = jobs.withLock { j in defer { j.pending = [] }; return j.pending }
        for job in pending { job.run(trainer) }
    }

    /// Asks for a snapshot after the current step.
    public func requestSnapshot() { snapshotRequested.withLock { $0 = true } }

    /// Asks for a snapshot after the current step (or at once while waiting for data) and waits until it is
    /// written or has failed. The trainer thread writes it; training goes on either way.
    public func snapshotNow() async -> SnapshotOutcome {
        await withCheckedContinuation { (c: CheckedContinuation<SnapshotOutcome, Never>) in
            let finished = snapshotWaiters.withLock { w in
                if !w.finished { w.waiting.append(c) }
                return w.finished
            }
            if finished { c.resume(returning: .failed(step: status.step, reason: "the trainer has stopped")) } else { requestSnapshot() }
        }
    }

    /// What the loop does next. In a data-parallel job every rank proposes one and the world takes the highest, so
    /// that the ranks step, wait and stop together.
    enum Decision: Int, Comparable {
        case step = 0, waitForData, maxSteps, stop
        static func < (a: Decision, b: Decision) -> Bool { a.rawValue < b.rawValue }
    }

    /// This rank's proposal (waits up to a second for a batch's worth of clips).
    private func localDecision() -> Decision {
        if stopRequested.withLock({ $0 }) { return .stop }
        if let maxSteps, trainer.state.step >= maxSteps { return .maxSteps }
        return replay.wait(forAtLeast: trainer.batchSize, timeout: 1) ? .step : .waitForData
    }

    /// The world's decision: every rank's proposal and numbers gathered (rank 0 reports them), the highest taken.
    private func agree(_ proposal: Decision, _ cluster: ClusterSettings) throws -> Decision {
        let world = cluster.communicator
        let counts = cluster.sourceCounts()
        // Rank 0 asks for the source reports every few seconds; the flag travels with the vote, so every rank
        // gathers at the same iteration.
        let askReports = world.isRoot && Self.now() - lastReport >= cluster.reportSeconds
        let mine: [Double] = [Double(proposal.rawValue), Double(trainer.state.step), report.withLock { $0.clipsPerSecond },
                              Double(counts.live), Double(counts.total), Double(replay.count),
                              trainer.learner.lastGradientAllReduceSeconds, askReports ? 1 : 0]
        let all = try world.allGather(mine)
        guard all.count == mine.count * world.size else {
            throw TrainerError.cluster("rank \(world.rank) gathered \(all.count) status values from \(world.size) ranks")
        }
        var decision = Decision.step
        var ranks: [RankStatus] = []
        for r in 0..<world.size {
            let v = Array(all[(r * mine.count)..<((r + 1) * mine.count)])
            let proposed = Decision(rawValue: Int(v[0])) ?? .stop
            decision = Swift.max(decision, proposed)
            ranks.append(RankStatus(rank: r, step: Int(v[1]), clipsPerSecond: v[2], liveSources: Int(v[3]), sources: Int(v[4]),
                                    replayFill: Int(v[5]), lastAllReduceSeconds: v[6], hasData: proposed != .waitForData))
        }
        report.withLock { $0.ranks = ranks }
        if all[mine.count - 1] == 1 {
            // Rank 0 asked (its flag is the last value of its block): every rank's source report, variable length.
            lastReport = Self.now()
            let reports = try world.allGatherBytes(cluster.sourceReport())
            if world.isRoot { report.withLock { $0.rankReports = reports } }
        }
        return decision
    }

    /// When the last source reports were gathered (trainer thread only).
    private var lastReport: TimeInterval = 0

    /// Ends a data-parallel job on this rank: logged as critical, kept for the daemon's exit status.
    private func endJob(_ reason: String) {
        logger.critical("\(reason)")
        fatal.withLock { $0 = $0 ?? reason }
        stopRequested.withLock { $0 = true }
    }

    /// Runs until stopped (blocking; call on a dedicated thread).
    public func run() {
        var lastTime = Self.now(), clipsSince = 0
        loop: while true {
            runJobs()
            if cluster == nil, stopRequested.withLock({ $0 }) { break }
            if let stall = stallAfterSteps, trainer.state.step >= stall {
                logger.warning("injected fault: trainer stalls at step \(trainer.state.step)")
                while !stopRequested.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.1) }
                break
            }
            var decision = localDecision()
            if let cluster {
                do { decision = try agree(decision, cluster) } catch {
                    endJob("cluster: rank \(cluster.communicator.rank) lost the other ranks at step \(trainer.state.step): \(error)")
                    break loop
                }
            }
            switch decision {
            case .stop:
                break loop
            case .maxSteps:
                watchdog?.idle(reason: "max_steps reached")
                if snapshotRequested.withLock({ v in defer { v = false }; return v }) { writeSnapshot() }
                Thread.sleep(forTimeInterval: 0.2)
                continue loop
            case .waitForData:
                watchdog?.idle(reason: "waiting for clips")
                report.withLock { $0.waitingForData = true; $0.replayFill = replay.count }
                if snapshotRequested.withLock({ v in defer { v = false }; return v }) { writeSnapshot() }
                inspectSources()
                continue loop
            case .step:
                break
            }
            watchdog?.busy()
            do {
                let event = try trainer.step(from: replay)
                let state = trainer.state
                switch event {
                case .stepped(let r):
                    clipsSince += trainer.batchSize
                    report.withLock { $0.losses = r.outputs.losses }
                case .skipped(let l):
                    logger.warning("step skipped: loss or gradients not finite", metadata: ["step": "\(state.step)", "loss": "\(l.total)"])
                case .rolledBack(let dir):
                    logger.error("too many non-finite steps in a row: rolled back", metadata: ["snapshot": "\(dir?.path ?? "none")"])
                case .waitingForData:
                    continue
                }
                if let cluster, case .stepped = event, state.step % cluster.checksumEvery == 0 {
                    try trainer.verifyParametersAgree()
                }
                watchdog?.progressed(to: UInt64(state.step + state.skippedSteps))
                do { try statistics?.record(event, trainer: trainer, clipsPerSecond: report.withLock { $0.clipsPerSecond }) }
                catch { logger.warning("concept statistics: \(error)") }
                inspectSources()
                let now = Self.now()
                if now - lastTime >= 2 {
                    let rate = Double(clipsSince) / (now - lastTime)
                    report.withLock { $0.clipsPerSecond = rate }
                    lastTime = now; clipsSince = 0
                }
                report.withLock {
                    $0.step = state.step; $0.skipped = state.skippedSteps; $0.rollbacks = state.rollbacks
                    $0.lossAverage = state.lossAverage; $0.replayFill = replay.count; $0.waitingForData = false
                    $0.queueFill = trainer.learner.queues[.v]?.count ?? 0
                }
                let asked = snapshotRequested.withLock { v in defer { v = false }; return v }
                if writesSnapshots, asked || schedule.isDue(step: state.step, now: now) { writeSnapshot() }
            } catch {
                if let cluster {
                    // A rank that cannot step would leave the others waiting in the next collective call: end the job.
                    endJob("cluster: rank \(cluster.communicator.rank) cannot go on at step \(trainer.state.step): \(error)")
                    break loop
                }
                logger.error("training step failed: \(error)")
                Thread.sleep(forTimeInterval: 1)
            }
        }
        let lastGood = trainer.lastSnapshot?.manifest.step
        if !writesSnapshots {
            finishSnapshotWaiters(.failed(step: trainer.state.step, reason: "only rank 0 writes snapshots"))
        } else if trainer.state.step > (lastGood ?? -1) || snapshotRequested.withLock({ $0 }) {
            if case .failed(let step, let reason) = writeSnapshot() {
                finalFailure.withLock { $0 = FinalSnapshotFailure(step: step, lastSnapshotStep: lastGood, reason: reason) }
            }
        } else { finishSnapshotWaiters(.written(step: trainer.state.step, path: trainer.lastSnapshot?.directory.path ?? "")) }
        let leftJobs = jobs.withLock { j in defer { j = (true, []) }; return j.pending }
        for job in leftJobs { job.cancel() }
        let late = snapshotWaiters.withLock { w in defer { w = (true, []) }; return w.waiting }
        for w in late { w.resume(returning: .failed(step: trainer.state.step, reason: "the trainer has stopped")) }
    }

    private func finishSnapshotWaiters(_ outcome: SnapshotOutcome) {
        let waiters = snapshotWaiters.withLock { w in defer { w.waiting = [] }; return w.waiting }
        for w in waiters { w.resume(returning: outcome) }
    }

    /// Inspects a source whose latest clip is due (one eval forward of that clip; a few tens of ms for tiny).
    private func inspectSources() {
        guard let statistics else { return }
        do { try statistics.inspectDue(replay: replay, learner: trainer.learner) }
        catch { logger.warning("source inspection failed: \(error)") }
    }

    /// Writes a snapshot now (on the trainer's thread); errors are logged and reported, training goes on.
    @discardableResult
    func writeSnapshot() -> SnapshotOutcome {
        let step = trainer.state.step
        schedule.didSnapshot(step: step, now: Self.now())
        do {
            trainer.setSourceProgress(progressProvider())
            let info = try trainer.snapshot()
            logger.info("snapshot written", metadata: ["step": "\(step)", "path": "\(info.directory.path)"])
            report.withLock {
                $0.lastSnapshot = info.directory.path; $0.lastSnapshotStep = step; $0.lastSnapshotError = nil
                $0.lastSnapshotTime = Date()
            }
            let outcome = SnapshotOutcome.written(step: step, path: info.directory.path)
            finishSnapshotWaiters(outcome)
            return outcome
        } catch {
            // Only claim an intact earlier snapshot when there is one.
            let previous = trainer.lastSnapshot.map { "the previous one (step \($0.manifest.step)) is intact" }
                ?? "there is no earlier snapshot"
            logger.error("snapshot failed, \(previous): \(error)", metadata: ["step": "\(step)"])
            report.withLock { $0.lastSnapshotError = "\(error)" }
            let outcome = SnapshotOutcome.failed(step: step, reason: "\(error); \(previous)")
            finishSnapshotWaiters(outcome)
            return outcome
        }
    }
}
