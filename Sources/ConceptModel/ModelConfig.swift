import Foundation
import Autograd
import TensorKernels

/// Everything that defines the concept learner: backbone knobs, concept heads, losses and optimiser.
/// Defaults are the spec's (`../shared/spec/method.md`); presets set the backbone and clip size.
public struct ModelConfig: Sendable, Equatable, Codable {
    /// The transform before the cosine classifier.
    public enum Sigma: String, Sendable, Codable, CaseIterable {
        /// `z = f` (the paper's default).
        case identity
        /// `[Linear(C, C), BatchNorm1d(C), ReLU, Linear(C, C)]` (the spec's option).
        case mlp
        /// `BatchNorm1d(C)` over the branch's clips: every channel centred and scaled, so the pooled post-ReLU features
        /// (all positive and nearly parallel) spread over the prototypes (docs/method-options.md).
        case bn
    }
    /// Where the two halves of `q_v` come from.
    public enum VHeads: String, Sendable, Codable, CaseIterable {
        /// Both from `z_v = σ_v(f_v)` (the paper).
        case shared
        /// `q_v^s` from `z_vs = BN(Linear(f_v))` and `q_v^d` from `z_vd`, a second such head (docs/method-options.md).
        case split
    }
    /// How the split heads' linear layers start (`v_heads_init`, docs/method-options.md).
    public enum VHeadsInit: String, Sendable, Codable, CaseIterable {
        /// PyTorch's default `Linear` init, `U(−1/√C, 1/√C)`.
        case random
        /// Weight `I_C`, bias 0: both heads start as the shared `z_v = BN(f_v)` of `sigma = bn`.
        case identity
    }
    /// What the static-code consistency term trains (`static_consistency_grad`, docs/method-options.md).
    public enum ConsistencyGradient: String, Sendable, Codable, CaseIterable {
        /// The clip's projected features (hence the encoder and σ) and the static prototypes of `v`.
        case all
        /// The static prototypes of `v` only: the clip's features are detached.
        case prototypes
        /// The static split head (`sigma_vs`) and the static prototypes of `v`: `f_v` is detached before the head, so
        /// the encoder gets none of it. Needs `v_heads = split`.
        case head
    }
    /// Which half of `q_v` the reconstruction of `f_v` in `L_fid` trains (`fid_v_grad`, docs/method-options.md).
    public enum FidelityGradient: String, Sendable, Codable, CaseIterable {
        /// Both halves (the paper).
        case all
        /// The dynamic half only: `g_v` reads `[sg(q_v^s), q_v^d]`, so the clip's static codes are not asked to
        /// describe everything in `f_v`, its motion included.
        case dynamic
    }
    /// What the static view shows.
    public enum StaticView: String, Sendable, Codable, CaseIterable {
        /// The frame `static_index` of the clip (the paper).
        case frame
        /// Its luminance `0.299 R + 0.587 G + 0.114 B` (of the normalised channels) in all three channels.
        case gray
    }
    /// How the frame-difference view is computed.
    public enum Difference: String, Sendable, Codable, CaseIterable {
        /// `d = x[t+1] − x[t]` of the normalised frames (the paper).
        case raw
        /// Every (clip, channel, frame) plane standardised over its pixels before differencing, so a change of gain
        /// or offset between two frames (flicker, auto exposure) gives `d = 0`.
        case normalized
    }

