import Foundation
import Autograd
import SeededRandom
import TensorKernels

/// The three branches: static (`s`), dynamic (`d`) and the whole clip (`v`).
public enum Branch: String, CaseIterable, Sendable, Codable {
    case s, d, v
}

/// The concept learner's network: the R(2+1)D encoder, prototypes, optional σ projections, reconstruction MLPs and
/// prototype-query attention, with the spec's parameter names (`encoder.stem.0.weight`, `proto_s`, `recon_s.0.weight`,
/// `attn_s.q.weight`, `sigma_s.0.weight`, ...).
public final class ConceptModel: NamedState {
    /// The configuration it was built from.
    public let config: ModelConfig
    /// The backbone.
    public let encoder: R2Plus1DEncoder
    /// Prototypes per branch: `Ks x C`, `Kd x C`, `(Ks+Kd) x C`; initialised `N(0, 1)`.
    public let prototypes: [Branch: Tensor]
    /// `g_x = [Linear(K_x, h), ReLU, Linear(h, C)]`.
    let recon: [Branch: (LinearLayer, LinearLayer)]
    /// Bias-free `q, k, v: Linear(C, d)`.
    let attention: [Branch: (q: LinearLayer, k: LinearLayer, v: LinearLayer)]
    /// `σ_x = [Linear(C, C), BatchNorm1d(C), ReLU, Linear(C, C)]` when `sigma = mlp`.
    let sigma: [Branch: (LinearLayer, BatchNormLayer, LinearLayer)]
    /// `σ_x = BatchNorm1d(C)` when `sigma = bn`.
    let sigmaNorm: [Branch: BatchNormLayer]
    /// The split heads of `v` (`v_heads = split`): `[Linear(C, C), BatchNorm1d(C)]` for `q_v^s` and for `q_v^d`
    /// (the linear layers start as the identity with `v_heads_init = identity`).
    let splitHeads: (static: (LinearLayer, BatchNormLayer), dynamic: (LinearLayer, BatchNormLayer))?
    /// Every trainable parameter in one flat buffer.
    public private(set) var parameters: ParameterSet!
    /// Whether the split heads act as one shared head (`v_heads_shared_steps`): the static head gives both `z_vs` and
    /// `z_vd`, in training and in evaluation. Set by the learner for each step; false without split heads.
    public var splitHeadsShared = false

    /// A randomly initialised model (seeded, so two models with one seed are equal).
    public init(config: ModelConfig, seed: UInt64 = 0) throws {
        try config.validate()
        self.config = config
        var rng = SeededGenerator(seed: seed)
        encoder = R2Plus1DEncoder(config: config, rng: &rng)
        let c = config.featureWidth, h = config.resolvedFidHidden, d = config.resolvedAttnDim
        let counts: [Branch: Int] = [.s: config.ks, .d: config.kd, .v: config.ks + config.kd]
        var protos: [Branch: Tensor] = [:], recon: [Branch: (LinearLayer, LinearLayer)] = [:]
        var attn: [Branch: (q: LinearLayer, k: LinearLayer, v: LinearLayer)] = [:]
        var sigma: [Branch: (LinearLayer, BatchNormLayer, LinearLayer)] = [:]
        var sigmaNorm: [Branch: BatchNormLayer] = [:]
        for b in Branch.allCases {
            protos[b] = Tensor.normal([counts[b]!, c], using: &rng)
        }
        for b in Branch.allCases {
            recon[b] = (LinearLayer(inFeatures: counts[b]!, outFeatures: h, rng: &rng), LinearLayer(inFeatures: h, outFeatures: c, rng: &rng))
        }
        for b in Branch.allCases {
            attn[b] = (LinearLayer(inFeatures: c, outFeatures: d, bias: false, rng: &rng),
                       LinearLayer(inFeatures: c, outFeatures: d, bias: false, rng: &rng),
                       LinearLayer(inFeatures: c, outFeatures: d, bias: false, rng: &rng))
        }
        if config.sigma == .mlp {
            for b in Branch.allCases {
                sigma[b] = (LinearLayer(inFeatures: c, outFeatures: c, rng: &rng),
                            BatchNormLayer(channels: c, momentum: config.bnMomentum, eps: config.bnEps),
                            LinearLayer(inFeatures: c, outFeatures: c, rng: &rng))
            }
        }
        let split = config.vHeads == .split
        if config.sigma == .bn {
            for b in Branch.allCases where !(split && b == .v) {
                sigmaNorm[b] = BatchNormLayer(channels: c, momentum: config.bnMomentum, eps: config.bnEps)
            }
        }
        if split { sigma[.v] = nil }
        func head() -> (LinearLayer, BatchNormLayer) {
            let linear = LinearLayer(inFeatures: c, outFeatures: c, rng: &rng)
            if config.vHeadsInit == .identity { linear.setIdentity() }
            return (linear, BatchNormLayer(channels: c, momentum: config.bnMomentum, eps: config.bnEps))
        }
        splitHeads = split ? (head(), head()) : nil
        prototypes = protos
        self.recon = recon
        attention = attn
        self.sigma = sigma
        self.sigmaNorm = sigmaNorm
        parameters = ParameterSet(namedParameters())
    }

