import Foundation

// Softmax, log-softmax and L2 normalisation along an axis, viewed as [outer x n x inner].

/// y = softmax(x) (or log-softmax) along the middle axis.  x, y: [outer x n x inner]
public func softmax_forward(_ y: UnsafeMutablePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ outer: Int, _ n: Int, _ inner: Int, log: Bool) {
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * n * inner + i
            var mx = -Scalar.infinity
            for k in 0..<n { mx = Swift.max(mx, x[base + k * inner]) }
            var s: Double = 0
            for k in 0..<n { s += Double(Foundation.exp(x[base + k * inner] - mx)) }
            if log {
                let ls = Scalar(Foundation.log(s)) + mx
                for k in 0..<n { y[base + k * inner] = x[base + k * inner] - ls }
            } else {
                let inv = Scalar(1 / s)
                for k in 0..<n { y[base + k * inner] = Foundation.exp(x[base + k * inner] - mx) * inv }
            }
        }
    }
}

/// softmax:  dx += y ⊙ (dy − Σ dy⊙y);   log-softmax:  dx += dy − exp(y)·Σ dy
public func softmax_backward(_ dx: UnsafeMutablePointer<Scalar>, _ dy: UnsafePointer<Scalar>, _ y: UnsafePointer<Scalar>,
                      _ outer: Int, _ n: Int, _ inner: Int, log: Bool) {
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * n * inner + i
            var s: Scalar = 0
            if log {
                for k in 0..<n { s += dy[base + k * inner] }
                for k in 0..<n { let j = base + k * inner; dx[j] += dy[j] - Foundation.exp(y[j]) * s }
            } else {
                for k in 0..<n { let j = base + k * inner; s += dy[j] * y[j] }
                for k in 0..<n { let j = base + k * inner; dx[j] += y[j] * (dy[j] - s) }
            }
        }
    }
}

/// y = x / max(‖x‖₂, eps) along the middle axis (PyTorch's `F.normalize`).  x, y: [outer x n x inner]; norms: [outer x inner]
public func normalize_forward(_ y: UnsafeMutablePointer<Scalar>, _ norms: UnsafeMutablePointer<Scalar>, _ x: UnsafePointer<Scalar>,
                       _ outer: Int, _ n: Int, _ inner: Int, _ eps: Scalar) {
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * n * inner + i
            var s: Double = 0
            for k in 0..<n { let v = Double(x[base + k * inner]); s += v * v }
            let nrm = Swift.max(Scalar(s.squareRoot()), eps)
            norms[o * inner + i] = nrm
            for k in 0..<n { y[base + k * inner] = x[base + k * inner] / nrm }
        }
    }
}

/// dx += (dy − y·Σ dy⊙y) / ‖x‖ where ‖x‖ > eps, else dy / eps
public func normalize_backward(_ dx: UnsafeMutablePointer<Scalar>, _ dy: UnsafePointer<Scalar>, _ y: UnsafePointer<Scalar>,
                        _ norms: UnsafePointer<Scalar>, _ outer: Int, _ n: Int, _ inner: Int, _ eps: Scalar) {
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * n * inner + i
            let nrm = norms[o * inner + i]
            if nrm > eps {
                var s: Scalar = 0
                for k in 0..<n { let j = base + k * inner; s += dy[j] * y[j] }
                for k in 0..<n { let j = base + k * inner; dx[j] += (dy[j] - y[j] * s) / nrm }
            } else {
                for k in 0..<n { let j = base + k * inner; dx[j] += dy[j] / eps }
            }
        }
    }
}
