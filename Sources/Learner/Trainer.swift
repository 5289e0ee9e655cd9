import ConceptModel
import Foundation
import Autograd
import SafeTensors
import SeededRandom
import TensorKernels
import Collective

/// The trainer's own state, saved in every snapshot.
public struct TrainerState: Codable, Sendable, Equatable {
    /// Steps applied.
    public var step = 0
    /// The generator that draws batches and static frames (`SeededGenerator.savedState`: one word; four in snapshots
    /// from before 2026-12-06, which resume on a sequence folded from them).
    public var rng: [UInt64]
    /// Steps skipped because a loss or gradient was not finite.
    public var skippedSteps = 0
    /// Rollbacks to the last good snapshot.
    public var rollbacks = 0
    /// Exponential moving averages of the losses (α = 0.05).
    public var lossAverage = Losses()
    /// Opaque per-source progress handed in by the daemon (e.g. which watch-folder files are done), by source name.
    public var sourceProgress: [String: String] = [:]
}

/// What one call to `Trainer.step` did.
public enum TrainerEvent {
    /// A step was applied.
    case stepped(StepReport)
    /// The step's loss or gradients were not finite; it was skipped.
    case skipped(Losses)
    /// Too many non-finite steps in a row: the model was restored from `snapshot` (nil: none existed, kept going).
    case rolledBack(snapshot: URL?)
    /// Too few clips to form a batch.
    case waitingForData
}

/// The online training loop's core: draws batches from the replay buffer, runs the learner's step with `L_loc` after
/// the warm-up, guards against non-finite steps, and writes and restores snapshots (weights, momentum, queues, step,
/// RNG, per-source progress) so that a resumed run continues exactly.
public final class Trainer {
    /// The model, optimiser and queues.
    public private(set) var learner: ConceptLearner
    /// Trainer state (saved in snapshots).
    public private(set) var state: TrainerState
    /// Clips per step.
    public let batchSize: Int
    /// Steps without `L_loc`.
    public let warmupSteps: Int
    /// How the learning rate changes with the step.
    public let schedule: LearningRateSchedule
    /// Where snapshots go (nil: none).
    public let store: SnapshotStore?
    /// Non-finite handling.
    public private(set) var guardState: NonFiniteGuard
    /// The clips of the last batch `step(from:)` drew (empty after `step(frames:)`), for the live statistics.
    public private(set) var lastBatch: [ReplayClip] = []
    /// The newest snapshot this trainer wrote or loaded.
    public private(set) var lastSnapshot: SnapshotInfo?
    private var rng: SeededGenerator

    /// A fresh trainer (seeded model initialisation and batch drawing).
    public init(config: ModelConfig, batchSize: Int, warmupSteps: Int, seed: UInt64, store: SnapshotStore?, nonFiniteLimit: Int = 5,
                schedule: LearningRateSchedule = .constant) throws {
        guard batchSize >= 2 else { throw TrainerError.invalidData("batch size must be at least 2, got \(batchSize)") }
        try schedule.validate()
        self.schedule = schedule
        learner = try ConceptLearner(config: config, seed: seed)
        rng = SeededGenerator(seed: seed &+ 1)
        state = TrainerState(rng: rng.savedState)
        self.batchSize = batchSize
        self.warmupSteps = Swift.max(0, warmupSteps)
        self.store = store
        guardState = NonFiniteGuard(limit: nonFiniteLimit)
    }

    /// The hash of the model configuration (snapshots refuse a different one).
    public var configHash: String {
        let m = learner.config.metadata
        return SHA256.hex(Array(m.keys.sorted().map { "\($0)=\(m[$0]!)" }.joined(separator: "\n").utf8))
    }

    /// Whether `L_loc` is on for the next step.
    public var useLocal: Bool { state.step >= warmupSteps }

