import Foundation
import Autograd
import TensorKernels

extension ModelConfig {
    /// Reads a configuration from the string metadata of a parity case or snapshot (`widths`, `stem`, `blocks`, `ks`,
    /// `kd`, `frames`, `height`, `width`, `queue_length`, `fid_hidden`, `attn_dim`, `sigma`, `nce`, `nce_tau`, `tau`,
    /// `eps`, `sinkhorn_iters`, `topk`, `margin`, `aln_weight`, `alpha`, `beta`, `gamma`, `lr`, `momentum`, `weight_decay`,
    /// `bn_momentum`, `bn_eps`, `nce_tau_start`, `nce_tau_steps`, `nce_static`, `static_consistency`, `static_consistency_grad`, `fid_v_grad`, `nce_queue`, `difference`, `static_view`, `nce_reverse`, `nce_static_negative`, `v_heads`, `v_heads_init`). Missing keys keep the defaults; malformed values are errors naming the key.
    public init(metadata m: [String: String]) throws {
        self.init()
        try apply(metadata: m)
    }

    /// Sets every key of `m` (the keys of `init(metadata:)`) on this configuration and validates the result; keys
    /// it does not know are errors naming them.
    public mutating func apply(overrides m: [String: String]) throws {
        let unknown = Set(m.keys).subtracting(Self.metadataKeys)
        guard unknown.isEmpty else {
            throw ModelError.invalidConfig("unknown key(s) \(unknown.sorted().joined(separator: ", ")) (known: \(Self.metadataKeys.sorted().joined(separator: ", ")))")
        }
        try apply(metadata: m)
    }

    /// Every key `init(metadata:)` reads.
    public static let metadataKeys: Set<String> = [
        "widths", "stem", "blocks", "ks", "kd", "frames", "height", "width", "queue_length", "fid_hidden", "attn_dim", "sigma",
        "nce", "nce_tau", "nce_tau_start", "nce_tau_steps", "nce_static", "static_consistency", "static_consistency_grad", "fid_v_grad", "nce_queue", "difference", "static_view", "nce_reverse", "nce_static_negative", "v_heads", "v_heads_init", "v_heads_shared_steps", "tau", "eps", "sinkhorn_iters", "topk", "margin",
        "aln_weight", "alpha", "beta", "gamma", "lr", "momentum", "weight_decay", "bn_momentum", "bn_eps",
    ]

