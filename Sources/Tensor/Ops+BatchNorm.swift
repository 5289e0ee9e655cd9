import Foundation

// Batch normalisation over axis 1 of [N x C x L...] (BatchNorm1d/3d). Training uses the biased batch variance to
// normalise and updates running_var with the unbiased one, as PyTorch does.

/// Training forward. x, y: [N x C x L]; w, b: [C]; mean, invstd: [C] (saved for backward).
func batchnorm_forward_train(_ y: UnsafeMutablePointer<Scalar>, _ mean: UnsafeMutablePointer<Scalar>, _ invstd: UnsafeMutablePointer<Scalar>,
                             _ varUnbiased: UnsafeMutablePointer<Scalar>,
                             _ x: UnsafePointer<Scalar>, _ w: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>,
                             _ n: Int, _ c: Int, _ l: Int, _ eps: Scalar) {
    let m = n * l
    parallelChunks(c, costPerItem: m * 3) { cr in
        for ch in cr {
            // One pass for Σx and Σx² in Double lanes; var = E[x²] − μ² keeps ~1e-10 relative accuracy unless
            // |μ| exceeds the spread by ~10⁵, far beyond activations.
            var s: Double = 0, q: Double = 0
            for i in 0..<n { let (a, b) = vsumAndSumOfSquares(x + (i * c + ch) * l, l); s += a; q += b }
            let mu = s / Double(m)
            let v = q - Double(m) * mu * mu
            let biased = Swift.max(v, 0) / Double(m)
            let inv = Scalar(1 / (biased + Double(eps)).squareRoot())
            mean[ch] = Scalar(mu); invstd[ch] = inv
            varUnbiased[ch] = Scalar(m > 1 ? v / Double(m - 1) : biased)
            let scale = inv * w[ch], shift = b[ch] - Scalar(mu) * scale
            for i in 0..<n { vaffine(y + (i * c + ch) * l, x + (i * c + ch) * l, l, scale, shift) }
        }
    }
}

/// Evaluation forward with running statistics. x, y: [N x C x L]
func batchnorm_forward_eval(_ y: UnsafeMutablePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ w: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>,
                            _ rm: UnsafePointer<Scalar>, _ rv: UnsafePointer<Scalar>, _ n: Int, _ c: Int, _ l: Int, _ eps: Scalar) {
    for ch in 0..<c {
        let scale = w[ch] / (rv[ch] + eps).squareRoot(), shift = b[ch] - rm[ch] * scale
        for i in 0..<n {
            let p = x + (i * c + ch) * l, q = y + (i * c + ch) * l
            for j in 0..<l { q[j] = p[j] * scale + shift }
        }
    }
}

