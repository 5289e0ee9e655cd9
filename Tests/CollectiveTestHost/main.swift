// The data-parallel checks that need real ranks: run by the ClusterTests under
// `mpirun --oversubscribe -np 2 collective-testhost <check> <output directory>`.
// Every rank runs the same check; rank 0 compares what every rank computed (gathered over MPI) and writes
// `<check>.txt` with one `key value` line per measurement, which the test reads. The exit status is 0 when the
// check ran; the test judges the numbers.
import Foundation
import Autograd
import Collective
import ConceptModel
import Learner
import OpenMPI
import SeededRandom
import TensorKernels

/// Standard-normal values from a seeded stream (Box-Muller).
func normals(_ count: Int, seed: UInt64) -> [Scalar] {
    var rng = SeededGenerator(seed: seed)
    return (0..<count).map { _ in
        let u = Swift.max(rng.unit(), 1e-300), v = rng.unit()
        return Scalar((-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Double.pi * v))
    }
}

/// The largest |a − b| / max(|b|, floor).
func relativeError(_ a: [Scalar], _ b: [Scalar], floor: Double = 1e-3) -> Double {
    zip(a, b).map { abs(Double($0) - Double($1)) / Swift.max(abs(Double($1)), floor) }.max() ?? 0
}

/// The reduced tiny configuration of the learner tests, with the daemon's default method.
func clusterConfig() throws -> ModelConfig {
    var c = try ModelConfig.preset("tiny", method: .conceptd)
    c.frames = 4; c.height = 32; c.width = 32
    c.ks = 10; c.kd = 10; c.topK = 3; c.queueLength = 16
    return c
}

/// Sinkhorn over two ranks' batches plus a shared queue against one process on the concatenated scores.
func sinkhornCheck(_ world: MPICommunicator) throws -> [String: String] {
    let batch = 6, queue = 9, k = 12, size = world.size
    let global = normals((size * batch + queue) * k, seed: 11)     // [A; B; ...; queue], every rank the same
    var local = Array(global[(world.rank * batch * k)..<((world.rank + 1) * batch * k)])
    var owned = 0
    for row in stride(from: world.rank, to: queue, by: size) {
        local += global[((size * batch + row) * k)..<((size * batch + row + 1) * k)]
        owned += 1
    }
    let mine = try sinkhorn(localScores: local, localRows: batch + owned, globalRows: size * batch + queue, columns: k,
                            batch: batch, eps: 0.05, iterations: 3, communicator: world)
    let gathered = try world.allGather(mine)
    let single = sinkhorn(scores: global, rows: size * batch + queue, columns: k, batch: size * batch, eps: 0.05, iterations: 3)
    return ["ranks": "\(size)", "relative_error": "\(relativeError(gathered, single))", "rows": "\(gathered.count / k)"]
}

/// `steps` training steps, each rank on its own batches: afterwards every rank's parameters and queues must be
/// bit-identical, and the run must have changed the weights.
func trainCheck(_ world: MPICommunicator, steps: Int) throws -> [String: String] {
    let config = try clusterConfig()
    let learner = try ConceptLearner(config: config, seed: 1)
    learner.join(world)
    let initial = learner.model.parameters!.values.pointer
    let before = Array(UnsafeBufferPointer(start: initial, count: learner.model.parameters!.count))
    let perRank = 2, shape = [perRank, 3, config.frames + 1, config.height, config.width]
    var applied = 0
    for step in 0..<steps {
        let frames = try Tensor(normals(shape.reduce(1, *), seed: UInt64(1000 * step + world.rank)), shape: shape)
        let report = try learner.step(frames: frames, staticIndex: [step % config.frames, (step + 1) % config.frames],
                                      useLocal: step >= steps / 2)
        if report.applied { applied += 1 }
    }
    let params = learner.model.parameters!
    let after = Array(UnsafeBufferPointer(start: params.values.pointer, count: params.count))
    func bits(_ values: [Scalar]) -> [UInt64] { values.map { UInt64($0.bitPattern) } }
    let gatheredParams = try world.allGather(bits(after))
    var queueValues: [Scalar] = []
    for b in Branch.allCases { queueValues += learner.queues[b]!.storage }
    let gatheredQueues = try world.allGather(bits(queueValues))
    func differingRanks(_ gathered: [UInt64], _ n: Int) -> [Int] {
        (1..<world.size).filter { r in gathered[(r * n)..<((r + 1) * n)] != gathered[0..<n] }
    }
    let moved = zip(before, after).map { abs(Double($0) - Double($1)) }.max() ?? 0
    return [
        "ranks": "\(world.size)", "steps": "\(steps)", "applied": "\(applied)",
        "parameters": "\(params.count)",
        "parameter_mismatch_ranks": "\(differingRanks(gatheredParams, after.count).map(String.init).joined(separator: ","))",
        "queue_mismatch_ranks": "\(differingRanks(gatheredQueues, queueValues.count).map(String.init).joined(separator: ","))",
        "queue_rows": "\(learner.queues[.d]!.count)",
        "largest_weight_change": "\(moved)",
    ]
}

