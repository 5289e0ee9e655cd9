import Foundation

// Batch-norm kernels over [N x C x L] (L = T·H·W): statistics, forward (train, eval), backward, and the fused
// batch-norm + residual + ReLU variants. Each forward sits next to its backward; backward accumulates unless told.

/// Batch statistics of channel `ch` of x [N x C x L], saved to mean[ch], invstd[ch] = 1/√(biased var + ε) and
/// varUnbiased[ch]; returns the channel's affine (scale, shift) with x·scale + shift = x̂·w + b.
@inline(__always)
func batchnorm_channel_statistics(_ mean: UnsafeMutablePointer<Scalar>, _ invstd: UnsafeMutablePointer<Scalar>,
                                  _ varUnbiased: UnsafeMutablePointer<Scalar>, _ x: UnsafePointer<Scalar>,
                                  _ w: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>,
                                  _ ch: Int, _ n: Int, _ c: Int, _ l: Int, _ eps: Scalar) -> (scale: Scalar, shift: Scalar) {
    let m = n * l
    // One pass for Σx and Σx² (Scalar lanes over 256-element blocks, the blocks added in Double); var = E[x²] − μ²
    // stays accurate to ~1e-7 relative unless |μ| exceeds the spread by far more than activations do.
    var s: Double = 0, q: Double = 0
    for i in 0..<n { let (a, b) = vsumAndSumOfSquares(x + (i * c + ch) * l, l); s += a; q += b }
    return batchnorm_statistics_from_sums(mean, invstd, varUnbiased, s, q, w, b, ch, m, eps)
}

/// Channel `ch`'s statistics from Σx = `s` and Σx² = `q` over `m` values (saved as in
/// `batchnorm_channel_statistics`); returns the channel's affine (scale, shift).
@inline(__always)
func batchnorm_statistics_from_sums(_ mean: UnsafeMutablePointer<Scalar>, _ invstd: UnsafeMutablePointer<Scalar>,
                                    _ varUnbiased: UnsafeMutablePointer<Scalar>, _ s: Double, _ q: Double,
                                    _ w: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, _ ch: Int, _ m: Int,
                                    _ eps: Scalar) -> (scale: Scalar, shift: Scalar) {
    let mu = s / Double(m)
    let v = q - Double(m) * mu * mu
    let biased = Swift.max(v, 0) / Double(m)
    let inv = Scalar(1 / (biased + Double(eps)).squareRoot())
    mean[ch] = Scalar(mu); invstd[ch] = inv
    varUnbiased[ch] = Scalar(m > 1 ? v / Double(m - 1) : biased)
    let scale = inv * w[ch]
    return (scale, b[ch] - Scalar(mu) * scale)
}

/// Training forward. x, y: [N x C x L]; w, b: [C]; mean, invstd: [C] (saved for backward).
public func batchnorm_forward_train(_ y: UnsafeMutablePointer<Scalar>, _ mean: UnsafeMutablePointer<Scalar>, _ invstd: UnsafeMutablePointer<Scalar>,
                             _ varUnbiased: UnsafeMutablePointer<Scalar>,
                             _ x: UnsafePointer<Scalar>, _ w: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>,
                             _ n: Int, _ c: Int, _ l: Int, _ eps: Scalar) {
    parallelChunks(c, costPerItem: n * l * 3) { cr in
        for ch in cr {
            let (scale, shift) = batchnorm_channel_statistics(mean, invstd, varUnbiased, x, w, b, ch, n, c, l, eps)
            for i in 0..<n { vaffine(y + (i * c + ch) * l, x + (i * c + ch) * l, l, scale, shift) }
        }
    }
}