    /// Stage widths of layer1...layer4.
    public var widths: [Int] = [64, 128, 256, 512]
    /// Channels of the stem's spatial conv.
    public var stem: Int = 45
    /// Residual blocks per stage.
    public var blocks: [Int] = [2, 2, 2, 2]
    /// Static concepts.
    public var ks: Int = 50
    /// Dynamic concepts.
    public var kd: Int = 50
    /// Frames per clip (the views have `frames`; the input has `frames + 1`).
    public var frames: Int = 16
    /// Clip height.
    public var height: Int = 112
    /// Clip width.
    public var width: Int = 112
    /// Rows of each Sinkhorn feature queue (0 disables it).
    public var queueLength: Int = 256
    /// Hidden width of the reconstruction MLPs (nil: the feature width C).
    public var fidHidden: Int? = nil
    /// Width d of the attention projections (nil: C).
    public var attnDim: Int? = nil
    /// Projection before the cosine classifier.
    public var sigma: Sigma = .identity
    /// Weight of the optional InfoNCE term (0: off).
    public var nce: Scalar = 0
    /// Temperature of InfoNCE (after ``nceTauSteps`` steps when ``nceTauStart`` is set).
    public var nceTau: Scalar = 0.07
    /// InfoNCE temperature of the first step, falling geometrically to ``nceTau`` over ``nceTauSteps`` steps
    /// (0: off, `nceTau` throughout; docs/method-options.md).
    public var nceTauStart: Scalar = 0
    /// Steps over which the InfoNCE temperature falls from ``nceTauStart`` to ``nceTau``.
    public var nceTauSteps: Int = 0
    /// Weight of the optional InfoNCE term between v and s (0: off).
    public var nceStatic: Scalar = 0
    /// Weight of the static-code consistency term (0: off): the static codes of `v` held to those of its static frame
    /// under the same prototypes (docs/method-options.md).
    public var staticConsistency: Scalar = 0
    /// What the consistency term trains; `prototypes` needs `staticConsistency > 0`.
    public var staticConsistencyGrad: ConsistencyGradient = .all
    /// Which half of `q_v` the reconstruction of `f_v` trains.
    public var fidVGrad: FidelityGradient = .all
    /// Whether the InfoNCE terms take the queue rows as negatives besides the batch.
    public var nceQueue: Bool = true
    /// How the frame-difference view is computed.
    public var difference: Difference = .raw
    /// What the static view shows.
    public var staticView: StaticView = .frame
    /// Whether InfoNCE from v to d also contrasts each clip with its own time-reversed difference view.
    public var nceReverse: Bool = false
    /// Whether InfoNCE from d to v also contrasts each clip's difference view with its own static view.
    public var nceStaticNegative: Bool = false
    /// Where the two halves of `q_v` come from.
    public var vHeads: VHeads = .shared
    /// How the split heads start; `identity` needs `vHeads == .split`.
    public var vHeadsInit: VHeadsInit = .random
    /// Training steps during which the split heads act as one shared head (the static head serves both halves of
    /// `q_v`, the linear layers stay the identity); then the dynamic head starts as a copy of the static one
    /// (docs/method-options.md). 0: off; more needs `vHeads == .split` and `vHeadsInit == .identity`.
    public var vHeadsSharedSteps: Int = 0
    /// Temperature of the swapped prediction.
    public var tau: Scalar = 0.1
    /// Sinkhorn entropy ε.
    public var eps: Scalar = 0.05
    /// Sinkhorn iterations.
    public var sinkhornIterations: Int = 3
    /// K of the top-K concept intersection.
    public var topK: Int = 5
    /// Margin of the local contrast.
    public var margin: Scalar = 1.4
    /// Weight of L_aln (1 in the paper; 0 switches it off, for loss ablations).
    public var alnWeight: Scalar = 1
    /// Weight of L_loc.
    public var alpha: Scalar = 1
    /// Weight of L_fid.
    public var beta: Scalar = 1
    /// Weight of L_div.
    public var gamma: Scalar = 0.01
    /// SGD learning rate.
    public var learningRate: Scalar = 0.01
    /// SGD momentum.
    public var momentum: Scalar = 0.9
    /// SGD weight decay.
    public var weightDecay: Scalar = 1e-4
    /// Batch-norm momentum.
    public var bnMomentum: Scalar = 0.1
    /// Batch-norm ε.
    public var bnEps: Scalar = 1e-5

    /// The spec's defaults (the paper preset's backbone).
    public init() {}

    /// The InfoNCE temperature of training step `step` (1-based): ``nceTau`` unless ``nceTauStart`` is set, then
    /// `nceTauStart · (nceTau / nceTauStart)^min(1, (step − 1) / nceTauSteps)`, a geometric fall that reaches `nceTau`
    /// at step `nceTauSteps + 1` and stays there. A function of the step alone, so a resumed run continues on it.
    public func nceTemperature(step: Int) -> Scalar {
        guard nceTauStart > 0, nceTauSteps > 0 else { return nceTau }
        let f = Swift.min(1, Double(Swift.max(0, step - 1)) / Double(nceTauSteps))
        return Scalar(Double(nceTauStart) * Foundation.pow(Double(nceTau) / Double(nceTauStart), f))
    }

    /// Feature width C (layer4's width).
    public var featureWidth: Int { widths[3] }
    /// Resolved hidden width of the reconstruction MLPs.
    public var resolvedFidHidden: Int { fidHidden ?? featureWidth }
    /// Resolved attention width.
    public var resolvedAttnDim: Int { attnDim ?? featureWidth }
    /// Width of a branch's queue rows: `C`, or `2C` for `v` with split heads (`normalize(z_vs)` then `normalize(z_vd)`).
    public func queueWidth(_ b: Branch) -> Int { b == .v && vHeads == .split ? 2 * featureWidth : featureWidth }