/// ‖a − b‖ / max(‖b‖, 1e-6), the spec's parity criterion.
func relativeL2(_ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, _ count: Int) -> Double {
    var d = 0.0, r = 0.0
    for i in 0..<count { let e = Double(a[i]) - Double(b[i]); d += e * e; r += Double(b[i]) * Double(b[i]) }
    return d.squareRoot() / Swift.max(r.squareRoot(), 1e-6)
}

/// The worst relative L2 error over the named parameter tensors of two learners' flat buffers (`grads` or `values`).
func worstTensor(_ ours: ConceptLearner, _ reference: ConceptLearner, gradients: Bool) -> (Double, String) {
    let p = ours.model.parameters!, q = reference.model.parameters!
    var worst = (0.0, "")
    for (i, name) in p.names.enumerated() {
        let count = p.tensors[i].count, at = p.offsets[i]
        let a = (gradients ? p.grads : p.values).pointer + at, b = (gradients ? q.grads : q.values).pointer + at
        let e = relativeL2(a, b, count)
        if e > worst.0 { worst = (e, name) }
    }
    return worst
}

/// Three steps of the default method (the local loss on, queues filling), each from the same state: two ranks, each on
/// its half of the batch with synchronised batch norm, against one process on the whole batch. Losses (mean over ranks), Sinkhorn targets
/// (gathered), gradients (averaged), updated parameters and queues must agree within the spec's parity tolerance.
/// The same first step without synchronised batch norm is reported too (the whole gradient's error), to show the
/// comparison can tell.
func parityCheck(_ world: MPICommunicator) throws -> [String: String] {
    let config = try clusterConfig()
    let perRank = 2, size = world.size, clip = 3 * (config.frames + 1) * config.height * config.width
    let ranked = try ConceptLearner(config: config, seed: 1)
    ranked.join(world)
    let single = try ConceptLearner(config: config, seed: 1)
    let unsynced = try ConceptLearner(config: config, seed: 1)
    unsynced.join(world, synchronizeBatchNorm: false)
    var worst: [String: Double] = ["loss": 0, "target": 0, "gradient": 0, "parameter": 0, "queue": 0]
    var worstGradient = "", unsyncedError = 0.0, queueMismatch = false
    for step in 0..<3 {
        // Every step starts from the same state: training on noise is chaotic enough that rounding differences
        // (summation order across ranks) grow by orders of magnitude per step, as they would between two runs.
        // Through a state dict both ways: it holds float32, so in the float64 build both learners take the same rounding.
        let state = try ranked.model.stateDict()
        try ranked.model.load(from: state)
        try single.model.load(from: state)
        single.optimizer.restore(momentumBuffer: ranked.optimizer.momentumBuffer, steps: ranked.optimizer.steps)
        single.queues = ranked.queues
        let all = normals(size * perRank * clip, seed: UInt64(77 + step))
        let statics = (0..<(size * perRank)).map { ($0 + step) % config.frames }
        let mine = Array(all[(world.rank * perRank * clip)..<((world.rank + 1) * perRank * clip)])
        let localShape = [perRank, 3, config.frames + 1, config.height, config.width]
        let localStatics = Array(statics[(world.rank * perRank)..<((world.rank + 1) * perRank)])
        let r = try ranked.step(frames: Tensor(mine, shape: localShape), staticIndex: localStatics, useLocal: true)
        var globalShape = localShape
        globalShape[0] = size * perRank
        let s = try single.step(frames: Tensor(all, shape: globalShape), staticIndex: statics, useLocal: true)
        if step == 0 {
            _ = try unsynced.step(frames: Tensor(mine, shape: localShape), staticIndex: localStatics, useLocal: true)
            let p = unsynced.model.parameters!, q = single.model.parameters!
            unsyncedError = relativeL2(p.grads.pointer, q.grads.pointer, p.count)
        }
        guard r.applied && s.applied else { throw CollectiveError(.mismatch, "step \(step) was not applied") }
        // Losses: the mean over ranks of each rank's loss is the loss of the whole batch.
        let a = r.outputs.losses, b = s.outputs.losses
        var terms = [a.aln, a.div, a.fid, a.loc, a.nce, a.nceStatic, a.consistency, a.total].map { Double($0) }
        try world.allReduce(&terms, .sum)
        for (x, y) in zip(terms, [b.aln, b.div, b.fid, b.loc, b.nce, b.nceStatic, b.consistency, b.total]) {
            worst["loss"] = Swift.max(worst["loss"]!, abs(x / Double(size) - Double(y)) / Swift.max(abs(Double(y)), 1e-6))
        }
        for b in Branch.allCases {
            let gathered = try world.allGather(r.outputs.feat[b]!.values), reference = s.outputs.feat[b]!.values
            worst["feature"] = Swift.max(worst["feature"] ?? 0, relativeL2(gathered, reference, reference.count))
            let gc = try world.allGather(r.outputs.codes[b]!.values), rc = s.outputs.codes[b]!.values
            worst["code"] = Swift.max(worst["code"] ?? 0, relativeL2(gc, rc, rc.count))
        }
        if ProcessInfo.processInfo.environment["PARITY_DEBUG"] != nil, world.isRoot {
            print("step \(step): \(worst.sorted { $0.key < $1.key })")
        }
        for key in ["s", "d", "vs", "vd"] {
            let gathered = try world.allGather(r.outputs.targets[key]!.values)
            let reference = s.outputs.targets[key]!.values
            worst["target"] = Swift.max(worst["target"]!, relativeL2(gathered, reference, reference.count))
        }
        let (g, name) = worstTensor(ranked, single, gradients: true)
        if g > worst["gradient"]! { worst["gradient"] = g; worstGradient = name }
        worst["parameter"] = Swift.max(worst["parameter"]!, worstTensor(ranked, single, gradients: false).0)
        for branch in Branch.allCases {
            let q = ranked.queues[branch]!.storage, reference = single.queues[branch]!.storage
            worst["queue"] = Swift.max(worst["queue"]!, relativeL2(q, reference, q.count))
            let gathered = try world.allGather(q.map { UInt64($0.bitPattern) })
            if gathered[0..<q.count] != gathered[(q.count)...].prefix(q.count) { queueMismatch = true }
        }
    }
    var out = ["ranks": "\(size)", "worst_gradient_tensor": worstGradient, "unsynced_gradient_error": "\(unsyncedError)",
               "queue_rank_mismatch": "\(queueMismatch)", "queue_rows": "\(ranked.queues[.d]!.count)"]
    for (k, v) in worst { out["worst_\(k)_error"] = "\(v)" }
    return out
}

