import Foundation
import Autograd
import TensorKernels
import Collective

/// Loss values of one step.
public struct Losses: Sendable, Equatable, Codable {
    public var aln: Scalar = 0, div: Scalar = 0, fid: Scalar = 0, loc: Scalar = 0, nce: Scalar = 0, nceStatic: Scalar = 0
    /// The static-code consistency term (`static_consistency`; 0 when off).
    public var consistency: Scalar = 0
    public var total: Scalar = 0
    /// Loss values (all zero by default).
    public init(aln: Scalar = 0, div: Scalar = 0, fid: Scalar = 0, loc: Scalar = 0, nce: Scalar = 0, nceStatic: Scalar = 0,
                consistency: Scalar = 0, total: Scalar = 0) {
        self.aln = aln; self.div = div; self.fid = fid; self.loc = loc; self.nce = nce; self.nceStatic = nceStatic
        self.consistency = consistency; self.total = total
    }
    /// Whether every term is finite.
    public var isFinite: Bool { [aln, div, fid, loc, nce, nceStatic, consistency, total].allSatisfy(\.isFinite) }

    /// Every term moved towards `new` by `rate` (one step of an exponential moving average).
    public func moved(toward new: Losses, rate: Scalar) -> Losses {
        func ema(_ old: Scalar, _ value: Scalar) -> Scalar { old + rate * (value - old) }
        return Losses(aln: ema(aln, new.aln), div: ema(div, new.div), fid: ema(fid, new.fid), loc: ema(loc, new.loc),
                      nce: ema(nce, new.nce), nceStatic: ema(nceStatic, new.nceStatic),
                      consistency: ema(consistency, new.consistency), total: ema(total, new.total))
    }

    private enum CodingKeys: String, CodingKey { case aln, div, fid, loc, nce, nceStatic, consistency, total }

    /// Decodes loss values; those written before `nceStatic` or `consistency` existed have it zero.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(aln: c.decode(Scalar.self, forKey: .aln), div: c.decode(Scalar.self, forKey: .div),
                      fid: c.decode(Scalar.self, forKey: .fid), loc: c.decode(Scalar.self, forKey: .loc),
                      nce: c.decodeIfPresent(Scalar.self, forKey: .nce) ?? 0,
                      nceStatic: c.decodeIfPresent(Scalar.self, forKey: .nceStatic) ?? 0,
                      consistency: c.decodeIfPresent(Scalar.self, forKey: .consistency) ?? 0,
                      total: c.decode(Scalar.self, forKey: .total))
    }
}

/// Everything one forward pass computes, kept as tensors so a caller can read any of it without another pass.
public struct ForwardOutputs {
    /// Pooled backbone features per branch, `N x C`.
    public var feat: [Branch: Tensor] = [:]
    /// Projected features (σ; equal to `feat` for identity), `N x C`; no `v` entry with split heads.
    public var z: [Branch: Tensor] = [:]
    /// With split heads (`v_heads = split`): `z_vs` and `z_vd`, `N x C` each.
    public var zSplit: (static: Tensor, dynamic: Tensor)?
    /// Codes `q_s` (`N x Ks`), `q_d` (`N x Kd`), `q_v` (`N x (Ks+Kd)`).
    public var codes: [Branch: Tensor] = [:]
    /// Sinkhorn targets `s`, `d`, `vs`, `vd`.
    public var targets: [String: Tensor] = [:]
    /// Local features `F_s`, `F_d`, `F_v` (`N x K x d`), when the local loss ran.
    public var local: [Branch: Tensor] = [:]
    /// Attention of the prototypes over the layer4 tokens (`N x K x L`), per branch, when the local loss ran.
    public var attention: [Branch: Tensor] = [:]
    /// Top-K intersection masks `N x Ks` and `N x Kd` (0/1).
    public var validS: [UInt8] = [], validD: [UInt8] = []
    /// Layer4 map size `(T', H', W')`.
    public var tokenGrid: (Int, Int, Int) = (0, 0, 0)
    /// Loss tensors: `aln div fid loc nce total`.
    public var lossTensors: [String: Tensor] = [:]
    /// Loss values.
    public var losses = Losses()
}