    public func namedParameters() -> [(String, Tensor)] {
        var p = prefixed("encoder", encoder.namedParameters())
        for b in Branch.allCases { p.append(("proto_\(b)", prototypes[b]!)) }
        for b in Branch.allCases {
            let (l0, l2) = recon[b]!
            p += prefixed("recon_\(b).0", l0.namedParameters()) + prefixed("recon_\(b).2", l2.namedParameters())
        }
        for b in Branch.allCases {
            let a = attention[b]!
            p += [("attn_\(b).q.weight", a.q.weight), ("attn_\(b).k.weight", a.k.weight), ("attn_\(b).v.weight", a.v.weight)]
        }
        for b in Branch.allCases {
            guard let (l0, bn, l3) = sigma[b] else { continue }
            p += prefixed("sigma_\(b).0", l0.namedParameters())
            p += [("sigma_\(b).1.weight", bn.weight), ("sigma_\(b).1.bias", bn.bias)]
            p += prefixed("sigma_\(b).3", l3.namedParameters())
        }
        for b in Branch.allCases {
            guard let bn = sigmaNorm[b] else { continue }
            p += [("sigma_\(b).weight", bn.weight), ("sigma_\(b).bias", bn.bias)]
        }
        if let h = splitHeads {
            for (name, (l, bn)) in [("sigma_vs", h.static), ("sigma_vd", h.dynamic)] {
                p += prefixed("\(name).0", l.namedParameters()) + [("\(name).1.weight", bn.weight), ("\(name).1.bias", bn.bias)]
            }
        }
        return p
    }

    public func namedBatchNorms() -> [(String, BatchNormLayer)] {
        var r = prefixed("encoder", encoder.namedBatchNorms())
        for b in Branch.allCases { if let s = sigma[b] { r.append(("sigma_\(b).1", s.1)) } }
        for b in Branch.allCases { if let bn = sigmaNorm[b] { r.append(("sigma_\(b)", bn)) } }
        if let h = splitHeads { r += [("sigma_vs.1", h.static.1), ("sigma_vd.1", h.dynamic.1)] }
        return r
    }

    /// The parameters that stay as they are while the split heads act as one: both linear layers (the identity) and
    /// the dynamic head's batch norm, which is not used then.
    public var sharedHeadsFrozenNames: Set<String> {
        guard splitHeads != nil else { return [] }
        return ["sigma_vs.0.weight", "sigma_vs.0.bias", "sigma_vd.0.weight", "sigma_vd.0.bias", "sigma_vd.1.weight", "sigma_vd.1.bias"]
    }

