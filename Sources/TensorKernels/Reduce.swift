// Reductions along an axis, viewed as [outer x n x inner].

/// y[o, i] = Σ_k x[o, k, i].  x: [outer x n x inner], y: [outer x inner]
public func sum_axis_forward(_ y: UnsafeMutablePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ outer: Int, _ n: Int, _ inner: Int) {
    for o in 0..<outer {
        let yo = y + o * inner
        for i in 0..<inner { yo[i] = 0 }
        for k in 0..<n {
            let xk = x + (o * n + k) * inner
            for i in 0..<inner { yo[i] += xk[i] }
        }
    }
}

/// dx[o, k, i] += dy[o, i] · scale
public func sum_axis_backward(_ dx: UnsafeMutablePointer<Scalar>, _ dy: UnsafePointer<Scalar>, _ outer: Int, _ n: Int, _ inner: Int, _ scale: Scalar) {
    for o in 0..<outer {
        let go = dy + o * inner
        for k in 0..<n {
            let dk = dx + (o * n + k) * inner
            for i in 0..<inner { dk[i] += go[i] * scale }
        }
    }
}
