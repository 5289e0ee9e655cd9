import Autograd

extension ConceptLearner {
    /// The evaluation pass over the clip view `v` alone, without a graph: batch norm uses its running statistics and
    /// nothing in the model or the queues changes. `frames` is `N x 3 x (T+1) x H x W` like `forward`'s (the view is
    /// its first `T` frames). Fills only the `v` entries of `feat`, `z` (or `zSplit`), `codes`, `local` and
    /// `attention`, and `tokenGrid`: what probes and live statistics read. In evaluation mode nothing of `v` depends
    /// on the `s` and `d` views, so these equal `forward(…, useLocal: true, training: false)`'s `v` entries at a third
    /// of its encoder work.
    public func encode(frames: Tensor) throws -> ForwardOutputs {
        guard frames.rank == 5, frames.shape[1] == 3, frames.shape[2] >= 2 else {
            throw ModelError.invalidInput("frames must be N x 3 x (T+1) x H x W with T >= 1, got \(frames.shape)")
        }
        let n = frames.shape[0], t = frames.shape[2] - 1, c = config
        return try GradMode.withNoGrad {
            var o = ForwardOutputs()
            let fmap = try model.encoder(frames.slice(axis: 2, 0..<t), training: false)   // N x C x T' x H' x W'
            o.tokenGrid = (fmap.shape[2], fmap.shape[3], fmap.shape[4])
            let feat = try fmap.globalAveragePool()
            o.feat[.v] = feat
            if let split = try model.projectSplit(feat, training: false) {
                o.zSplit = split
                o.codes[.v] = try model.splitCodes(split)
            } else {
                let z = try model.project(feat, .v, training: false)
                o.z[.v] = z
                o.codes[.v] = try model.codes(z, .v)
            }
            let l = o.tokenGrid.0 * o.tokenGrid.1 * o.tokenGrid.2
            let tokens = try fmap.reshaped([n, c.featureWidth, l]).transposed(1, 2)
            (o.local[.v], o.attention[.v]) = try model.localFeatures(tokens: tokens, .v)
            return o
        }
    }

    /// The evaluation pass over the static view `s` alone, without a graph: frame `staticIndex` (default the middle
    /// one, `T / 2`) of each clip, repeated as in training (`views`, with the configuration's `staticView`). Fills
    /// `feat[s]`, `z[s]` and `codes[s]` (the codes over `P_s`). `frames` is `N x 3 x (T+1) x H x W` like `encode`'s.
    public func encodeStatic(frames: Tensor, staticIndex: Int? = nil) throws -> ForwardOutputs {
        guard frames.rank == 5, frames.shape[1] == 3, frames.shape[2] >= 2 else {
            throw ModelError.invalidInput("frames must be N x 3 x (T+1) x H x W with T >= 1, got \(frames.shape)")
        }
        let n = frames.shape[0], t = frames.shape[2] - 1, c = config
        let index = staticIndex ?? t / 2
        guard (0..<t).contains(index) else { throw ModelError.invalidInput("static index \(index) outside 0..<\(t)") }
        return try GradMode.withNoGrad {
            var o = ForwardOutputs()
            let views = try Self.views(frames: frames, staticIndex: [Int](repeating: index, count: n), difference: c.difference,
                                       staticView: c.staticView)                  // 3N: v, s, d
            let fmap = try model.encoder(views.slice(axis: 0, n..<(2 * n)), training: false)
            o.tokenGrid = (fmap.shape[2], fmap.shape[3], fmap.shape[4])
            let feat = try fmap.globalAveragePool()
            o.feat[.s] = feat
            let z = try model.project(feat, .s, training: false)
            o.z[.s] = z
            o.codes[.s] = try model.codes(z, .s)
            return o
        }
    }
}