/// The global decisions, through the daemon's `Trainer`: a non-finite batch on rank 1 alone makes both ranks skip
/// that step (weights still identical), and a weight changed on rank 1 alone is caught by the parameter checksum,
/// whose error names rank 1 on every rank.
func guardCheck(_ world: MPICommunicator) throws -> [String: String] {
    let config = try clusterConfig()
    let trainer = try Trainer(config: config, batchSize: 2, warmupSteps: 0, seed: 1, store: nil)
    trainer.join(world)
    try trainer.synchronizeFromRoot()
    let shape = [2, 3, config.frames + 1, config.height, config.width]
    var events: [String] = []
    for step in 0..<3 {
        var values = normals(shape.reduce(1, *), seed: UInt64(500 + 10 * step + world.rank))
        if step == 1 && world.rank == 1 { values[7] = .nan }
        switch try trainer.step(frames: Tensor(values, shape: shape)) {
        case .stepped: events.append("s")
        case .skipped: events.append("k")
        default: events.append("?")
        }
    }
    let mine = Array(events.joined().utf8).map(UInt64.init)
    let all = try world.allGather(mine)
    let perRank = (0..<world.size).map { r in String(decoding: all[(r * mine.count)..<((r + 1) * mine.count)].map(UInt8.init), as: UTF8.self) }
    var agreedBefore = "true"
    do { try trainer.verifyParametersAgree() } catch { agreedBefore = "\(error)" }
    // One weight on rank 1 moves by one ulp.
    let params = trainer.learner.model.parameters!
    if world.rank == 1 { params.values.pointer[3] = params.values.pointer[3].nextUp }
    var caught = "none"
    do { try trainer.verifyParametersAgree() } catch let error as TrainerError where error.code == .cluster { caught = error.message }
    let caughtEverywhere = try world.allReduce(caught == "none" ? 0 : 1 as UInt64, .min) == 1
    return ["events_per_rank": perRank.joined(separator: ","), "skipped_steps": "\(trainer.state.skippedSteps)",
            "agreed_before_drift": agreedBefore, "drift_error": caught, "drift_caught_on_every_rank": "\(caughtEverywhere)"]
}

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write("usage: collective-testhost sinkhorn|train|parity|guard <output directory>\n".data(using: .utf8)!)
    exit(64)
}
do {
    // One compute thread per rank: two ranks share this machine's cores.
    ComputeThreads.configure(1)
    let world = try MPICommunicator.world()
    let result: [String: String]
    switch arguments[1] {
    case "sinkhorn": result = try sinkhornCheck(world)
    case "train": result = try trainCheck(world, steps: 50)
    case "parity": result = try parityCheck(world)
    case "guard": result = try guardCheck(world)
    default:
        FileHandle.standardError.write("unknown check '\(arguments[1])'\n".data(using: .utf8)!)
        exit(64)
    }
    if world.isRoot {
        let text = result.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)\n" }.joined()
        try text.write(toFile: "\(arguments[2])/\(arguments[1]).txt", atomically: true, encoding: .utf8)
    }
    try world.barrier()
    MPICommunicator.finalize()
} catch {
    FileHandle.standardError.write("rank check failed: \(error)\n".data(using: .utf8)!)
    exit(1)
}
