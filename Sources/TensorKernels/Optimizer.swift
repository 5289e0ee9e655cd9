// Kernels over the flat parameter and gradient buffers: the global gradient norm, the finiteness check and the
// SGD update with momentum and weight decay.

/// Σ x[i]² over `n` elements, in Double, split over the cores.
public func sum_of_squares(_ x: UnsafePointer<Scalar>, _ n: Int) -> Double {
    let chunks = Swift.max(1, Swift.min(ComputeThreads.count, n >> 16))
    var partial = [Double](repeating: 0, count: chunks)
    partial.withUnsafeMutableBufferPointer { out in
        let box = UncheckedSendable(out.baseAddress!)
        parallelChunks(chunks, costPerItem: 1 << 16) { r in
            for c in r { box.value[c] = vsumAndSumOfSquares(x + n * c / chunks, n * (c + 1) / chunks - n * c / chunks).1 }
        }
    }
    return partial.reduce(0, +)
}

/// Whether all `n` elements of x are finite.
public func all_finite(_ x: UnsafePointer<Scalar>, _ n: Int) -> Bool {
    for i in 0..<n where !x[i].isFinite { return false }
    return true
}

/// PyTorch's SGD rule on the elements of `active` (ranges of 0..<n): `g' = g + wd·p;  buf = mu·buf + g';
/// p −= lr·buf`. Elements outside `active` are left untouched. p, g, buf: [n]
public func sgd_update(_ p: UnsafeMutablePointer<Scalar>, _ g: UnsafePointer<Scalar>, _ buf: UnsafeMutablePointer<Scalar>,
                       _ n: Int, active: [Range<Int>], lr: Scalar, momentum mu: Scalar, weightDecay wd: Scalar) {
    let box = UncheckedSendable((p, buf))
    // Element ranges split over the cores; each chunk updates the active parameters' part inside it.
    parallelChunks(n, costPerItem: 4) { chunk in
        let (p, buf) = box.value
        for range in active {
            let lo = Swift.max(range.lowerBound, chunk.lowerBound), hi = Swift.min(range.upperBound, chunk.upperBound)
            if lo >= hi { continue }
            for i in lo..<hi {
                let gi = g[i] + wd * p[i]
                buf[i] = mu * buf[i] + gi
                p[i] -= lr * buf[i]
            }
        }
    }
}
