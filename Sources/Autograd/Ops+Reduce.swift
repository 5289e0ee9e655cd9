import TensorKernels

// Reductions. Axis reductions view the tensor as [outer x n x inner] around the reduced axis.

extension Tensor {
    /// Splits the shape around `axis` into (outer, n, inner).
    func around(_ axis: Int) -> (Int, Int, Int) {
        (Tensor.elementCount(Array(shape[..<axis])), shape[axis], Tensor.elementCount(Array(shape[(axis + 1)...])))
    }

    /// Sum of all elements, as a scalar.
    public func sum() -> Tensor {
        let x = self
        let out = Tensor.result([], inputs: [x]) { out in
            let g = out.gradStorage!.pointer[0], dx = x.gradPointer()
            for i in 0..<x.count { dx[i] += g }
        }
        var s: Double = 0
        let p = storage.pointer
        for i in 0..<count { s += Double(p[i]) }
        out.storage.pointer[0] = Scalar(s)
        return out
    }

    /// Mean of all elements, as a scalar.
    public func mean() -> Tensor {
        let x = self
        let n = Scalar(Swift.max(count, 1))
        let out = Tensor.result([], inputs: [x]) { out in
            let g = out.gradStorage!.pointer[0] / n, dx = x.gradPointer()
            for i in 0..<x.count { dx[i] += g }
        }
        var s: Double = 0
        let p = storage.pointer
        for i in 0..<count { s += Double(p[i]) }
        out.storage.pointer[0] = Scalar(s / Double(n))
        return out
    }

    /// Sum along `axis`, which is removed from the shape.
    public func sum(axis: Int) throws -> Tensor { try reduce(axis: axis, scale: 1) }
    /// Mean along `axis`, which is removed from the shape.
    public func mean(axis: Int) throws -> Tensor {
        let a = try self.axis(axis)
        return try reduce(axis: a, scale: 1 / Scalar(Swift.max(shape[a], 1)))
    }

    private func reduce(axis: Int, scale: Scalar) throws -> Tensor {
        let a = try self.axis(axis)
        let (outer, n, inner) = around(a)
        var outShape = shape
        outShape.remove(at: a)
        let x = self
        let out = Tensor.result(outShape, inputs: [x]) { out in
            sum_axis_backward(x.gradPointer(), out.gradStorage!.pointer, outer, n, inner, scale)
        }
        sum_axis_forward(out.storage.pointer, storage.pointer, outer, n, inner)
        if scale != 1 { for i in 0..<out.count { out.storage.pointer[i] *= scale } }
        return out
    }

    /// Global average pool of `N x C x ...` over every axis after the channel axis: `N x C`.
    public func globalAveragePool() throws -> Tensor {
        guard rank >= 3 else { throw TensorError.shapeMismatch("globalAveragePool needs N x C x ..., got \(shape)") }
        return try reshaped([shape[0], shape[1], Tensor.elementCount(Array(shape[2...]))]).mean(axis: 2)
    }
}

/// Mean squared error: mean over all elements of (a − b)².
public func mse(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    guard a.shape == b.shape else { throw TensorError.shapeMismatch("mse: \(a.shape) vs \(b.shape)") }
    let n = Scalar(Swift.max(a.count, 1))
    let out = Tensor.result([], inputs: [a, b]) { out in
        let g = out.gradStorage!.pointer[0] * 2 / n
        let ap = a.storage.pointer, bp = b.storage.pointer
        if a.requiresGrad { let d = a.gradPointer(); for i in 0..<a.count { d[i] += g * (ap[i] - bp[i]) } }
        if b.requiresGrad { let d = b.gradPointer(); for i in 0..<a.count { d[i] -= g * (ap[i] - bp[i]) } }
    }
    var s: Double = 0
    let ap = a.storage.pointer, bp = b.storage.pointer
    for i in 0..<a.count { let d = Double(ap[i] - bp[i]); s += d * d }
    out.storage.pointer[0] = Scalar(s / Double(n))
    return out
}
