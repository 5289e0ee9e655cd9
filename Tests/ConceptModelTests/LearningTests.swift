import Foundation
import Testing
@testable import ConceptModel
import Autograd
import SafeTensors
import SeededRandom
import TensorKernels

/// A tiny end-to-end run: the tiny preset's backbone at reduced size learns on synthetic moving shapes over
/// textured backgrounds; the alignment loss must fall and every loss stay finite.
@Suite struct LearningTests {
    /// `n` clips of `t+1` frames (`n x 3 x (t+1) x h x w`, roughly normalised): a coloured grating or checkerboard
    /// background (static content) and a bright square moving in one of four directions (dynamic content).
    static func syntheticBatch(n: Int, t: Int, h: Int, w: Int, rng: inout SeededGenerator) throws -> (Tensor, [Int]) {
        var values = [Scalar](repeating: 0, count: n * 3 * (t + 1) * h * w)
        var statics: [Int] = []
        for i in 0..<n {
            let background = Int(rng.next() % 4), motion = Int(rng.next() % 4)
            let colour: [Scalar] = (0..<3).map { _ in rng.uniform() * 1.6 - 0.8 }
            let freq = 0.3 + 0.4 * Scalar(background % 2)
            let (dx, dy) = [(1, 0), (-1, 0), (0, 1), (0, -1)][motion]
            let x0 = Int(rng.next() % UInt64(w / 2)) + w / 4, y0 = Int(rng.next() % UInt64(h / 2)) + h / 4
            for f in 0...t {
                let sx = x0 + dx * 2 * f, sy = y0 + dy * 2 * f
                for c in 0..<3 {
                    for y in 0..<h {
                        for x in 0..<w {
                            var v: Scalar
                            if background < 2 { v = colour[c] * Scalar(sin(Double(freq) * Double(x + (background == 1 ? y : 0)))) }
                            else { v = colour[c] * (((x / 4 + y / 4) % 2 == 0) ? 1 : -1) * (background == 3 ? 0.5 : 1) }
                            if Swift.abs(x - sx) <= 2 && Swift.abs(y - sy) <= 2 { v = 2 }
                            values[(((i * 3 + c) * (t + 1) + f) * h + y) * w + x] = v
                        }
                    }
                }
            }
            statics.append(Int(rng.next() % UInt64(t)))
        }
        return (try Tensor(values, shape: [n, 3, t + 1, h, w]), statics)
    }

    @Test func sixtyStepsLowerTheAlignmentLoss() throws {
        var config = try ModelConfig.preset("tiny")
        config.frames = 4; config.height = 32; config.width = 32
        config.ks = 16; config.kd = 16; config.queueLength = 32; config.topK = 3
        let learner = try ConceptLearner(config: config, seed: 42)
        var rng = SeededGenerator(seed: 7)
        var aln: [Scalar] = []
        for step in 0..<60 {
            let (frames, statics) = try Self.syntheticBatch(n: 8, t: config.frames, h: config.height, w: config.width, rng: &rng)
            let report = try learner.step(frames: frames, staticIndex: statics, useLocal: step >= 10)
            #expect(report.applied, "step \(step) was skipped: \(report.outputs.losses)")
            #expect(report.outputs.losses.isFinite, "step \(step): \(report.outputs.losses)")
            aln.append(report.outputs.losses.aln)
        }
        let first = aln.prefix(10).reduce(0, +) / 10, last = aln.suffix(10).reduce(0, +) / 10
        print("L_aln: first 10 steps \(first), last 10 steps \(last)")
        #expect(last < first * 0.95, "L_aln did not fall: \(first) → \(last)")
        #expect(learner.optimizer.steps == 60)
        #expect(learner.queues[.s]!.count == 32)
    }