/// Evaluation forward with running statistics. x, y: [N x C x L]
public func batchnorm_forward_eval(_ y: UnsafeMutablePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ w: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>,
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
/// dw += Σ dy·x̂; db += Σ dy. x̂ is recomputed from x, mean and invstd. With `accumulate` false, dx is a fresh
/// gradient and is written (=) instead of added to.
public func batchnorm_backward(_ dx: UnsafeMutablePointer<Scalar>?, _ dw: UnsafeMutablePointer<Scalar>?, _ db: UnsafeMutablePointer<Scalar>?,
                        _ dy: UnsafePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ w: UnsafePointer<Scalar>,
                        _ mean: UnsafePointer<Scalar>, _ invstd: UnsafePointer<Scalar>, _ n: Int, _ c: Int, _ l: Int, training: Bool,
                        accumulate: Bool = true) {
    let m = n * l
    parallelChunks(c, costPerItem: m * 3) { cr in
        for ch in cr {
            var sdy: Double = 0, sdyx: Double = 0
            for i in 0..<n { let (a, b) = vsumAndDot(dy + (i * c + ch) * l, x + (i * c + ch) * l, l); sdy += a; sdyx += b }
            batchnorm_backward_channel(dx, dw, db, dy, x, w, mean, invstd, ch, n, c, l, m, sdy, sdyx, sdy, sdyx,
                                       training: training, accumulate: accumulate)
        }
    }
}

/// Channel `ch` of the backward pass from its sums: `sdy = Σdy`, `sdyx = Σdy·x` over the `m` values the statistics
/// came from (every replica's, with synchronised batch norm) for dx; `localSdy`, `localSdyx` over this batch's values
/// for dw and db (their gradients are summed across replicas afterwards, with every other gradient).
@inline(__always)
func batchnorm_backward_channel(_ dx: UnsafeMutablePointer<Scalar>?, _ dw: UnsafeMutablePointer<Scalar>?, _ db: UnsafeMutablePointer<Scalar>?,
                                _ dy: UnsafePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ w: UnsafePointer<Scalar>,
                                _ mean: UnsafePointer<Scalar>, _ invstd: UnsafePointer<Scalar>, _ ch: Int, _ n: Int, _ c: Int,
                                _ l: Int, _ m: Int, _ sdy: Double, _ sdyx: Double, _ localSdy: Double, _ localSdyx: Double,
                                training: Bool, accumulate: Bool) {
    let mu = mean[ch], inv = invstd[ch]
    // Σ dy·x̂ = (Σ dy·x − μ Σ dy) · invstd
    dw?[ch] += Scalar((localSdyx - Double(mu) * localSdy) * Double(inv))
    db?[ch] += Scalar(localSdy)
    guard let dx else { return }
    let sdyxhat = (sdyx - Double(mu) * sdy) * Double(inv)
    let k = w[ch] * inv
    if training {
        // d += k·(g − a − (x − μ)·b)  =  g·k + x·(−k·b) + k·(μ·b − a)
        let a = Scalar(sdy / Double(m)), bcoef = Scalar(sdyxhat / Double(m)) * inv
        let cg = k, cx = -k * bcoef, c0 = k * (mu * bcoef - a)
        let vg = Lanes(repeating: cg), vx = Lanes(repeating: cx), v0 = Lanes(repeating: c0)
        for i in 0..<n {
            let p = x + (i * c + ch) * l, g = dy + (i * c + ch) * l, d = dx + (i * c + ch) * l
            var j = 0
            if accumulate {
                while j + 16 <= l { storeLanes(loadLanes(d + j) + loadLanes(g + j) * vg + loadLanes(p + j) * vx + v0, d + j); j += 16 }
                while j < l { d[j] += g[j] * cg + p[j] * cx + c0; j += 1 }
            } else {
                while j + 16 <= l { storeLanes(loadLanes(g + j) * vg + loadLanes(p + j) * vx + v0, d + j); j += 16 }
                while j < l { d[j] = g[j] * cg + p[j] * cx + c0; j += 1 }
            }
        }
    } else {
        for i in 0..<n {
            let g = dy + (i * c + ch) * l, d = dx + (i * c + ch) * l
            if accumulate { for j in 0..<l { d[j] += k * g[j] } } else { for j in 0..<l { d[j] = k * g[j] } }
        }
    }
}

// MARK: - synchronised batch norm: statistics over every replica's batch
//
// Forward: batchnorm_sums_forward (Σx, Σx² per channel, this batch), the caller sums them across replicas, then
// batchnorm_forward_from_sums normalises. Backward: batchnorm_sums_backward (Σdy, Σdy·x), summed across replicas, then
// batchnorm_backward_from_sums. With one replica they give batchnorm_forward_train and batchnorm_backward's values.

/// Per-channel `sums[ch] = Σx`, `sums[c + ch] = Σx²` of x [N x C x L] (`sums`: 2C).
public func batchnorm_sums_forward(_ sums: UnsafeMutablePointer<Double>, _ x: UnsafePointer<Scalar>, _ n: Int, _ c: Int, _ l: Int) {
    parallelChunks(c, costPerItem: n * l * 2) { cr in
        for ch in cr {
            var s: Double = 0, q: Double = 0
            for i in 0..<n { let (a, b) = vsumAndSumOfSquares(x + (i * c + ch) * l, l); s += a; q += b }
            sums[ch] = s; sums[c + ch] = q
        }
    }
}

/// Training forward from sums over `m` values (every replica's). x, y: [N x C x L]; saves mean, invstd, varUnbiased.
public func batchnorm_forward_from_sums(_ y: UnsafeMutablePointer<Scalar>, _ mean: UnsafeMutablePointer<Scalar>,
                                        _ invstd: UnsafeMutablePointer<Scalar>, _ varUnbiased: UnsafeMutablePointer<Scalar>,
                                        _ sums: UnsafePointer<Double>, _ m: Int, _ x: UnsafePointer<Scalar>,
                                        _ w: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, _ n: Int, _ c: Int, _ l: Int,
                                        _ eps: Scalar) {
    parallelChunks(c, costPerItem: n * l) { cr in
        for ch in cr {
            let (scale, shift) = batchnorm_statistics_from_sums(mean, invstd, varUnbiased, sums[ch], sums[c + ch], w, b, ch, m, eps)
            for i in 0..<n { vaffine(y + (i * c + ch) * l, x + (i * c + ch) * l, l, scale, shift) }
        }
    }
}

/// Per-channel `sums[ch] = Σdy`, `sums[c + ch] = Σdy·x` (`sums`: 2C).
public func batchnorm_sums_backward(_ sums: UnsafeMutablePointer<Double>, _ dy: UnsafePointer<Scalar>, _ x: UnsafePointer<Scalar>,
                                    _ n: Int, _ c: Int, _ l: Int) {
    parallelChunks(c, costPerItem: n * l * 2) { cr in
        for ch in cr {
            var s: Double = 0, q: Double = 0
            for i in 0..<n { let (a, b) = vsumAndDot(dy + (i * c + ch) * l, x + (i * c + ch) * l, l); s += a; q += b }
            sums[ch] = s; sums[c + ch] = q
        }
    }
}

/// Training backward from `global` sums over `m` values (for dx) and this batch's `local` sums (for dw, db).
public func batchnorm_backward_from_sums(_ dx: UnsafeMutablePointer<Scalar>?, _ dw: UnsafeMutablePointer<Scalar>?,
                                         _ db: UnsafeMutablePointer<Scalar>?, _ global: UnsafePointer<Double>,
                                         _ local: UnsafePointer<Double>, _ m: Int, _ dy: UnsafePointer<Scalar>,
                                         _ x: UnsafePointer<Scalar>, _ w: UnsafePointer<Scalar>, _ mean: UnsafePointer<Scalar>,
                                         _ invstd: UnsafePointer<Scalar>, _ n: Int, _ c: Int, _ l: Int, accumulate: Bool = true) {
    parallelChunks(c, costPerItem: n * l) { cr in
        for ch in cr {
            batchnorm_backward_channel(dx, dw, db, dy, x, w, mean, invstd, ch, n, c, l, m, global[ch], global[c + ch],
                                       local[ch], local[c + ch], training: true, accumulate: accumulate)
        }
    }
}

/// Fused forward of channel rows: z = max(x·scale + shift (+ r), 0), with scale/shift the channel's affine.
/// x, r, z: [N x C x L]; scale, shift: [C].
@inline(__always)
func batchnorm_relu_rows(_ z: UnsafeMutablePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ r: UnsafePointer<Scalar>?,
                         _ ch: Int, _ n: Int, _ c: Int, _ l: Int, _ scale: Scalar, _ shift: Scalar) {
    for i in 0..<n {
        let o = (i * c + ch) * l
        if let r { vaffineAddReLU(z + o, x + o, r + o, l, scale, shift) } else { vaffineReLU(z + o, x + o, l, scale, shift) }
    }
}

/// Fused training forward: the batch statistics (saved to mean, invstd, varUnbiased), then z = max(x̂·w + b (+ r), 0)
/// in one pass; scale/shift receive each channel's affine. x, r, z: [N x C x L]; w, b and the rest: [C].
public func batchnorm_relu_forward_train(_ z: UnsafeMutablePointer<Scalar>, _ scale: UnsafeMutablePointer<Scalar>, _ shift: UnsafeMutablePointer<Scalar>,
                                  _ mean: UnsafeMutablePointer<Scalar>, _ invstd: UnsafeMutablePointer<Scalar>,
                                  _ varUnbiased: UnsafeMutablePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ r: UnsafePointer<Scalar>?,
                                  _ w: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, _ n: Int, _ c: Int, _ l: Int, _ eps: Scalar) {
    parallelChunks(c, costPerItem: n * l * 3) { cr in
        for ch in cr {
            (scale[ch], shift[ch]) = batchnorm_channel_statistics(mean, invstd, varUnbiased, x, w, b, ch, n, c, l, eps)
            batchnorm_relu_rows(z, x, r, ch, n, c, l, scale[ch], shift[ch])
        }
    }
}

/// Fused evaluation forward with the running statistics rm, rv (the affine as in `batchnorm_forward_eval`, saved to
/// scale/shift). x, r, z: [N x C x L]; the rest: [C].
public func batchnorm_relu_forward_eval(_ z: UnsafeMutablePointer<Scalar>, _ scale: UnsafeMutablePointer<Scalar>, _ shift: UnsafeMutablePointer<Scalar>,
                                 _ x: UnsafePointer<Scalar>, _ r: UnsafePointer<Scalar>?, _ w: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>,
                                 _ rm: UnsafePointer<Scalar>, _ rv: UnsafePointer<Scalar>, _ n: Int, _ c: Int, _ l: Int, _ eps: Scalar) {
    parallelChunks(c, costPerItem: n * l * 2) { cr in
        for ch in cr {
            scale[ch] = w[ch] / (rv[ch] + eps).squareRoot()
            shift[ch] = b[ch] - rm[ch] * scale[ch]
            batchnorm_relu_rows(z, x, r, ch, n, c, l, scale[ch], shift[ch])
        }
    }
}

/// Fused backward of z = max(bn(x) (+ r), 0). The gradient reaching the sum is g = dz·(z > 0), with the mask
/// taken from `mask` (the output z; an all-ones buffer when the caller formed g itself). Then, as
/// `batchnorm_backward` with dy = g: dx (+)= ..., dw += Σ g·x̂, db += Σ g; and dr (+)= g. `accumulateX` /
/// `accumulateR` false: that gradient is fresh and is written (=).
/// dz, mask, x, dx, dr: [N x C x L]; w, mean, invstd, dw, db: [C].
public func batchnorm_relu_backward(_ dx: UnsafeMutablePointer<Scalar>?, accumulateX: Bool, _ dr: UnsafeMutablePointer<Scalar>?, accumulateR: Bool,
                             _ dw: UnsafeMutablePointer<Scalar>?, _ db: UnsafeMutablePointer<Scalar>?,
                             _ dz: UnsafePointer<Scalar>, _ mask: UnsafePointer<Scalar>, _ x: UnsafePointer<Scalar>,
                             _ w: UnsafePointer<Scalar>, _ mean: UnsafePointer<Scalar>, _ invstd: UnsafePointer<Scalar>,
                             _ n: Int, _ c: Int, _ l: Int, training: Bool) {
    let m = n * l
    parallelChunks(c, costPerItem: m * 4) { cr in
        for ch in cr {
            var sdy: Double = 0, sdyx: Double = 0
            for i in 0..<n {
                let o = (i * c + ch) * l
                let (a, b) = vsumAndDotMasked(dz + o, mask + o, x + o, l)
                sdy += a; sdyx += b
            }
            batchnorm_relu_backward_channel(dx, accumulateX: accumulateX, dr, accumulateR: accumulateR, dw, db, dz, mask, x, w,
                                            mean, invstd, ch, n, c, l, m, sdy, sdyx, sdy, sdyx, training: training)
        }
    }
}

/// Channel `ch` of `batchnorm_relu_backward` from its sums of g = dz·(mask > 0): `sdy = Σg`, `sdyx = Σg·x` over the
/// `m` values of the statistics (every replica's when synchronised) for dx, this batch's `localSdy`, `localSdyx`
/// for dw and db.
@inline(__always)
func batchnorm_relu_backward_channel(_ dx: UnsafeMutablePointer<Scalar>?, accumulateX: Bool, _ dr: UnsafeMutablePointer<Scalar>?,
                                     accumulateR: Bool, _ dw: UnsafeMutablePointer<Scalar>?, _ db: UnsafeMutablePointer<Scalar>?,
                                     _ dz: UnsafePointer<Scalar>, _ mask: UnsafePointer<Scalar>, _ x: UnsafePointer<Scalar>,
                                     _ w: UnsafePointer<Scalar>, _ mean: UnsafePointer<Scalar>, _ invstd: UnsafePointer<Scalar>,
                                     _ ch: Int, _ n: Int, _ c: Int, _ l: Int, _ m: Int, _ sdy: Double, _ sdyx: Double,
                                     _ localSdy: Double, _ localSdyx: Double, training: Bool) {
    let mu = mean[ch], inv = invstd[ch]
    dw?[ch] += Scalar((localSdyx - Double(mu) * localSdy) * Double(inv))   // Σ g·x̂
    db?[ch] += Scalar(localSdy)
    let sdyxhat = (sdyx - Double(mu) * sdy) * Double(inv)
    // dx = g·cg + x·cx + c0: training as in batchnorm_backward; evaluation g·k (cx = c0 = 0).
    let k = w[ch] * inv
    let a = Scalar(sdy / Double(m)), bcoef = Scalar(sdyxhat / Double(m)) * inv
    let cx = training ? -k * bcoef : 0, c0 = training ? k * (mu * bcoef - a) : 0
    for i in 0..<n {
        let o = (i * c + ch) * l
        batchnorm_relu_backward_row(dx.map { $0 + o }, accumulateX: accumulateX, dr.map { $0 + o }, accumulateR: accumulateR,
                                    dz + o, mask + o, x + o, l, k, cx, c0)
    }
}

/// Synchronised fused training forward: statistics from `sums` (Σx, Σx² per channel over `m` values, every replica's;
/// see `batchnorm_sums_forward`), then z = max(x̂·w + b (+ r), 0); scale/shift receive each channel's affine.
public func batchnorm_relu_forward_from_sums(_ z: UnsafeMutablePointer<Scalar>, _ scale: UnsafeMutablePointer<Scalar>,
                                             _ shift: UnsafeMutablePointer<Scalar>, _ mean: UnsafeMutablePointer<Scalar>,
                                             _ invstd: UnsafeMutablePointer<Scalar>, _ varUnbiased: UnsafeMutablePointer<Scalar>,
                                             _ sums: UnsafePointer<Double>, _ m: Int, _ x: UnsafePointer<Scalar>,
                                             _ r: UnsafePointer<Scalar>?, _ w: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>,
                                             _ n: Int, _ c: Int, _ l: Int, _ eps: Scalar) {
    parallelChunks(c, costPerItem: n * l * 2) { cr in
        for ch in cr {
            (scale[ch], shift[ch]) = batchnorm_statistics_from_sums(mean, invstd, varUnbiased, sums[ch], sums[c + ch], w, b, ch, m, eps)
            batchnorm_relu_rows(z, x, r, ch, n, c, l, scale[ch], shift[ch])
        }
    }
}

/// Per-channel sums of g = dz·(mask > 0) for the synchronised fused backward: `sums[ch] = Σg`, `sums[c + ch] = Σg·x`.
public func batchnorm_relu_sums_backward(_ sums: UnsafeMutablePointer<Double>, _ dz: UnsafePointer<Scalar>,
                                         _ mask: UnsafePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ n: Int, _ c: Int, _ l: Int) {
    parallelChunks(c, costPerItem: n * l * 3) { cr in
        for ch in cr {
            var s: Double = 0, q: Double = 0
            for i in 0..<n {
                let o = (i * c + ch) * l
                let (a, b) = vsumAndDotMasked(dz + o, mask + o, x + o, l)
                s += a; q += b
            }
            sums[ch] = s; sums[c + ch] = q
        }
    }
}

/// Synchronised fused training backward from `global` sums over `m` values (dx) and this batch's `local` sums (dw, db).
public func batchnorm_relu_backward_from_sums(_ dx: UnsafeMutablePointer<Scalar>?, accumulateX: Bool,
                                              _ dr: UnsafeMutablePointer<Scalar>?, accumulateR: Bool,
                                              _ dw: UnsafeMutablePointer<Scalar>?, _ db: UnsafeMutablePointer<Scalar>?,
                                              _ global: UnsafePointer<Double>, _ local: UnsafePointer<Double>, _ m: Int,
                                              _ dz: UnsafePointer<Scalar>, _ mask: UnsafePointer<Scalar>, _ x: UnsafePointer<Scalar>,
                                              _ w: UnsafePointer<Scalar>, _ mean: UnsafePointer<Scalar>, _ invstd: UnsafePointer<Scalar>,
                                              _ n: Int, _ c: Int, _ l: Int) {
    parallelChunks(c, costPerItem: n * l * 2) { cr in
        for ch in cr {
            batchnorm_relu_backward_channel(dx, accumulateX: accumulateX, dr, accumulateR: accumulateR, dw, db, dz, mask, x, w,
                                            mean, invstd, ch, n, c, l, m, global[ch], global[c + ch], local[ch], local[c + ch],
                                            training: true)
        }
    }
}

/// One row of `batchnorm_relu_backward`'s gradient pass: g = dz·(mask > 0); dx (+)= g·cg + x·cx + c0; dr (+)= g.
/// A fresh gradient is written without being read. dz, mask, x, dx, dr: [l].
@inline(__always)
func batchnorm_relu_backward_row(_ dx: UnsafeMutablePointer<Scalar>?, accumulateX: Bool, _ dr: UnsafeMutablePointer<Scalar>?,
                                 accumulateR: Bool, _ dz: UnsafePointer<Scalar>, _ mask: UnsafePointer<Scalar>,
                                 _ x: UnsafePointer<Scalar>, _ l: Int, _ cg: Scalar, _ cx: Scalar, _ c0: Scalar) {
    let zero = Lanes(repeating: 0), vg = Lanes(repeating: cg), vx = Lanes(repeating: cx), v0 = Lanes(repeating: c0)
    var j = 0
    while j + 16 <= l {
        let g = zero.replacing(with: loadLanes(dz + j), where: loadLanes(mask + j) .> zero)
        if let dx {
            let v = g * vg + loadLanes(x + j) * vx + v0
            if accumulateX { storeLanes(loadLanes(dx + j) + v, dx + j) } else { storeLanes(v, dx + j) }
        }
        if let dr {
            if accumulateR { storeLanes(loadLanes(dr + j) + g, dr + j) } else { storeLanes(g, dr + j) }
        }
        j += 16
    }
    while j < l {
        let g = mask[j] > 0 ? dz[j] : 0
        if let dx {
            let v = g * cg + x[j] * cx + c0
            if accumulateX { dx[j] += v } else { dx[j] = v }
        }
        if let dr {
            if accumulateR { dr[j] += g } else { dr[j] = g }
        }
        j += 1
    }
}

/// Running statistics after a training batch: `r = (1 − momentum) r + momentum · batch` per channel (PyTorch's rule;
/// the variance uses the unbiased batch variance). `c` channels.
public func batchnorm_update_running(_ runningMean: UnsafeMutablePointer<Scalar>, _ runningVar: UnsafeMutablePointer<Scalar>,
                              _ mean: UnsafePointer<Scalar>, _ unbiased: UnsafePointer<Scalar>, _ c: Int, _ momentum: Scalar) {
    for ch in 0..<c {
        runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * mean[ch]
        runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * unbiased[ch]
    }
}

/// Evaluation mode's per-channel `mean` and `invstd = 1/√(var + eps)` from the running statistics. `c` channels.
public func batchnorm_eval_statistics(_ mean: UnsafeMutablePointer<Scalar>, _ invstd: UnsafeMutablePointer<Scalar>,
                               _ runningMean: UnsafePointer<Scalar>, _ runningVar: UnsafePointer<Scalar>, _ c: Int, _ eps: Scalar) {
    for ch in 0..<c {
        mean[ch] = runningMean[ch]
        invstd[ch] = 1 / (runningVar[ch] + eps).squareRoot()
    }
}
