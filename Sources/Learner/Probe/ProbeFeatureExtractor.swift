import ConceptModel
import Foundation
import Autograd
import SafeTensors
import ConceptReports

/// Its own copy of the concept learner's network, run in evaluation mode (batch norm on running statistics, no
/// graph) over clips to read the Table 3 representations. Weights come in as a state dict; nothing is shared with a
/// trainer. Not thread-safe: one caller at a time (`ProbeEvaluator` serialises its calls).
public final class ProbeFeatureExtractor {
    /// The network's configuration.
    public let config: ModelConfig
    /// Clips per forward pass (the backbone sees 3x as many: the v, s and d views).
    public let batchSize: Int
    /// Share of concepts whose local features are averaged (the paper's 10 %).
    public let localFraction: Double
    private let learner: ConceptLearner

    /// A network of `config` initialised with `seed` (the same initialisation a `Trainer` with that seed starts from).
    public init(config: ModelConfig, seed: UInt64, batchSize: Int = 8, localFraction: Double = 0.1) throws {
        guard batchSize >= 1 else { throw ProbeError.invalidOptions("batch size must be at least 1, got \(batchSize)") }
        guard localFraction > 0 && localFraction <= 1 else { throw ProbeError.invalidOptions("local fraction must be in (0, 1], got \(localFraction)") }
        do { learner = try ConceptLearner(config: config, seed: seed) } catch {
            throw ProbeError.model("cannot build the model", cause: ProbeUnderlying(error))
        }
        self.config = config
        self.batchSize = batchSize
        self.localFraction = localFraction
    }

    /// Copies the weights of `stateDict` (a `ConceptModel.stateDict()`: every parameter and batch-norm buffer) in.
    /// A state dict of another configuration is refused and leaves the network unchanged.
    public func load(stateDict: SafeTensorsFile) throws {
        do { try learner.model.load(from: stateDict) } catch {
            throw ProbeError.model("the weights do not fit the probe model", cause: ProbeUnderlying(error))
        }
    }

    /// The representations of `clips` (each `3 x (T+1) x H x W` normalised floats of the configuration's size), one
    /// row per clip in order: the clip view's seven always, the static frame's two (`s`, `q_s`: the middle frame
    /// `T / 2`, a second pass) when `staticFrame` is on. `isCancelled` is asked between batches.
    public func features(clips: [[Float]], staticFrame: Bool = true, isCancelled: () -> Bool = { false }) throws -> ProbeFeatures {
        let c = config, t1 = c.frames + 1, per = 3 * t1 * c.height * c.width
        if let bad = clips.firstIndex(where: { $0.count != per }) {
            throw ProbeError.invalidOptions("clip \(bad) has \(clips[bad].count) values, the model takes 3 x \(t1) x \(c.height) x \(c.width) = \(per)")
        }
        var parts: [ProbeRepresentation: (columns: Int, values: [Double])] = [:]
        var start = 0
        while start < clips.count {
            if isCancelled() { throw ProbeError.cancelled() }
            let end = Swift.min(start + batchSize, clips.count), n = end - start
            var floats = [Float]()
            floats.reserveCapacity(n * per)
            for i in start..<end { floats += clips[i] }
            var features: ProbeFeatures
            do {
                let frames = try Tensor(floats: floats, shape: [n, 3, t1, c.height, c.width])
                let outputs = try learner.encode(frames: frames)
                features = try ProbeFeatures(outputs: outputs, ks: c.ks, kd: c.kd, fraction: localFraction)
                if staticFrame {
                    let still = try ProbeFeatures.staticFrame(outputs: learner.encodeStatic(frames: frames), ks: c.ks)
                    features.matrices.merge(still) { a, _ in a }
                }
            } catch let error as ProbeError {
                throw error
            } catch {
                throw ProbeError.model("the forward pass failed", cause: ProbeUnderlying(error))
            }
            for (r, m) in features.matrices { parts[r, default: (m.columns, [])].values += m.values }
            start = end
        }
        if clips.isEmpty {
            var widths: [ProbeRepresentation: Int] = [.v: c.featureWidth, .qV: c.ks + c.kd, .qVs: c.ks, .qVd: c.kd,
                                                      .fV: c.resolvedAttnDim, .fVs: c.resolvedAttnDim, .fVd: c.resolvedAttnDim]
            if staticFrame { (widths[.s], widths[.qS]) = (c.featureWidth, c.ks) }
            return ProbeFeatures(matrices: widths.mapValues { FeatureMatrix(zeros: 0, $0) })
        }
        return ProbeFeatures(matrices: parts.mapValues { FeatureMatrix(rows: clips.count, columns: $0.columns, values: $0.values) })
    }
}