    /// A small learner of the default method after three training steps (so batch norm's running statistics are not
    /// the initial ones), and a batch of five clips it has not seen.
    static func trainedSmallLearner(_ configure: (inout ModelConfig) -> Void) throws -> (ConceptLearner, frames: Tensor, statics: [Int]) {
        var config = try ModelConfig.preset("tiny")
        config.widths = [4, 8, 8, 12]; config.stem = 5; config.frames = 3; config.height = 16; config.width = 16
        config.ks = 6; config.kd = 5; config.topK = 2; config.queueLength = 8
        config.apply(method: .conceptd)
        configure(&config)
        let learner = try ConceptLearner(config: config, seed: 11)
        var rng = SeededGenerator(seed: 3)
        for step in 0..<3 {
            let (frames, statics) = try Self.syntheticBatch(n: 4, t: config.frames, h: 16, w: 16, rng: &rng)
            _ = try learner.step(frames: frames, staticIndex: statics, useLocal: step > 0)
        }
        let (frames, statics) = try Self.syntheticBatch(n: 5, t: config.frames, h: 16, w: 16, rng: &rng)
        return (learner, frames, statics)
    }

    /// Expects two tensors of one shape whose values agree to 1e-4 (relative above 1).
    static func expectClose(_ a: Tensor?, _ b: Tensor?, _ name: String) throws {
        let a = try #require(a, "\(name) missing"), b = try #require(b, "\(name) missing")
        #expect(a.shape == b.shape, "\(name)")
        let worst = zip(a.values, b.values).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        #expect(worst < 1e-4, "\(name) differs by \(worst)")
    }

    /// The clip-view-only evaluation pass gives what the full evaluation pass gives for `v`, with shared and with split
    /// heads; it changes nothing, and bad frames are a clear error.
    @Test(arguments: [ModelConfig.VHeads.shared, .split])
    func theClipViewPassEqualsTheFullEvaluationPass(heads: ModelConfig.VHeads) throws {
        let (learner, frames, statics) = try Self.trainedSmallLearner { $0.vHeads = heads }
        let before = try learner.model.stateDict()
        let full = try GradMode.withNoGrad { try learner.forward(frames: frames, staticIndex: statics, useLocal: true, training: false) }
        let fast = try learner.encode(frames: frames)
        #expect(fast.tokenGrid == full.tokenGrid)
        try Self.expectClose(fast.feat[.v], full.feat[.v], "feat")
        try Self.expectClose(fast.codes[.v], full.codes[.v], "codes")
        try Self.expectClose(fast.local[.v], full.local[.v], "local")
        try Self.expectClose(fast.attention[.v], full.attention[.v], "attention")
        if heads == .shared { try Self.expectClose(fast.z[.v], full.z[.v], "z") } else {
            try Self.expectClose(fast.zSplit?.static, full.zSplit?.static, "z_vs")
            try Self.expectClose(fast.zSplit?.dynamic, full.zSplit?.dynamic, "z_vd")
        }
        #expect(fast.feat[.s] == nil && fast.codes[.d] == nil && fast.lossTensors.isEmpty)
        #expect(try learner.model.stateDict() == before, "the evaluation pass changed the model")
        #expect(throws: ModelError.self) { try learner.encode(frames: Tensor(zeros: [2, 3, 1, 16, 16])) }
        #expect(throws: ModelError.self) { try learner.encode(frames: Tensor(zeros: [2, 3, 4, 16])) }
    }