    private mutating func apply(metadata m: [String: String]) throws {
        func int(_ k: String) throws -> Int? {
            guard let s = m[k] else { return nil }
            guard let v = Int(s.trimmingCharacters(in: .whitespaces)) else { throw ModelError.invalidConfig("\(k) = '\(s)' is not an integer") }
            return v
        }
        func float(_ k: String) throws -> Scalar? {
            guard let s = m[k] else { return nil }
            guard let v = Scalar(s.trimmingCharacters(in: .whitespaces)), v.isFinite else { throw ModelError.invalidConfig("\(k) = '\(s)' is not a number") }
            return v
        }
        func ints(_ k: String) throws -> [Int]? {
            guard let s = m[k] else { return nil }
            let body = s.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
            let parts = body.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { throw ModelError.invalidConfig("\(k) = '\(s)' is not a list of integers") }
            return parts.map { $0! }
        }
        func bool(_ k: String) throws -> Bool? {
            guard let s = m[k] else { return nil }
            switch s.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true", "1": return true
            case "false", "0": return false
            default: throw ModelError.invalidConfig("\(k) = '\(s)' (true or false)")
            }
        }
        func choice<E: RawRepresentable & CaseIterable>(_ k: String, _: E.Type) throws -> E? where E.RawValue == String {
            guard let s = m[k] else { return nil }
            guard let v = E(rawValue: s.trimmingCharacters(in: .whitespaces)) else {
                throw ModelError.invalidConfig("\(k) = '\(s)' (\(E.allCases.map(\.rawValue).joined(separator: " or ")))")
            }
            return v
        }
        if let v = try ints("widths") { widths = v }
        if let v = try int("stem") { stem = v }
        if let v = try ints("blocks") { blocks = v }
        if let v = try int("ks") { ks = v }
        if let v = try int("kd") { kd = v }
        if let v = try int("frames") { frames = v }
        if let v = try int("height") { height = v }
        if let v = try int("width") { width = v }
        if let v = try int("queue_length") { queueLength = v }
        if let v = try int("fid_hidden") { fidHidden = v }
        if let v = try int("attn_dim") { attnDim = v }
        if let v = try choice("sigma", Sigma.self) { sigma = v }
        if let v = try float("nce") { nce = v }
        if let v = try float("nce_tau") { nceTau = v }
        if let v = try float("nce_tau_start") { nceTauStart = v }
        if let v = try int("nce_tau_steps") { nceTauSteps = v }
        if let v = try float("nce_static") { nceStatic = v }
        if let v = try float("static_consistency") { staticConsistency = v }
        if let v = try choice("static_consistency_grad", ConsistencyGradient.self) { staticConsistencyGrad = v }
        if let v = try choice("fid_v_grad", FidelityGradient.self) { fidVGrad = v }
        if let v = try bool("nce_queue") { nceQueue = v }
        if let v = try bool("nce_reverse") { nceReverse = v }
        if let v = try bool("nce_static_negative") { nceStaticNegative = v }
        if let v = try choice("difference", Difference.self) { difference = v }
        if let v = try choice("static_view", StaticView.self) { staticView = v }
        if let v = try choice("v_heads", VHeads.self) {
            vHeads = v
            // Shared heads over a method with split ones: the heads' init goes with them unless it is given too.
            if v == .shared && m["v_heads_init"] == nil { vHeadsInit = .random }
            if v == .shared && m["v_heads_shared_steps"] == nil { vHeadsSharedSteps = 0 }
        }
        if let v = try choice("v_heads_init", VHeadsInit.self) { vHeadsInit = v }
        if let v = try int("v_heads_shared_steps") { vHeadsSharedSteps = v }
        if let v = try float("tau") { tau = v }
        if let v = try float("eps") { eps = v }
        if let v = try int("sinkhorn_iters") { sinkhornIterations = v }
        if let v = try int("topk") { topK = v }
        if let v = try float("margin") { margin = v }
        if let v = try float("aln_weight") { alnWeight = v }
        if let v = try float("alpha") { alpha = v }
        if let v = try float("beta") { beta = v }
        if let v = try float("gamma") { gamma = v }
        if let v = try float("lr") { learningRate = v }
        if let v = try float("momentum") { momentum = v }
        if let v = try float("weight_decay") { weightDecay = v }
        if let v = try float("bn_momentum") { bnMomentum = v }
        if let v = try float("bn_eps") { bnEps = v }
        try validate()
    }

    /// The configuration as string metadata (the inverse of `init(metadata:)`).
    public var metadata: [String: String] {
        var m: [String: String] = [
            "widths": "[\(widths.map(String.init).joined(separator: ", "))]", "stem": "\(stem)",
            "blocks": "[\(blocks.map(String.init).joined(separator: ", "))]", "ks": "\(ks)", "kd": "\(kd)",
            "frames": "\(frames)", "height": "\(height)", "width": "\(width)", "queue_length": "\(queueLength)",
            "sigma": sigma.rawValue, "nce": "\(nce)", "nce_tau": "\(nceTau)", "tau": "\(tau)", "eps": "\(eps)",
            "sinkhorn_iters": "\(sinkhornIterations)", "topk": "\(topK)", "margin": "\(margin)", "alpha": "\(alpha)",
            "beta": "\(beta)", "gamma": "\(gamma)", "lr": "\(learningRate)", "momentum": "\(momentum)",
            "weight_decay": "\(weightDecay)", "bn_momentum": "\(bnMomentum)", "bn_eps": "\(bnEps)",
        ]
        if let fidHidden { m["fid_hidden"] = "\(fidHidden)" }
        if let attnDim { m["attn_dim"] = "\(attnDim)" }
        // The options beyond the paper only when switched on, so configuration hashes of existing snapshots do not change.
        if alnWeight != 1 { m["aln_weight"] = "\(alnWeight)" }
        if nceStatic != 0 { m["nce_static"] = "\(nceStatic)" }
        if nceTauStart != 0 { m["nce_tau_start"] = "\(nceTauStart)"; m["nce_tau_steps"] = "\(nceTauSteps)" }
        if staticConsistency != 0 { m["static_consistency"] = "\(staticConsistency)" }
        if staticConsistencyGrad != .all { m["static_consistency_grad"] = staticConsistencyGrad.rawValue }
        if fidVGrad != .all { m["fid_v_grad"] = fidVGrad.rawValue }
        if !nceQueue { m["nce_queue"] = "false" }
        if difference != .raw { m["difference"] = difference.rawValue }
        if staticView != .frame { m["static_view"] = staticView.rawValue }
        if nceReverse { m["nce_reverse"] = "true" }
        if nceStaticNegative { m["nce_static_negative"] = "true" }
        if vHeads != .shared { m["v_heads"] = vHeads.rawValue }
        if vHeadsInit != .random { m["v_heads_init"] = vHeadsInit.rawValue }
        if vHeadsSharedSteps != 0 { m["v_heads_shared_steps"] = "\(vHeadsSharedSteps)" }
        return m
    }

    /// ``metadata`` with every option beyond the paper spelt out, on or off (for messages that compare two
    /// configurations; hashes and files use ``metadata``).
    public var explicitMetadata: [String: String] {
        var m = metadata
        m["aln_weight"] = "\(alnWeight)"; m["nce_static"] = "\(nceStatic)"; m["nce_tau_start"] = "\(nceTauStart)"
        m["nce_tau_steps"] = "\(nceTauSteps)"; m["static_consistency"] = "\(staticConsistency)"
        m["static_consistency_grad"] = staticConsistencyGrad.rawValue; m["fid_v_grad"] = fidVGrad.rawValue; m["nce_queue"] = "\(nceQueue)"
        m["difference"] = difference.rawValue; m["static_view"] = staticView.rawValue; m["nce_reverse"] = "\(nceReverse)"
        m["nce_static_negative"] = "\(nceStaticNegative)"; m["v_heads"] = vHeads.rawValue; m["v_heads_init"] = vHeadsInit.rawValue
        m["v_heads_shared_steps"] = "\(vHeadsSharedSteps)"
        return m
    }
}
