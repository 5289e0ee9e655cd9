import Autograd

extension ModelConfig {
    /// A whole learning method: which of the options beyond the backbone are on. The backbone, clip size and number of
    /// concepts come from the preset; the method sets everything else.
    public enum Method: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
        /// The configuration measured to learn at conceptd's scale (README, "What it learns"): batch-normalised
        /// features before the cosine classifier, gain/offset-invariant frame differences, InfoNCE from the clip to
        /// its own frame differences (with the time-reversed differences as an extra negative) and to its static
        /// frame, batch negatives only.
        case conceptd
        /// The spec's configuration exactly (`../shared/spec/method.md` without its options), whatever else is set.
        case paper

        public var description: String { rawValue }
    }

    /// The option keys a method sets (the `init(metadata:)` names); `method = paper` pins every one of them.
    public static let methodKeys: Set<String> = [
        "sigma", "nce", "nce_tau", "nce_tau_start", "nce_tau_steps", "nce_static", "static_consistency", "static_consistency_grad", "fid_v_grad", "nce_queue", "nce_reverse", "nce_static_negative", "v_heads", "v_heads_init", "v_heads_shared_steps", "difference", "static_view", "tau", "eps",
        "sinkhorn_iters", "queue_length", "topk", "margin", "aln_weight", "alpha", "beta", "gamma", "lr", "momentum",
        "weight_decay", "fid_hidden", "attn_dim", "ks", "kd",
    ]

    /// The preset's backbone and clip size with `method`'s options.
    public static func preset(_ name: String, method: Method) throws -> ModelConfig {
        var c = try preset(name)
        c.apply(method: method)
        return c
    }

    /// Sets every option of `method` (every key in `methodKeys`), leaving backbone and clip size alone.
    public mutating func apply(method: Method) {
        let spec = ModelConfig()
        sigma = spec.sigma; nceTau = spec.nceTau; nceTauStart = spec.nceTauStart; nceTauSteps = spec.nceTauSteps; tau = spec.tau; eps = spec.eps
        sinkhornIterations = spec.sinkhornIterations; queueLength = spec.queueLength; topK = spec.topK; margin = spec.margin
        alnWeight = spec.alnWeight; alpha = spec.alpha; beta = spec.beta; gamma = spec.gamma
        learningRate = spec.learningRate; momentum = spec.momentum; weightDecay = spec.weightDecay
        fidHidden = spec.fidHidden; attnDim = spec.attnDim; ks = spec.ks; kd = spec.kd
        nce = spec.nce; nceStatic = spec.nceStatic; staticConsistency = spec.staticConsistency; staticConsistencyGrad = spec.staticConsistencyGrad; fidVGrad = spec.fidVGrad; nceQueue = spec.nceQueue; nceReverse = spec.nceReverse
        nceStaticNegative = spec.nceStaticNegative; vHeads = spec.vHeads; vHeadsInit = spec.vHeadsInit; vHeadsSharedSteps = spec.vHeadsSharedSteps
        difference = spec.difference; staticView = spec.staticView
        switch method {
        case .paper:
            break
        case .conceptd:
            sigma = .bn
            difference = .normalized
            nce = 1
            nceStatic = 1
            nceQueue = false
            nceReverse = true
        }
    }

    /// Which method this configuration's options are, if exactly one.
    public var method: Method? {
        Method.allCases.first { m in
            var c = self
            c.apply(method: m)
            return c == self
        }
    }

    /// The InfoNCE temperature for logs: `nce_tau`, and its schedule when one is set ("0.07 from 0.2 over 500 steps").
    public var nceTauText: String {
        "\(nceTau)" + (nceTauStart > 0 ? " from \(nceTauStart) over \(nceTauSteps) steps" : "")
    }

    /// The options beyond the backbone in one line (logs, benchmark headers).
    public var optionSummary: String {
        "difference \(difference), static_view \(staticView), nce \(nce), nce_static \(nceStatic), static_consistency \(staticConsistency)\(staticConsistency > 0 && staticConsistencyGrad != .all ? " (\(staticConsistencyGrad) only)" : "")\(fidVGrad != .all ? ", fid_v_grad \(fidVGrad)" : ""), nce_queue \(nceQueue), "
            + "nce_reverse \(nceReverse), nce_static_negative \(nceStaticNegative), v_heads \(vHeads)\(vHeads == .split ? " (\(vHeadsInit) init\(vHeadsSharedSteps > 0 ? ", shared for \(vHeadsSharedSteps) steps" : ""))" : ""), nce_tau \(nceTauText), sigma \(sigma), queue \(queueLength), eps \(eps), tau \(tau), "
            + "alpha \(alpha), beta \(beta), gamma \(gamma), lr \(learningRate)"
    }
}