    /// One step on an explicit batch (`N x 3 x (T+1) x H x W` frames); static frames are drawn from the trainer's RNG.
    public func step(frames: Tensor) throws -> TrainerEvent {
        let t = frames.shape.count == 5 ? frames.shape[2] - 1 : 0
        guard t >= 1 else { throw TrainerError.invalidData("frames must be N x 3 x (T+1) x H x W, got \(frames.shape)") }
        lastBatch = []
        let statics = (0..<frames.shape[0]).map { _ in Int(rng.next() % UInt64(t)) }
        return try step(frames: frames, staticIndex: statics)
    }

    /// One step on a batch drawn from `replay` (or `.waitingForData`).
    public func step(from replay: ReplayBuffer) throws -> TrainerEvent {
        let c = learner.config
        guard let clips = replay.sample(batchSize, using: &rng) else { return .waitingForData }
        lastBatch = clips
        let (frames, statics) = try clips.batch(frames: c.frames + 1, height: c.height, width: c.width)
        return try step(frames: frames, staticIndex: statics)
    }

    private func step(frames: Tensor, staticIndex: [Int]) throws -> TrainerEvent {
        learner.optimizer.learningRate = schedule.rate(base: learner.config.learningRate, step: state.step + 1)
        learner.nceTemperature = learner.config.nceTemperature(step: state.step + 1)
        learner.prepareHeads(forStep: state.step + 1)
        let report = try learner.step(frames: frames, staticIndex: staticIndex, useLocal: useLocal)
        defer { state.rng = rng.savedState }
        switch guardState.record(finite: report.applied) {
        case .proceed:
            state.step += 1
            let l = report.outputs.losses
            state.lossAverage = state.step == 1 ? l : state.lossAverage.moved(toward: l, rate: 0.05)
            return .stepped(report)
        case .skip:
            state.skippedSteps += 1
            return .skipped(report.outputs.losses)
        case .rollback:
            state.skippedSteps += 1
            state.rollbacks += 1
            let keepRollbacks = state.rollbacks, keepSkipped = state.skippedSteps
            var restoredFrom: URL?
            if let store, let (_, files, dir) = store.newestValid().snapshot {
                try restore(files: files)
                restoredFrom = dir
            }
            // In a cluster only rank 0 keeps snapshots: every other rank takes rank 0's restored state.
            if learner.communicator.size > 1 { try synchronizeFromRoot() }
            guard restoredFrom != nil || learner.communicator.size > 1 else { return .rolledBack(snapshot: nil) }
            state.rollbacks = keepRollbacks
            state.skippedSteps = keepSkipped
            return .rolledBack(snapshot: restoredFrom)
        }
    }

    // MARK: - snapshots

    /// Records the daemon's per-source progress (saved with the next snapshot).
    public func setSourceProgress(_ progress: [String: String]) { state.sourceProgress = progress }

    /// Writes a snapshot generation of everything needed to resume exactly.
    @discardableResult
    public func snapshot() throws -> SnapshotInfo {
        guard let store else { throw TrainerError.snapshotWrite("no snapshot directory configured") }
        let info = try store.write(step: state.step, configHash: configHash, files: try snapshotFiles())
        lastSnapshot = info
        return info
    }