extension ForwardOutputs {
    /// What branch `b` pushes into its queue: `normalize(z_b)`, or for `v` with split heads
    /// `[normalize(z_vs), normalize(z_vd)]` (`N x 2C`).
    func queueRows(_ b: Branch) throws -> Tensor {
        if b == .v, let split = zSplit {
            return try concat([split.static.detached().normalized(axis: 1), split.dynamic.detached().normalized(axis: 1)], axis: 1)
        }
        guard let z = self.z[b] else { throw ModelError.invalidInput("no projected features for branch \(b)") }
        return try z.detached().normalized(axis: 1)
    }
}

/// What a training step reports to the daemon.
public struct StepReport {
    /// The forward pass's outputs (codes, targets, masks, attention, losses).
    public var outputs: ForwardOutputs
    /// Whether the update was applied (false when a loss or gradient was not finite: nothing changed).
    public var applied: Bool
    /// Global gradient L2 norm.
    public var gradientNorm: Scalar
}

/// The online learner: model, SGD state and the three Sinkhorn queues; one call = one training step.
public final class ConceptLearner {
    /// The network.
    public let model: ConceptModel
    /// The optimiser state.
    public var optimizer: SGD
    /// Queues of unit features per branch.
    public var queues: [Branch: FeatureQueue]
    /// The configuration.
    public var config: ModelConfig { model.config }
    /// The InfoNCE temperature of the next step: `config.nceTemperature(step: 1)` (``ModelConfig/nceTau`` unless a
    /// temperature schedule is set) until a trainer sets the step's own.
    public var nceTemperature: Scalar
    /// The data-parallel world this learner trains in (`SingleProcess` unless the daemon was started by `mpirun`).
    /// Every rank steps together: Sinkhorn over the global batch, InfoNCE and local-contrast negatives from every
    /// rank's batch, batch-norm statistics over every rank's batch (unless turned off), gradients averaged, one
    /// decision on non-finite steps, and every rank's batch features pushed into the (identical) queues.
    public private(set) var communicator: any Communicator = SingleProcess()
    /// Whether batch norm in training uses every rank's batch (`sync_batchnorm`), or each rank its own.
    public private(set) var synchronizesBatchNorm = true
    /// The world as the data-parallel operations see it; nil in a world of one.
    private var replicas: ReplicaGroup?
    /// Wall-clock seconds of the last step's gradient all-reduce (0 in a world of one).
    public private(set) var lastGradientAllReduceSeconds: Double = 0

    /// Trains in `communicator`'s world from now on (every rank must have the same weights: see the trainer's
    /// `synchronizeFromRoot`). `synchronizeBatchNorm` false keeps each rank's batch-norm statistics its own.
    public func join(_ communicator: any Communicator, synchronizeBatchNorm: Bool = true) {
        self.communicator = communicator
        synchronizesBatchNorm = synchronizeBatchNorm
        replicas = communicator.size > 1 ? ReplicaGroup(communicator) : nil
        for (_, bn) in model.namedBatchNorms() { bn.replicas = synchronizeBatchNorm ? replicas : nil }
    }

    /// A fresh learner for `config` (seeded initialisation, empty queues).
    public init(config: ModelConfig, seed: UInt64 = 0) throws {
        model = try ConceptModel(config: config, seed: seed)
        nceTemperature = config.nceTemperature(step: 1)
        optimizer = SGD(learningRate: config.learningRate, momentum: config.momentum, weightDecay: config.weightDecay)
        queues = Dictionary(uniqueKeysWithValues: Branch.allCases.map { ($0, FeatureQueue(capacity: config.queueLength, dim: config.queueWidth($0))) })
        prepareHeads(forStep: 1)
    }