/// Backward. Training: dx += invstd/M·(M·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂)) with dx̂ = dy·w; evaluation: dx += dy·w·invstd.
/// dw += Σ dy·x̂; db += Σ dy. x̂ is recomputed from x, mean and invstd.
func batchnorm_backward(_ dx: UnsafeMutablePointer<Scalar>?, _ dw: UnsafeMutablePointer<Scalar>?, _ db: UnsafeMutablePointer<Scalar>?,
                        _ dy: UnsafePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ w: UnsafePointer<Scalar>,
                        _ mean: UnsafePointer<Scalar>, _ invstd: UnsafePointer<Scalar>, _ n: Int, _ c: Int, _ l: Int, training: Bool) {
    let m = n * l
    parallelChunks(c, costPerItem: m * 3) { cr in
        for ch in cr {
            let mu = mean[ch], inv = invstd[ch]
            var sdy: Double = 0, sdyx: Double = 0
            for i in 0..<n { let (a, b) = vsumAndDot(dy + (i * c + ch) * l, x + (i * c + ch) * l, l); sdy += a; sdyx += b }
            sdyx -= Double(mu) * sdy   // Σ dy·(x − μ)
            sdyx *= Double(inv)        // Σ dy·x̂
            dw?[ch] += Scalar(sdyx)
            db?[ch] += Scalar(sdy)
            guard let dx else { continue }
            let k = w[ch] * inv
            if training {
                // d += k·(g − a − (x − μ)·b)  =  g·k + x·(−k·b) + k·(μ·b − a)
                let a = Scalar(sdy / Double(m)), bcoef = Scalar(sdyx / Double(m)) * inv
                let cg = k, cx = -k * bcoef, c0 = k * (mu * bcoef - a)
                let vg = Lanes(repeating: cg), vx = Lanes(repeating: cx), v0 = Lanes(repeating: c0)
                for i in 0..<n {
                    let p = x + (i * c + ch) * l, g = dy + (i * c + ch) * l, d = dx + (i * c + ch) * l
                    var j = 0
                    while j + 16 <= l { storeLanes(loadLanes(d + j) + loadLanes(g + j) * vg + loadLanes(p + j) * vx + v0, d + j); j += 16 }
                    while j < l { d[j] += g[j] * cg + p[j] * cx + c0; j += 1 }
                }
            } else {
                for i in 0..<n {
                    let g = dy + (i * c + ch) * l, d = dx + (i * c + ch) * l
                    for j in 0..<l { d[j] += k * g[j] }
                }
            }
        }
    }
}

/// Batch normalisation over the channel axis (1) of `N x C x ...`.
///
/// In training, normalises with the batch mean and biased variance and updates the running statistics in place:
/// `running = (1 − momentum)·running + momentum·batch` (unbiased variance). In evaluation, uses the running ones.
public func batchNorm(_ x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                      training: Bool, momentum: Scalar = 0.1, eps: Scalar = 1e-5) throws -> Tensor {
    guard x.rank >= 2 else { throw TensorError.shapeMismatch("batchNorm needs N x C x ..., got \(x.shape)") }
    let n = x.shape[0], c = x.shape[1], l = x.count / Swift.max(n * c, 1)
    for (name, t) in [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar)] where t.shape != [c] {
        throw TensorError.shapeMismatch("batchNorm \(name) \(t.shape) for \(c) channels")
    }
    if training && n * l < 2 { throw TensorError.invalidArgument("batchNorm in training needs more than one value per channel, got \(x.shape)") }
    let mean = TensorStorage(count: c), invstd = TensorStorage(count: c)
    let out = Tensor.result(x.shape, inputs: [x, weight, bias]) { out in
        batchnorm_backward(x.requiresGrad ? x.gradPointer() : nil, weight.requiresGrad ? weight.gradPointer() : nil,
                           bias.requiresGrad ? bias.gradPointer() : nil, out.gradStorage!.pointer, x.storage.pointer,
                           weight.storage.pointer, mean.pointer, invstd.pointer, n, c, l, training: training)
    }
    if training {
        let unbiased = TensorStorage(count: c)
        batchnorm_forward_train(out.storage.pointer, mean.pointer, invstd.pointer, unbiased.pointer, x.storage.pointer,
                                weight.storage.pointer, bias.storage.pointer, n, c, l, eps)
        let rm = runningMean.storage.pointer, rv = runningVar.storage.pointer
        for ch in 0..<c {
            rm[ch] = (1 - momentum) * rm[ch] + momentum * mean.pointer[ch]
            rv[ch] = (1 - momentum) * rv[ch] + momentum * unbiased.pointer[ch]
        }
    } else {
        for ch in 0..<c {
            mean.pointer[ch] = runningMean.storage.pointer[ch]
            invstd.pointer[ch] = 1 / (runningVar.storage.pointer[ch] + eps).squareRoot()
        }
        batchnorm_forward_eval(out.storage.pointer, x.storage.pointer, weight.storage.pointer, bias.storage.pointer,
                               runningMean.storage.pointer, runningVar.storage.pointer, n, c, l, eps)
    }
    return out
}