    /// Split heads that start as the identity (`v_heads_init = identity`) give the shared heads' codes, losses and
    /// encoder gradient on the first step, in training and in evaluation; random heads do not. The key round-trips
    /// through metadata and needs split heads.
    @Test func identityInitSplitHeadsStartAsTheSharedHead() throws {
        var config = try ModelConfig.preset("tiny", method: .conceptd)
        config.widths = [4, 8, 8, 12]; config.stem = 5; config.frames = 3; config.height = 16; config.width = 16
        config.ks = 6; config.kd = 5; config.topK = 2; config.queueLength = 8
        config.vHeads = .shared; config.vHeadsInit = .random
        var split = config
        split.vHeads = .split; split.vHeadsInit = .identity
        var randomSplit = split
        randomSplit.vHeadsInit = .random
        var rng = SeededGenerator(seed: 3)
        let (frames, statics) = try Self.syntheticBatch(n: 4, t: config.frames, h: 16, w: 16, rng: &rng)
        func firstStep(_ c: ModelConfig) throws -> (ForwardOutputs, ForwardOutputs, [Scalar]) {
            let learner = try ConceptLearner(config: c, seed: 11)
            let eval = try GradMode.withNoGrad { try learner.forward(frames: frames, staticIndex: statics, useLocal: true, training: false) }
            let train = try learner.forward(frames: frames, staticIndex: statics, useLocal: true, training: true)
            try #require(train.lossTensors["total"]).backward()
            let stem = try #require(learner.model.namedParameters().first { $0.0 == "encoder.stem.0.weight" }?.1)
            return (eval, train, stem.gradValues)
        }
        let (sharedEval, sharedTrain, sharedGrad) = try firstStep(config)
        let (splitEval, splitTrain, splitGrad) = try firstStep(split)
        for (a, b, pass) in [(splitEval, sharedEval, "eval"), (splitTrain, sharedTrain, "train")] {
            try Self.expectClose(a.codes[.v], b.codes[.v], "\(pass) q_v")
            try Self.expectClose(a.zSplit?.static, b.z[.v], "\(pass) z_vs")
            try Self.expectClose(a.zSplit?.dynamic, b.z[.v], "\(pass) z_vd")
        }
        #expect(abs(splitTrain.losses.total - sharedTrain.losses.total) < 1e-4 * max(1, abs(sharedTrain.losses.total)),
                "\(splitTrain.losses) against \(sharedTrain.losses)")
        let worst = zip(splitGrad, sharedGrad).map { abs($0 - $1) }.max() ?? 0, scale = sharedGrad.map(abs).max() ?? 0
        #expect(scale > 0 && worst < 1e-3 * scale, "stem gradient differs by \(worst) (largest \(scale))")
        let (randomEval, _, _) = try firstStep(randomSplit)
        let apart = zip(randomEval.codes[.v]!.values, sharedEval.codes[.v]!.values).map { abs($0 - $1) }.max() ?? 0
        #expect(apart > 1e-2, "random heads gave the shared codes")