    /// Sets the split heads for training step `step` (1-based) under `v_heads_shared_steps = N`: steps 1...N run them
    /// as one shared head; before step N + 1 the dynamic head becomes a copy of the static one, momentum included
    /// (so a resume at step N does the same). Evaluation passes use the heads as the last call left them. Nothing to do
    /// when `N` is 0.
    public func prepareHeads(forStep step: Int) {
        let n = config.vHeadsSharedSteps
        guard n > 0 else { return }
        if step <= n { model.splitHeadsShared = true; return }
        guard model.splitHeadsShared || step == n + 1 else { return }
        let pairs = model.endSharedHeads()
        let params = model.parameters!
        var momentum = optimizer.momentumBuffer
        guard momentum.count == params.count else { return }
        for (from, to) in pairs {
            guard let i = params.names.firstIndex(of: from), let j = params.names.firstIndex(of: to) else { continue }
            let count = params.tensors[i].count
            for k in 0..<count { momentum[params.offsets[j] + k] = momentum[params.offsets[i] + k] }
        }
        optimizer.restore(momentumBuffer: momentum, steps: optimizer.steps)
    }

    /// The backbone input `[v; s; d]` (`3N x 3 x T x H x W`) from `N x 3 x (T+1) x H x W` frames:
    /// `v` = frames `0..<T`, `s` = frame `staticIndex[i]` repeated, `d` = `frames[1...T] − frames[0..<T]`.
    /// - `difference = .normalized`: each (clip, channel, frame) plane is first standardised over its pixels,
    ///   `(x − mean) / √(var + 1e-5)` (biased variance);
    /// - `staticView = .gray`: `s` is the frame's luminance `0.299 R + 0.587 G + 0.114 B` in every channel;
    /// - `reversed`: a fourth block `d_rev[k] = −d[T−1−k]`, the difference view of the time-reversed clip (`4N`).
    public static func views(frames: Tensor, staticIndex: [Int], difference: ModelConfig.Difference = .raw,
                             staticView: ModelConfig.StaticView = .frame, reversed: Bool = false) throws -> Tensor {
        guard frames.rank == 5, frames.shape[1] == 3, frames.shape[2] >= 2 else {
            throw ModelError.invalidInput("frames must be N x 3 x (T+1) x H x W with T >= 1, got \(frames.shape)")
        }
        let n = frames.shape[0], t = frames.shape[2] - 1, hw = frames.shape[3] * frames.shape[4]
        guard staticIndex.count == n, staticIndex.allSatisfy({ (0..<t).contains($0) }) else {
            throw ModelError.invalidInput("need \(n) static indices in 0..<\(t), got \(staticIndex)")
        }
        let blocks = reversed ? 4 : 3
        let out = Tensor(zeros: [blocks * n, 3, t, frames.shape[3], frames.shape[4]])
        let src = frames.storage.pointer, dst = out.storage.pointer
        let clipIn = 3 * (t + 1) * hw, clipOut = 3 * t * hw
        let luma: [Scalar] = [0.299, 0.587, 0.114]
        for i in 0..<n {
            let frame = src + i * clipIn + staticIndex[i] * hw
            for c in 0..<3 {
                let f = src + i * clipIn + c * (t + 1) * hw
                let v = dst + i * clipOut + c * t * hw
                let s = dst + (n + i) * clipOut + c * t * hw
                let d = dst + (2 * n + i) * clipOut + c * t * hw
                v.update(from: f, count: t * hw)
                switch staticView {
                case .frame:
                    for k in 0..<t { (s + k * hw).update(from: f + staticIndex[i] * hw, count: hw) }
                case .gray:
                    let plane = (t + 1) * hw
                    for j in 0..<hw { s[j] = luma[0] * frame[j] + luma[1] * frame[plane + j] + luma[2] * frame[2 * plane + j] }
                    for k in 1..<t { (s + k * hw).update(from: s, count: hw) }
                }
                switch difference {
                case .raw:
                    for j in 0..<(t * hw) { d[j] = f[j + hw] - f[j] }
                case .normalized:
                    // Plane k standardised: y_k = (x_k − m_k) · r_k, so d_k = x_{k+1} r_{k+1} − x_k r_k − (m_{k+1} r_{k+1} − m_k r_k).
                    let stats = (0...t).map { standardisation(f + $0 * hw, count: hw) }
                    for k in 0..<t {
                        let (m0, r0) = stats[k], (m1, r1) = stats[k + 1]
                        let a = f + k * hw, b = a + hw, o = d + k * hw
                        for j in 0..<hw { o[j] = (b[j] - m1) * r1 - (a[j] - m0) * r0 }
                    }
                }
                if reversed {
                    let r = dst + (3 * n + i) * clipOut + c * t * hw
                    for k in 0..<t {
                        let from = d + (t - 1 - k) * hw, to = r + k * hw
                        for j in 0..<hw { to[j] = -from[j] }
                    }
                }
            }
        }
        return out
    }