    /// Named presets: `tiny`, `small`, `paper`.
    public static func preset(_ name: String) throws -> ModelConfig {
        var c = ModelConfig()
        switch name {
        case "tiny": c.widths = [16, 32, 64, 128]; c.stem = 11; c.frames = 8; c.height = 64; c.width = 64
        case "small": c.widths = [32, 64, 128, 256]; c.stem = 23; c.frames = 8; c.height = 112; c.width = 112
        case "paper": c.widths = [64, 128, 256, 512]; c.stem = 45; c.frames = 16; c.height = 112; c.width = 112
        default: throw ModelError.invalidConfig("unknown preset '\(name)' (tiny, small, paper)")
        }
        return c
    }

    /// Checks every value; the error lists all problems.
    public func validate() throws {
        var problems: [String] = []
        if widths.count != 4 || widths.contains(where: { $0 < 1 }) { problems.append("widths must be 4 positive numbers, got \(widths)") }
        if blocks.count != 4 || blocks.contains(where: { $0 < 1 }) { problems.append("blocks must be 4 positive numbers, got \(blocks)") }
        if stem < 1 { problems.append("stem must be positive") }
        if ks < 1 || kd < 1 { problems.append("ks and kd must be positive") }
        if topK < 1 || topK > Swift.min(ks, kd) { problems.append("topK must be in 1...\(Swift.min(ks, kd)), got \(topK)") }
        if frames < 1 || height < 1 || width < 1 { problems.append("frames, height and width must be positive") }
        if queueLength < 0 { problems.append("queueLength must be >= 0") }
        if (fidHidden ?? 1) < 1 || (attnDim ?? 1) < 1 { problems.append("fidHidden and attnDim must be positive") }
        if !(tau > 0) || !(eps > 0) || !(nceTau > 0) { problems.append("tau, eps and nceTau must be > 0") }
        if !(nceTauStart >= 0) || nceTauSteps < 0 { problems.append("nceTauStart and nceTauSteps must be >= 0") }
        if nceTauStart > 0 && nceTauSteps < 1 { problems.append("nceTauStart needs nceTauSteps >= 1, got \(nceTauSteps)") }
        if vHeadsInit != .random && vHeads != .split { problems.append("v_heads_init = \(vHeadsInit) needs v_heads = split (there are no heads to initialise)") }
        if vHeadsSharedSteps < 0 { problems.append("v_heads_shared_steps must be >= 0, got \(vHeadsSharedSteps)") }
        if vHeadsSharedSteps > 0 && (vHeads != .split || vHeadsInit != .identity) {
            problems.append("v_heads_shared_steps = \(vHeadsSharedSteps) needs v_heads = split with v_heads_init = identity (the heads it holds as one)")
        }
        if staticConsistencyGrad != .all && !(staticConsistency > 0) { problems.append("static_consistency_grad = \(staticConsistencyGrad) needs static_consistency > 0") }
        if staticConsistencyGrad == .head && vHeads != .split { problems.append("static_consistency_grad = head needs v_heads = split (there is no static head to train)") }
        if sinkhornIterations < 1 { problems.append("sinkhornIterations must be >= 1") }
        if nce < 0 || nceStatic < 0 || staticConsistency < 0 || alnWeight < 0 || alpha < 0 || beta < 0 || gamma < 0 { problems.append("loss weights must be >= 0") }
        if !(learningRate > 0) || momentum < 0 || weightDecay < 0 { problems.append("lr must be > 0, momentum and weightDecay >= 0") }
        if !problems.isEmpty { throw ModelError.invalidConfig(problems.joined(separator: "; ")) }
    }
}

/// An error from the concept model: bad configuration, inputs or weights.
public struct ModelError: Error, CustomStringConvertible {
    private enum Code { case invalidConfig, invalidInput, weights }
    private let code: Code
    /// What went wrong.
    public let message: String
    /// The underlying error, if any.
    public let cause: (any Error)?
    private init(_ code: Code, _ message: String, cause: (any Error)? = nil) { self.code = code; self.message = message; self.cause = cause }
    /// A configuration value is missing, malformed or out of range.
    public static func invalidConfig(_ m: String) -> ModelError { .init(.invalidConfig, m) }
    /// An input batch does not fit the model.
    public static func invalidInput(_ m: String) -> ModelError { .init(.invalidInput, m) }
    /// A weights file does not fit the model.
    public static func weights(_ m: String, cause: (any Error)? = nil) -> ModelError { .init(.weights, m, cause: cause) }
    public var description: String {
        let head: String = switch code {
        case .invalidConfig: "invalid model configuration"
        case .invalidInput: "invalid input"
        case .weights: "weights"
        }
        return "\(head): \(message)" + (cause.map { " (\($0))" } ?? "")
    }
}