    /// Ends the shared phase of the split heads: the dynamic head becomes a copy of the static one (linear layer,
    /// batch-norm affine and running statistics), so both heads still compute the same `z` on the next step, and
    /// ``splitHeadsShared`` goes false. Returns the pairs of parameter names copied (static, dynamic), for the
    /// optimiser's state.
    @discardableResult
    public func endSharedHeads() -> [(String, String)] {
        splitHeadsShared = false
        guard let h = splitHeads else { return [] }
        let (sl, sb) = h.static, (dl, db) = h.dynamic
        for (from, to) in [(sl.weight, dl.weight), (sb.weight, db.weight), (sb.bias, db.bias), (sb.runningMean, db.runningMean), (sb.runningVar, db.runningVar)] {
            to.storage.pointer.update(from: from.storage.pointer, count: from.count)
        }
        if let fromBias = sl.bias, let toBias = dl.bias { toBias.storage.pointer.update(from: fromBias.storage.pointer, count: fromBias.count) }
        db.numBatchesTracked = sb.numBatchesTracked
        return ["0.weight", "0.bias", "1.weight", "1.bias"].map { ("sigma_vs.\($0)", "sigma_vd.\($0)") }
    }

    /// Names of the parameters of the local branch (attention), which get zero gradient during the warm-up.
    public var localParameterNames: Set<String> {
        Set(Branch.allCases.flatMap { b in ["q", "k", "v"].map { "attn_\(b).\($0).weight" } })
    }

    // MARK: - pieces of the forward pass

    /// `z_x = σ_x(f_x)` (identity unless `sigma = mlp`).
    func project(_ f: Tensor, _ b: Branch, training: Bool) throws -> Tensor {
        if let bn = sigmaNorm[b] { return try bn(f, training: training) }
        guard let (l0, bn, l3) = sigma[b] else { return f }
        return try l3(bn.relu(l0(f), training: training))
    }

    /// The split heads' projections of `f_v`: `(z_vs, z_vd)`; both the static head's while ``splitHeadsShared``.
    func projectSplit(_ f: Tensor, training: Bool) throws -> (static: Tensor, dynamic: Tensor)? {
        guard let h = splitHeads else { return nil }
        let zs = try h.static.1(h.static.0(f), training: training)
        return (zs, splitHeadsShared ? zs : try h.dynamic.1(h.dynamic.0(f), training: training))
    }

    /// The static split head on detached `f_v` (`static_consistency_grad = head`): the same values as
    /// ``projectSplit(_:training:)``'s static half for the same batch, with gradients for the head's parameters only and
    /// the running statistics left as that pass set them.
    func projectStaticHeadDetached(_ f: Tensor, training: Bool) throws -> Tensor? {
        guard let h = splitHeads else { return nil }
        return try h.static.1(h.static.0(f.detached()), training: training, updatingStatistics: false)
    }

    /// Cosine codes `normalize(z) · normalize(proto)ᵀ`.
    func codes(_ z: Tensor, _ b: Branch) throws -> Tensor {
        try matmul(z.normalized(axis: 1), prototypes[b]!.normalized(axis: 1), transposeB: true)
    }

    /// `q_v` from the split heads: `[normalize(z_vs) · normalize(P_v[:Ks])ᵀ, normalize(z_vd) · normalize(P_v[Ks:])ᵀ]`.
    func splitCodes(_ z: (static: Tensor, dynamic: Tensor)) throws -> Tensor {
        let p = try prototypes[.v]!.normalized(axis: 1), ks = config.ks
        let qs = try matmul(z.static.normalized(axis: 1), p.slice(axis: 0, 0..<ks), transposeB: true)
        let qd = try matmul(z.dynamic.normalized(axis: 1), p.slice(axis: 0, ks..<(ks + config.kd)), transposeB: true)
        return try concat([qs, qd], axis: 1)
    }

    /// `g_x(q)`.
    func reconstruct(_ q: Tensor, _ b: Branch) throws -> Tensor {
        let (l0, l2) = recon[b]!
        return try l2(l0(q).relu())
    }

    /// Prototype-query cross-attention over tokens `X` (`N x L x C`): `F = Q + softmax(Q·Kᵀ/√d)·V` (`N x K x d`),
    /// and the attention weights (`N x K x L`).
    func localFeatures(tokens x: Tensor, _ b: Branch) throws -> (features: Tensor, attention: Tensor) {
        let a = attention[b]!
        let q = try a.q(prototypes[b]!)            // K x d
        let k = try a.k(x), v = try a.v(x)         // N x L x d
        let d = Scalar(q.shape[1])
        let weights = try matmul(q, k, transposeB: true).scaled(by: 1 / d.squareRoot()).softmax(axis: 2)
        return (try matmul(weights, v).add(q), weights)
    }
}