    /// Mean and `1 / √(var + 1e-5)` (biased variance) of `count` values, accumulated in Double.
    static func standardisation(_ x: UnsafeMutablePointer<Scalar>, count: Int) -> (mean: Scalar, inverseStd: Scalar) {
        var sum = 0.0
        for j in 0..<count { sum += Double(x[j]) }
        let mean = sum / Double(count)
        var squares = 0.0
        for j in 0..<count { let e = Double(x[j]) - mean; squares += e * e }
        return (Scalar(mean), Scalar(1 / (squares / Double(count) + 1e-5).squareRoot()))
    }

    /// Sinkhorn targets for `codes` (`N x K`, batch rows) with the queue's rows (`queue`, unit rows) re-scored against
    /// the `K` rows of `prototypes`. In a world of several ranks the score matrix is the global one: every rank's
    /// batch rows (`globalBatch` in all), plus the queue rows this rank owns (row `i` belongs to rank `i mod size`, the
    /// queues being identical).
    func targets(codes: Tensor, queue: Tensor, prototypes: Tensor, world: any Communicator, globalBatch: Int) throws -> Tensor {
        try GradMode.withNoGrad {
            let n = codes.shape[0], k = codes.shape[1]
            var scores = codes.values
            if queue.shape[0] > 0 {
                let rescored = try matmul(queue, prototypes.normalized(axis: 1), transposeB: true).values
                for row in stride(from: world.rank, to: queue.shape[0], by: world.size) {
                    scores += rescored[(row * k)..<((row + 1) * k)]
                }
            }
            let t = try sinkhorn(localScores: scores, localRows: scores.count / k, globalRows: globalBatch + queue.shape[0],
                                 columns: k, batch: n, eps: config.eps, iterations: config.sinkhornIterations, communicator: world)
            return try Tensor(t, shape: [n, k])
        }
    }