        #expect(try ModelConfig(metadata: split.metadata) == split)
        #expect(split.metadata["v_heads_init"] == "identity" && randomSplit.metadata["v_heads_init"] == nil)
        var shared = config
        shared.vHeadsInit = .identity
        #expect(throws: ModelError.self) { try shared.validate() }
        #expect(throws: ModelError.self) { try ModelConfig(metadata: ["v_heads_init": "identity"]) }
        var pinned = split
        pinned.apply(method: .paper)
        #expect(pinned.vHeadsInit == .random && pinned.vHeads == .shared)
        // `--set v_heads=shared` over a method with identity split heads drops their init with them.
        var overridden = split
        try overridden.apply(overrides: ["v_heads": "shared"])
        #expect(overridden.vHeads == .shared && overridden.vHeadsInit == .random)
        #expect(throws: ModelError.self) { try overridden.apply(overrides: ["v_heads": "shared", "v_heads_init": "identity"]) }
    }

    /// `v_heads_shared_steps = N`: for N steps the split model trains exactly as the shared heads do (same losses and
    /// encoder, `sigma_vs.1` as `sigma_v`, the linear layers held at the identity, the dynamic head untouched); before
    /// step N + 1 the dynamic head becomes a copy of the static one (weights, running statistics, momentum), so step
    /// N + 1 still starts equal, and from then on the heads train apart. The key needs identity split heads.
    @Test func sharedStepsTrainSplitHeadsAsTheSharedHeadThenCopyIt() throws {
        var config = try ModelConfig.preset("tiny", method: .conceptd)
        config.widths = [4, 8, 8, 12]; config.stem = 5; config.frames = 3; config.height = 16; config.width = 16
        config.ks = 6; config.kd = 5; config.topK = 2; config.queueLength = 8
        config.vHeads = .shared; config.vHeadsInit = .random; config.vHeadsSharedSteps = 0; config.staticConsistency = 0
        var tied = config
        tied.vHeads = .split; tied.vHeadsInit = .identity; tied.vHeadsSharedSteps = 2
        // The consistency term waits for the heads to part: the shared steps equal shared heads without it.
        tied.staticConsistency = 10
        let shared = try ConceptLearner(config: config, seed: 11), split = try ConceptLearner(config: tied, seed: 11)
        #expect(split.model.splitHeadsShared && !shared.model.splitHeadsShared)
        let initial = Dictionary(uniqueKeysWithValues: split.model.namedParameters().map { ($0.0, $0.1.values) })
        var rng = SeededGenerator(seed: 3)
        func param(_ l: ConceptLearner, _ name: String) throws -> [Scalar] {
            try #require(l.model.namedParameters().first { $0.0 == name }?.1).values
        }
        for step in 1...3 {
            let (frames, statics) = try Self.syntheticBatch(n: 4, t: config.frames, h: 16, w: 16, rng: &rng)
            split.prepareHeads(forStep: step)
            if step == 3 {
                // The copy: the dynamic head is now the static one, momentum included, and the heads are apart.
                #expect(!split.model.splitHeadsShared)
                for part in ["0.weight", "0.bias", "1.weight", "1.bias"] {
                    #expect(try param(split, "sigma_vd.\(part)") == param(split, "sigma_vs.\(part)"), "sigma_vd.\(part)")
                }
                let bns = Dictionary(uniqueKeysWithValues: split.model.namedBatchNorms())
                #expect(bns["sigma_vd.1"]!.runningMean.values == bns["sigma_vs.1"]!.runningMean.values)
                #expect(bns["sigma_vd.1"]!.runningVar.values == bns["sigma_vs.1"]!.runningVar.values)
                let p = split.model.parameters!, m = split.optimizer.momentumBuffer
                for part in ["1.weight", "1.bias"] {
                    let i = p.names.firstIndex(of: "sigma_vs.\(part)")!, j = p.names.firstIndex(of: "sigma_vd.\(part)")!
                    let n = p.tensors[i].count
                    #expect(Array(m[p.offsets[j] ..< p.offsets[j] + n]) == Array(m[p.offsets[i] ..< p.offsets[i] + n]) && m[p.offsets[i]] != 0)
                }
            }
            let a = try shared.step(frames: frames, staticIndex: statics, useLocal: true)
            let b = try split.step(frames: frames, staticIndex: statics, useLocal: true)
            // Float32 sums in another order (z used twice instead of once) drift by ~1e-4 over two steps.
            let tolerance: Scalar = step <= 2 ? 1e-4 : 1e-3
            // The consistency term is reported throughout and joins the total once the heads have parted.
            let splitTotal = b.outputs.losses.total - (step <= 2 ? 0 : 10 * b.outputs.losses.consistency)
            #expect(b.outputs.losses.consistency > 0)
            #expect(abs(a.outputs.losses.total - splitTotal) < tolerance * max(1, abs(a.outputs.losses.total)),
                    "step \(step): \(b.outputs.losses) against \(a.outputs.losses)")
            let worst = zip(b.outputs.codes[.v]!.values, a.outputs.codes[.v]!.values).map { abs($0 - $1) }.max() ?? 1
            #expect(worst < tolerance, "step \(step): q_v differs by \(worst)")
            guard step <= 2 else { continue }
            #expect(Self.apart(try param(split, "encoder.stem.0.weight"), try param(shared, "encoder.stem.0.weight")) < 1e-4, "step \(step) encoder")
            #expect(Self.apart(try param(split, "sigma_vs.1.weight"), try param(shared, "sigma_v.weight")) < 1e-4, "step \(step) sigma_vs.1 as sigma_v")
            for name in ["sigma_vs.0.weight", "sigma_vs.0.bias", "sigma_vd.0.weight", "sigma_vd.0.bias", "sigma_vd.1.weight", "sigma_vd.1.bias"] {
                #expect(try param(split, name) == initial[name], "\(name) moved during the shared steps")
            }
        }
        #expect(try param(split, "sigma_vd.0.weight") != initial["sigma_vd.0.weight"], "the dynamic head did not train after the shared steps")
        #expect(try param(split, "sigma_vd.0.weight") != param(split, "sigma_vs.0.weight"), "the heads did not part")

        #expect(try ModelConfig(metadata: tied.metadata) == tied)
        #expect(tied.metadata["v_heads_shared_steps"] == "2" && config.metadata["v_heads_shared_steps"] == nil)
        var randomHeads = tied
        randomHeads.vHeadsInit = .random
        #expect(throws: ModelError.self) { try randomHeads.validate() }
        #expect(throws: ModelError.self) { try ModelConfig(metadata: ["v_heads_shared_steps": "5"]) }
        var pinned = tied
        pinned.apply(method: .paper)
        #expect(pinned.vHeadsSharedSteps == 0)
    }

    /// The micro model of the per-term gradient tests: the default method on 3 x 16 x 16 clips, 6 + 5 concepts, a
    /// queue of 8, random heads of the given kind and no shared phase.
    static func microConfig(heads: ModelConfig.VHeads) throws -> ModelConfig {
        var config = try ModelConfig.preset("tiny", method: .conceptd)
        config.widths = [4, 8, 8, 12]; config.stem = 5; config.frames = 3; config.height = 16; config.width = 16
        config.ks = 6; config.kd = 5; config.topK = 2; config.queueLength = 8; config.vHeads = heads
        config.vHeadsInit = .random; config.vHeadsSharedSteps = 0
        return config
    }

    /// One forward and backward pass of a fresh learner (seed 11) on the gradient tests' batch (4 clips, seed 5):
    /// every parameter's gradient by name, the losses, and the learner.
    static func microStep(_ c: ModelConfig) throws -> (grads: [String: [Scalar]], losses: Losses, learner: ConceptLearner) {
        var rng = SeededGenerator(seed: 5)
        let (frames, statics) = try syntheticBatch(n: 4, t: c.frames, h: 16, w: 16, rng: &rng)
        let learner = try ConceptLearner(config: c, seed: 11)
        let o = try learner.forward(frames: frames, staticIndex: statics, useLocal: true, training: true)
        try #require(o.lossTensors["total"]).backward()
        return (Dictionary(uniqueKeysWithValues: learner.model.namedParameters().map { ($0.0, $0.1.gradValues) }), o.losses, learner)
    }

    /// The largest difference between two gradients, relative to the largest magnitude of the second.
    static func apart(_ a: [Scalar], _ b: [Scalar]) -> Scalar {
        (zip(a, b).map { abs($0 - $1) }.max() ?? 0) / max(1e-12, b.map(abs).max() ?? 0)
    }

    /// With `static_consistency_grad = prototypes` the consistency term moves the static rows of `P_v` and nothing else:
    /// every other gradient equals that of the same step without the term, while the full term (`all`) also reaches
    /// the encoder. The key needs the term.
    @Test(arguments: [ModelConfig.VHeads.shared, .split])
    func prototypeOnlyConsistencyMovesOnlyTheStaticPrototypes(heads: ModelConfig.VHeads) throws {
        var config = try Self.microConfig(heads: heads)
        config.staticConsistency = 0
        func gradients(_ c: ModelConfig) throws -> (grads: [String: [Scalar]], consistency: Scalar) {
            let step = try Self.microStep(c)
            return (step.grads, step.losses.consistency)
        }
        var full = config, prototypes = config
        full.staticConsistency = 3
        prototypes.staticConsistency = 3; prototypes.staticConsistencyGrad = .prototypes
        let (without, _) = try gradients(config)
        let (withFull, fullTerm) = try gradients(full)
        let (withPrototypes, prototypeTerm) = try gradients(prototypes)
        #expect(fullTerm > 0 && abs(fullTerm - prototypeTerm) < 1e-5 * fullTerm, "the term's value: \(fullTerm) and \(prototypeTerm)")
        for (name, g) in without where name != "proto_v" {
            #expect(Self.apart(withPrototypes[name]!, g) < 1e-4, "\(name) moved with prototype-only consistency")
        }
        #expect(Self.apart(withPrototypes["proto_v"]!, without["proto_v"]!) > 1e-3, "the static prototypes did not move")
        #expect(Self.apart(withFull["encoder.stem.0.weight"]!, without["encoder.stem.0.weight"]!) > 1e-3, "the full term did not reach the encoder")
        // Only the static rows of P_v: the dynamic rows' gradient is unchanged.
        let width = config.featureWidth, staticCount = config.ks * width
        #expect(Self.apart(Array(withPrototypes["proto_v"]![staticCount...]), Array(without["proto_v"]![staticCount...])) < 1e-4)

        #expect(try ModelConfig(metadata: prototypes.metadata) == prototypes)
        #expect(prototypes.metadata["static_consistency_grad"] == "prototypes" && full.metadata["static_consistency_grad"] == nil)
        var orphan = config
        orphan.staticConsistencyGrad = .prototypes
        #expect(throws: ModelError.self) { try orphan.validate() }
    }

    /// With `static_consistency_grad = head` the consistency term trains the static split head and the static rows of
    /// `P_v`, not the encoder: the encoder's (and every other) gradient equals that of the step without the term, the
    /// static head's equals that of the full term (`all`), the value is the full term's, and the head's second pass
    /// leaves the batch-norm running statistics as the forward pass set them. It needs split heads.
    @Test func headOnlyConsistencyTrainsTheStaticHeadNotTheEncoder() throws {
        var config = try Self.microConfig(heads: .split)
        config.staticConsistency = 0
        func run(_ c: ModelConfig) throws -> (grads: [String: [Scalar]], consistency: Scalar, norms: [String: [Scalar]]) {
            let step = try Self.microStep(c)
            var norms: [String: [Scalar]] = [:]
            for (name, bn) in step.learner.model.namedBatchNorms() {
                norms[name] = bn.runningMean.values + bn.runningVar.values + [Scalar(bn.numBatchesTracked)]
            }
            return (step.grads, step.losses.consistency, norms)
        }
        var full = config, head = config
        full.staticConsistency = 3
        head.staticConsistency = 3; head.staticConsistencyGrad = .head
        let without = try run(config), withFull = try run(full), withHead = try run(head)
        #expect(withFull.consistency > 0 && abs(withFull.consistency - withHead.consistency) < 1e-5 * withFull.consistency,
                "the term's value: \(withFull.consistency) and \(withHead.consistency)")
        let trained = Set(["sigma_vs.0.weight", "sigma_vs.0.bias", "sigma_vs.1.weight", "sigma_vs.1.bias", "proto_v"])
        for (name, g) in without.grads where !trained.contains(name) {
            #expect(Self.apart(withHead.grads[name]!, g) < 1e-4, "\(name) moved with head-only consistency")
        }
        // The linear layer's bias feeds a batch norm, which takes the mean out: its gradient is zero up to rounding.
        let moved = trained.subtracting(["sigma_vs.0.bias"])
        for name in moved {
            #expect(Self.apart(withHead.grads[name]!, without.grads[name]!) > 1e-3, "\(name) did not move with head-only consistency")
        }
        for name in moved where name.hasPrefix("sigma_vs") {
            #expect(Self.apart(withHead.grads[name]!, withFull.grads[name]!) < 1e-4, "\(name): the head's gradient is not the full term's")
        }
        #expect(Self.apart(withFull.grads["encoder.stem.0.weight"]!, without.grads["encoder.stem.0.weight"]!) > 1e-3, "the full term did not reach the encoder")
        #expect(withHead.norms == without.norms, "the head's second pass changed batch-norm running statistics")

        #expect(try ModelConfig(metadata: head.metadata) == head)
        #expect(head.metadata["static_consistency_grad"] == "head")
        var shared = head
        shared.vHeads = .shared
        #expect(throws: ModelError.self) { try shared.validate() }
        var orphan = config
        orphan.staticConsistencyGrad = .head
        #expect(throws: ModelError.self) { try orphan.validate() }
    }

    /// With `fid_v_grad = dynamic` the reconstruction of `f_v` trains the dynamic half of `q_v` only. With split heads
    /// the static head and the static rows of `P_v` are reached only through `q_v^s`, so their gradient equals that
    /// of the step without `L_fid` (`beta = 0`) while the paper's `all` moves them; the dynamic head's and the
    /// reconstruction MLP's equal `all`'s, and so does the loss. The encoder still gets the term through `q_v^d`, a
    /// different gradient from `all`'s.
    @Test func dynamicOnlyFidelityLeavesTheStaticCodesAlone() throws {
        var config = try Self.microConfig(heads: .split)
        config.beta = 5
        func run(_ c: ModelConfig) throws -> (grads: [String: [Scalar]], fid: Scalar) {
            let step = try Self.microStep(c)
            return (step.grads, step.losses.fid)
        }
        var dynamic = config, noFid = config
        dynamic.fidVGrad = .dynamic
        noFid.beta = 0
        let all = try run(config), dyn = try run(dynamic), none = try run(noFid)
        #expect(all.fid > 0 && abs(all.fid - dyn.fid) < 1e-6 * all.fid, "the term's value: \(all.fid) and \(dyn.fid)")
        let width = config.featureWidth, staticCount = config.ks * width
        for name in ["sigma_vs.0.weight", "sigma_vs.1.weight", "sigma_vs.1.bias"] {
            #expect(Self.apart(dyn.grads[name]!, none.grads[name]!) < 1e-4, "\(name) still gets L_fid")
            #expect(Self.apart(all.grads[name]!, none.grads[name]!) > 1e-3, "\(name) gets no L_fid with all")
        }
        #expect(Self.apart(Array(dyn.grads["proto_v"]![..<staticCount]), Array(none.grads["proto_v"]![..<staticCount])) < 1e-4)
        #expect(Self.apart(Array(all.grads["proto_v"]![..<staticCount]), Array(none.grads["proto_v"]![..<staticCount])) > 1e-3)
        for name in ["sigma_vd.0.weight", "sigma_vd.1.weight", "recon_v.0.weight", "recon_v.2.weight"] {
            #expect(Self.apart(dyn.grads[name]!, all.grads[name]!) < 1e-4, "\(name) differs from all's")
        }
        #expect(Self.apart(Array(dyn.grads["proto_v"]![staticCount...]), Array(all.grads["proto_v"]![staticCount...])) < 1e-4)
        #expect(Self.apart(dyn.grads["encoder.stem.0.weight"]!, all.grads["encoder.stem.0.weight"]!) > 1e-4, "the encoder's gradient did not change")

        #expect(try ModelConfig(metadata: dynamic.metadata) == dynamic)
        #expect(dynamic.metadata["fid_v_grad"] == "dynamic" && config.metadata["fid_v_grad"] == nil)
        var pinned = dynamic
        pinned.apply(method: .paper)
        #expect(pinned.fidVGrad == .all)
    }

    /// The static-view pass gives what the full evaluation pass gives for `s` when the static frame is the middle one,
    /// with the frame and the gray static view; a clip whose frames are all one frame has `feat[s] == feat[v]`.
    @Test(arguments: [ModelConfig.StaticView.frame, .gray])
    func theStaticViewPassEqualsTheFullEvaluationPass(view: ModelConfig.StaticView) throws {
        let (learner, frames, _) = try Self.trainedSmallLearner { $0.staticView = view }
        let config = learner.config
        let before = try learner.model.stateDict()
        let middle = [Int](repeating: config.frames / 2, count: 5)
        let full = try GradMode.withNoGrad { try learner.forward(frames: frames, staticIndex: middle, useLocal: true, training: false) }
        let fast = try learner.encodeStatic(frames: frames)
        try Self.expectClose(fast.feat[.s], full.feat[.s], "feat")
        try Self.expectClose(fast.z[.s], full.z[.s], "z")
        try Self.expectClose(fast.codes[.s], full.codes[.s], "codes")
        #expect(fast.codes[.s]?.shape == [5, config.ks])
        #expect(fast.feat[.v] == nil && fast.codes[.d] == nil && fast.lossTensors.isEmpty)
        // Another static frame is another view.
        let first = try learner.encodeStatic(frames: frames, staticIndex: 0)
        #expect(first.feat[.s]!.values != fast.feat[.s]!.values)
        #expect(try learner.model.stateDict() == before, "the static pass changed the model")
        if view == .frame {
            // A still clip: every frame the same, so the static view is the clip view.
            var still = frames.values
            let t1 = config.frames + 1, hw = 16 * 16
            for i in 0..<5 { for c in 0..<3 { for f in 1..<t1 {
                let base = ((i * 3 + c) * t1) * hw
                for p in 0..<hw { still[base + f * hw + p] = still[base + p] }
            } } }
            let clip = try Tensor(still, shape: frames.shape)
            try Self.expectClose(learner.encodeStatic(frames: clip).feat[.s], learner.encode(frames: clip).feat[.v], "still clip: feat[s] vs feat[v]")
        }
        #expect(throws: ModelError.self) { try learner.encodeStatic(frames: frames, staticIndex: config.frames) }
        #expect(throws: ModelError.self) { try learner.encodeStatic(frames: Tensor(zeros: [2, 3, 1, 16, 16])) }
    }

    @Test func badInputsAreClearErrors() throws {
        var config = try ModelConfig.preset("tiny")
        config.frames = 2; config.height = 16; config.width = 16; config.ks = 4; config.kd = 4; config.topK = 2; config.queueLength = 0
        let learner = try ConceptLearner(config: config)
        #expect(throws: ModelError.self) { try learner.step(frames: Tensor(zeros: [2, 3, 3, 16]), staticIndex: [0, 0], useLocal: false) }
        #expect(throws: ModelError.self) { try learner.step(frames: Tensor(zeros: [2, 3, 3, 16, 16]), staticIndex: [0, 5], useLocal: false) }
        #expect(throws: ModelError.self) { try learner.step(frames: Tensor(zeros: [1, 3, 3, 16, 16]), staticIndex: [0], useLocal: false) }
        #expect(throws: ModelError.self) { try ModelConfig.preset("huge") }
        #expect(throws: ModelError.self) { try ModelConfig(metadata: ["widths": "[1, 2]"]) }
        #expect(throws: ModelError.self) { try ModelConfig(metadata: ["tau": "abc"]) }
    }

    @Test func viewsFollowTheSpec() throws {
        // frame k of clip i, channel c has the value 100 i + 10 c + k².
        let n = 2, t = 3, h = 2, w = 2
        var v = [Scalar](repeating: 0, count: n * 3 * (t + 1) * h * w)
        for i in 0..<n { for c in 0..<3 { for k in 0...t { for p in 0..<(h * w) {
            v[((i * 3 + c) * (t + 1) + k) * h * w + p] = Scalar(100 * i + 10 * c + k * k)
        } } } }
        let x = try ConceptLearner.views(frames: Tensor(v, shape: [n, 3, t + 1, h, w]), staticIndex: [2, 0])
        #expect(x.shape == [3 * n, 3, t, h, w])
        func at(_ clip: Int, _ c: Int, _ k: Int) -> Scalar { x.values[((clip * 3 + c) * t + k) * h * w] }
        #expect(at(1, 2, 2) == 100 + 20 + 4)                  // v: frame 2 of clip 1
        #expect(at(n + 0, 1, 0) == 10 + 4 && at(n + 0, 1, 2) == 10 + 4)   // s: clip 0 repeats frame 2
        #expect(at(n + 1, 0, 1) == 100)                        // s: clip 1 repeats frame 0
        #expect(at(2 * n + 0, 0, 2) == 9 - 4)                  // d: frame 3 − frame 2
    }
}