    /// The snapshot's files: `model.safetensors`, `optimizer.safetensors`, `queues.safetensors`, `trainer.json`.
    public func snapshotFiles() throws -> [String: [UInt8]] {
        var model = try learner.model.stateDict()
        model.metadata = learner.config.metadata
        var opt = SafeTensorsFile()
        let momentum = learner.optimizer.momentumBuffer
        try opt.set("momentum", floats: momentum.map { Float($0) }, shape: [momentum.count])
        opt.metadata = ["steps": "\(learner.optimizer.steps)"]
        var queues = SafeTensorsFile()
        for b in Branch.allCases {
            let q = learner.queues[b]!
            try queues.set("queue.\(b)", floats: q.storage.map { Float($0) }, shape: [q.capacity, q.dim])
            queues.metadata["count.\(b)"] = "\(q.count)"
            queues.metadata["next.\(b)"] = "\(q.next)"
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return ["model.safetensors": model.serialized(), "optimizer.safetensors": opt.serialized(),
                "queues.safetensors": queues.serialized(), "trainer.json": Array(try encoder.encode(state))]
    }

    /// Loads the newest snapshot that verifies (skipping damaged ones, whose reasons are returned). Returns nil and
    /// changes nothing when there is none.
    @discardableResult
    public func resume() throws -> (loaded: SnapshotInfo?, skipped: [String]) {
        guard let store else { return (nil, []) }
        let (found, skipped) = store.newestValid()
        guard let (manifest, files, dir) = found else { return (nil, skipped) }
        guard manifest.configHash == configHash else {
            let keys = files["model.safetensors"].flatMap { Self.configurationDifference(snapshotModel: $0, config: learner.config) }
            throw TrainerError.snapshotRead("\(dir.lastPathComponent) was trained with another model configuration"
                + (keys.map { " (\($0))" } ?? "") + "; set those [model] keys to resume it, or move it away to start afresh")
        }
        try restore(files: files)
        let info = SnapshotInfo(directory: dir, manifest: manifest)
        lastSnapshot = info
        return (info, skipped)
    }

    /// The model keys on which a snapshot's `model.safetensors` (its metadata is the configuration it was trained
    /// with) differs from `config`, as `key = value there, value here; ...` with options that are off spelt out;
    /// nil when the metadata cannot be read or no key differs.
    static func configurationDifference(snapshotModel: [UInt8], config: ModelConfig) -> String? {
        guard let raw = try? SafeTensorsFile(bytes: snapshotModel).metadata else { return nil }
        let (there, here) = (try? ModelConfig(metadata: raw)).map { ($0.explicitMetadata, config.explicitMetadata) } ?? (raw, config.metadata)
        let differing = Set(there.keys).union(here.keys).sorted().filter { there[$0] != here[$0] }
        guard !differing.isEmpty else { return nil }
        return differing.map { "\($0) = \(there[$0] ?? "unset") there, \(here[$0] ?? "unset") here" }.joined(separator: "; ")
    }

    /// Replaces model, optimiser, queues and trainer state with those in a snapshot's `files` (the learner keeps its
    /// communicator).
    func restore(files: [String: [UInt8]]) throws {
        func file(_ name: String) throws -> [UInt8] {
            guard let f = files[name] else { throw TrainerError.snapshotRead("snapshot lacks \(name)") }
            return f
        }
        let c = learner.config
        let fresh = try ConceptLearner(config: c)
        fresh.join(learner.communicator, synchronizeBatchNorm: learner.synchronizesBatchNorm)
        try fresh.model.load(from: SafeTensorsFile(bytes: file("model.safetensors")))
        let opt = try SafeTensorsFile(bytes: file("optimizer.safetensors"))
        let momentum = try opt.floats("momentum").map { Scalar($0) }
        guard momentum.isEmpty || momentum.count == fresh.model.parameters.count else {
            throw TrainerError.snapshotRead("momentum has \(momentum.count) values for \(fresh.model.parameters.count) parameters")
        }
        fresh.optimizer.restore(momentumBuffer: momentum, steps: Int(opt.metadata["steps"] ?? "0") ?? 0)
        let queues = try SafeTensorsFile(bytes: file("queues.safetensors"))
        for b in Branch.allCases {
            let rows = try queues.floats("queue.\(b)").map { Scalar($0) }
            fresh.queues[b] = try FeatureQueue(capacity: c.queueLength, dim: c.queueWidth(b), storage: rows,
                                               count: Int(queues.metadata["count.\(b)"] ?? "") ?? -1,
                                               next: Int(queues.metadata["next.\(b)"] ?? "") ?? -1)
        }
        let decoded = try JSONDecoder().decode(TrainerState.self, from: Data(file("trainer.json")))
        guard let restored = SeededGenerator(savedState: decoded.rng) else {
            throw TrainerError.snapshotRead("trainer.json: the generator state must be one word (or the four of a snapshot from before 2026-12-06, not all zero), got \(decoded.rng.count)")
        }
        rng = restored
        // Split heads held as one until a step of the run (`v_heads_shared_steps`) are as the snapshot's step left them.
        fresh.prepareHeads(forStep: decoded.step + 1)
        learner = fresh
        state = decoded
    }
}