    /// The forward pass and every loss (`L = w_aln L_aln + α L_loc + β L_fid + γ L_div`), recording the graph (in training mode batch norm uses batch statistics and
    /// updates its running statistics, as PyTorch's `train()`).
    public func forward(frames: Tensor, staticIndex: [Int], useLocal: Bool, training: Bool = true) throws -> ForwardOutputs {
        let c = config
        let n = frames.shape.first ?? 0
        guard frames.rank == 5, frames.shape[1] == 3 else { throw ModelError.invalidInput("frames must be N x 3 x (T+1) x H x W, got \(frames.shape)") }
        if training && n < 2 { throw ModelError.invalidInput("a training batch needs at least 2 clips, got \(n)") }
        var o = ForwardOutputs()
        // Only a training pass spans the ranks: an evaluation pass (probe, live statistics) runs on one rank alone.
        let world: any Communicator = training ? communicator : SingleProcess()
        let replicas = training ? self.replicas : nil
        let globalBatch = world.size == 1 ? n : Int(try world.allReduce(UInt64(n), .sum))
        // The reversed difference view only serves InfoNCE's extra negative, so it is left out of evaluation passes.
        let reversed = c.nceReverse && c.nce > 0 && training
        let x = try Self.views(frames: frames, staticIndex: staticIndex, difference: c.difference, staticView: c.staticView,
                               reversed: reversed)
        let fmap = try model.encoder(x, training: training)                 // 3N (4N reversed) x C x T' x H' x W'
        o.tokenGrid = (fmap.shape[2], fmap.shape[3], fmap.shape[4])
        let feat = try fmap.globalAveragePool()                             // 3N (4N) x C
        let reversedZ = reversed ? try model.project(feat.slice(axis: 0, (3 * n)..<(4 * n)), .d, training: training) : nil
        for (i, b) in [Branch.v, .s, .d].enumerated() {
            o.feat[b] = try feat.slice(axis: 0, (i * n)..<((i + 1) * n))
            if b == .v, let split = try model.projectSplit(o.feat[b]!, training: training) {
                o.zSplit = split
                o.codes[b] = try model.splitCodes(split)
            } else {
                o.z[b] = try model.project(o.feat[b]!, b, training: training)
                o.codes[b] = try model.codes(o.z[b]!, b)
            }
        }
        let qs = o.codes[.s]!, qd = o.codes[.d]!, qv = o.codes[.v]!
        let qvs = try qv.slice(axis: 1, 0..<c.ks), qvd = try qv.slice(axis: 1, c.ks..<(c.ks + c.kd))
        // z_v for each half of q_v, and the v queue's rows for each (the two halves of a row with split heads).
        let zvs = o.zSplit?.static ?? o.z[.v]!, zvd = o.zSplit?.dynamic ?? o.z[.v]!
        let queueV = queues[.v]!.rows, width = c.featureWidth
        let queueVs = o.zSplit == nil ? queueV : try queueV.slice(axis: 1, 0..<width)
        let queueVd = o.zSplit == nil ? queueV : try queueV.slice(axis: 1, width..<(2 * width))
        let pv = model.prototypes[.v]!
        o.targets["s"] = try targets(codes: qs, queue: queues[.s]!.rows, prototypes: model.prototypes[.s]!, world: world, globalBatch: globalBatch)
        o.targets["d"] = try targets(codes: qd, queue: queues[.d]!.rows, prototypes: model.prototypes[.d]!, world: world, globalBatch: globalBatch)
        o.targets["vs"] = try targets(codes: GradMode.withNoGrad { qvs.detached() }, queue: queueVs,
                                      prototypes: GradMode.withNoGrad { try pv.detached().slice(axis: 0, 0..<c.ks) }, world: world, globalBatch: globalBatch)
        o.targets["vd"] = try targets(codes: GradMode.withNoGrad { qvd.detached() }, queue: queueVd,
                                      prototypes: GradMode.withNoGrad { try pv.detached().slice(axis: 0, c.ks..<(c.ks + c.kd)) }, world: world, globalBatch: globalBatch)

        let aln = try swappedPredictionLoss(qs, qvs, targetA: o.targets["s"]!, targetB: o.targets["vs"]!, tau: c.tau)
            .add(swappedPredictionLoss(qd, qvd, targetA: o.targets["d"]!, targetB: o.targets["vd"]!, tau: c.tau))
        let div = try diversityLoss([qs, qd, qv])
        var fid = try mse(model.reconstruct(qs, .s), o.feat[.s]!.detached())
        fid = try fid.add(mse(model.reconstruct(qd, .d), o.feat[.d]!.detached()))
        // `fid_v_grad = dynamic`: the static half of q_v enters g_v detached, so only q_v^d is trained to describe f_v.
        let fidInputV = c.fidVGrad == .dynamic ? try concat([qvs.detached(), qvd], axis: 1) : qv
        fid = try fid.add(mse(model.reconstruct(fidInputV, .v), o.feat[.v]!.detached()))
        var total = try (c.alnWeight == 1 ? aln : aln.scaled(by: c.alnWeight)).add(fid.scaled(by: c.beta)).add(div.scaled(by: c.gamma))
        o.lossTensors = ["aln": aln, "div": div, "fid": fid]

        o.validS = topKIntersection(qs, qvs, k: c.topK)
        o.validD = topKIntersection(qd, qvd, k: c.topK)
        // The local branch always runs (its features, attention and loss are reported); during the warm-up it is
        // computed without a graph and left out of the total, so its parameters get no gradient.
        let l = o.tokenGrid.0 * o.tokenGrid.1 * o.tokenGrid.2
        func local() throws -> Tensor {
            for (i, b) in [Branch.v, .s, .d].enumerated() {
                let tokens = try fmap.slice(axis: 0, (i * n)..<((i + 1) * n)).reshaped([n, c.featureWidth, l]).transposed(1, 2)
                (o.local[b], o.attention[b]) = try model.localFeatures(tokens: tokens, b)
            }
            let fvs = try o.local[.v]!.slice(axis: 1, 0..<c.ks), fvd = try o.local[.v]!.slice(axis: 1, c.ks..<(c.ks + c.kd))
            let r = replicas
            var loc = try localContrastLoss(o.local[.s]!, fvs, valid: o.validS, margin: c.margin, replicas: r)
            loc = try loc.add(localContrastLoss(fvs, o.local[.s]!, valid: o.validS, margin: c.margin, replicas: r))
            loc = try loc.add(localContrastLoss(o.local[.d]!, fvd, valid: o.validD, margin: c.margin, replicas: r))
            return try loc.add(localContrastLoss(fvd, o.local[.d]!, valid: o.validD, margin: c.margin, replicas: r))
        }
        if useLocal {
            let loc = try local()
            total = try total.add(loc.scaled(by: c.alpha))
            o.lossTensors["loc"] = loc
        } else {
            o.lossTensors["loc"] = try GradMode.withNoGrad { try local() }
        }
        // InfoNCE terms: their negatives are the batch, plus the queue rows unless `nceQueue` is off.
        func negatives(_ rows: Tensor) -> Tensor {
            c.nceQueue ? rows : Tensor(zeros: [0, c.featureWidth])
        }
        if c.nce > 0 {
            let nce = try infoNCELoss(zvd, o.z[.d]!, queue: negatives(queues[.d]!.rows), tau: nceTemperature, extra: reversedZ,
                                      replicas: replicas)
                .add(infoNCELoss(o.z[.d]!, zvd, queue: negatives(queueVd), tau: nceTemperature,
                                 extra: c.nceStaticNegative ? o.z[.s]! : nil, replicas: replicas))
            total = try total.add(nce.scaled(by: c.nce))
            o.lossTensors["nce"] = nce
        }
        if c.nceStatic > 0 {
            let nce = try infoNCELoss(zvs, o.z[.s]!, queue: negatives(queues[.s]!.rows), tau: nceTemperature, replicas: replicas)
                .add(infoNCELoss(o.z[.s]!, zvs, queue: negatives(queueVs), tau: nceTemperature, replicas: replicas))
            total = try total.add(nce.scaled(by: c.nceStatic))
            o.lossTensors["nceStatic"] = nce
        }
        if c.staticConsistency > 0 {
            // Ks · mean over (clip, concept) of (normalize(z_vs)·p̂_k − normalize(sg(z_s))·p̂_k)², p̂_k the first Ks rows
            // of P_v: the static codes of the clip and of its static frame under the same prototypes. With
            // `static_consistency_grad = prototypes` the clip's z_vs is detached too, so only the prototypes move; with
            // `head` z_vs is the static head's again on detached f_v (same values), so the encoder gets none of it.
            let pvs = try pv.normalized(axis: 1).slice(axis: 0, 0..<c.ks)
            let frameCodes = try matmul(o.z[.s]!.detached().normalized(axis: 1), pvs, transposeB: true)
            let clipCodes: Tensor
            switch c.staticConsistencyGrad {
            case .all: clipCodes = qvs
            case .prototypes: clipCodes = try matmul(zvs.detached().normalized(axis: 1), pvs, transposeB: true)
            case .head:
                guard let headZ = try model.projectStaticHeadDetached(o.feat[.v]!, training: training) else {
                    throw ModelError.invalidConfig("static_consistency_grad = head needs v_heads = split")
                }
                clipCodes = try matmul(headZ.normalized(axis: 1), pvs, transposeB: true)
            }
            let consistency = try mse(clipCodes, frameCodes).scaled(by: Scalar(c.ks))
            // Off while split heads act as one (`v_heads_shared_steps`): on one z_v it holds back motion too.
            if !model.splitHeadsShared { total = try total.add(consistency.scaled(by: c.staticConsistency)) }
            o.lossTensors["consistency"] = consistency
        }
        o.lossTensors["total"] = total
        o.losses = Losses(aln: aln.item, div: div.item, fid: fid.item, loc: o.lossTensors["loc"]?.item ?? 0,
                          nce: o.lossTensors["nce"]?.item ?? 0, nceStatic: o.lossTensors["nceStatic"]?.item ?? 0,
                          consistency: o.lossTensors["consistency"]?.item ?? 0, total: total.item)
        return o
    }

    /// Zeroes gradients, runs the forward pass, back-propagates and — when the loss and every gradient are finite —
    /// applies the SGD update and (if `updateQueues`) pushes the batch's unit features into the queues.
    /// A non-finite step changes nothing (batch-norm statistics are put back too) and reports `applied == false`.
    public func step(frames: Tensor, staticIndex: [Int], useLocal: Bool, updateQueues: Bool = true) throws -> StepReport {
        let params = model.parameters!
        params.zeroGrad()
        let norms = model.namedBatchNorms().map(\.1)
        let saved = norms.map { ($0.runningMean.values, $0.runningVar.values, $0.numBatchesTracked) }
        func restoreBatchNorms() {
            for (bn, s) in zip(norms, saved) {
                s.0.withUnsafeBufferPointer { bn.runningMean.storage.pointer.update(from: $0.baseAddress!, count: $0.count) }
                s.1.withUnsafeBufferPointer { bn.runningVar.storage.pointer.update(from: $0.baseAddress!, count: $0.count) }
                bn.numBatchesTracked = s.2
            }
        }
        let outputs = try forward(frames: frames, staticIndex: staticIndex, useLocal: useLocal)
        if let failure = replicas?.takeFailure() { restoreBatchNorms(); throw failure }
        let world = communicator
        // One decision for the whole world: a non-finite loss on any rank skips the step everywhere.
        let lossesFinite = world.size == 1 ? outputs.losses.isFinite
            : try world.allReduce(outputs.losses.isFinite ? 0 : 1 as UInt64, .max) == 0
        guard lossesFinite else {
            restoreBatchNorms()
            return StepReport(outputs: outputs, applied: false, gradientNorm: .nan)
        }
        try outputs.lossTensors["total"]!.backward()
        if let failure = replicas?.takeFailure() { restoreBatchNorms(); throw failure }
        if world.size > 1 {
            // The mean of the ranks' gradients, identical on every rank (one in-place all-reduce of the flat buffer).
            let start = ContinuousClock.now
            try world.allReduce(params.grads.pointer, count: params.count, .sum)
            lastGradientAllReduceSeconds = (ContinuousClock.now - start).seconds
            vaffine(params.grads.pointer, params.grads.pointer, params.count, 1 / Scalar(world.size), 0)
        }
        let norm = params.gradientNorm
        guard norm.isFinite else {
            restoreBatchNorms()
            return StepReport(outputs: outputs, applied: false, gradientNorm: norm)
        }
        // As PyTorch leaves parameters without a gradient untouched, the local branch is frozen during the warm-up.
        // While the split heads act as one (`v_heads_shared_steps`), their linear layers stay the identity.
        optimizer.step(params, frozen: (useLocal ? [] : model.localParameterNames).union(model.splitHeadsShared ? model.sharedHeadsFrozenNames : []))
        if updateQueues {
            try GradMode.withNoGrad {
                for b in Branch.allCases {
                    guard let rows = try? outputs.queueRows(b) else { continue }
                    if world.size == 1 {
                        queues[b]!.push(rows.storage.pointer, count: rows.shape[0])
                    } else {
                        // Every rank's rows in rank order, so the queues stay identical on every rank.
                        let all = try world.allGather(rows.values)
                        all.withUnsafeBufferPointer { queues[b]!.push($0.baseAddress!, count: all.count / rows.shape[1]) }
                    }
                }
            }
        }
        return StepReport(outputs: outputs, applied: true, gradientNorm: norm)
    }
}
