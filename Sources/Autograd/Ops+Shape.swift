// Layout operations: reshape, permute/transpose, slice and concat along an axis.

import TensorKernels

extension Tensor {
    /// The same values with a new shape (one dimension may be -1). Shares nothing with the graph but its gradient.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            guard known > 0, count % known == 0 else { throw TensorError.shapeMismatch("cannot reshape \(shape) to \(newShape)") }
            s[i] = count / known
        }
        guard s.allSatisfy({ $0 >= 0 }), Tensor.elementCount(s) == count else {
            throw TensorError.shapeMismatch("cannot reshape \(shape) (\(count) elements) to \(newShape)")
        }
        let x = self
        let needs = GradMode.isEnabled && requiresGrad
        let out = Tensor(storage: storage, shape: s, requiresGrad: needs)
        if needs {
            out.node = BackwardNode(inputs: [x]) { out in
                let g = out.gradStorage!.pointer, d = x.gradPointer()
                for i in 0..<x.count { d[i] += g[i] }
            }
        }
        return out
    }

    /// Reorders dimensions: output dimension i is input dimension `dims[i]`.
    public func permuted(_ dims: [Int]) throws -> Tensor {
        guard dims.count == rank, Set(dims) == Set(0..<rank) else {
            throw TensorError.invalidArgument("permutation \(dims) for rank \(rank)")
        }
        let outShape = dims.map { shape[$0] }
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let strides = dims.map { inStrides[$0] }   // input stride of each output dimension
        let x = self
        let out = Tensor.result(outShape, inputs: [x]) { out in
            permute_apply(x.gradPointer(), out.gradStorage!.pointer, outShape, strides, accumulateIntoSource: true)
        }
        permute_apply(storage.pointer, out.storage.pointer, outShape, strides, accumulateIntoSource: false)
        return out
    }

    /// Swaps two dimensions.
    public func transposed(_ a: Int, _ b: Int) throws -> Tensor {
        var dims = Array(0..<rank)
        dims.swapAt(try axis(a), try axis(b))
        return try permuted(dims)
    }

    /// Elements `range` along `axis`.
    public func slice(axis: Int, _ range: Range<Int>) throws -> Tensor {
        let a = try self.axis(axis)
        guard range.lowerBound >= 0, range.upperBound <= shape[a] else {
            throw TensorError.invalidArgument("slice \(range) out of 0..<\(shape[a]) on axis \(a) of \(shape)")
        }
        let (outer, n, inner) = around(a)
        let m = range.count
        var outShape = shape
        outShape[a] = m
        let x = self
        let out = Tensor.result(outShape, inputs: [x]) { out in
            let g = out.gradStorage!.pointer, d = x.gradPointer()
            for o in 0..<outer {
                let src = g + o * m * inner, dst = d + (o * n + range.lowerBound) * inner
                for i in 0..<(m * inner) { dst[i] += src[i] }
            }
        }
        let p = storage.pointer, q = out.storage.pointer
        for o in 0..<outer {
            (q + o * m * inner).update(from: p + (o * n + range.lowerBound) * inner, count: m * inner)
        }
        return out
    }
}


/// Joins tensors along `axis`; all other dimensions must agree.
public func concat(_ parts: [Tensor], axis: Int) throws -> Tensor {
    guard let first = parts.first else { throw TensorError.invalidArgument("concat of nothing") }
    let a = try first.axis(axis)
    for p in parts {
        guard p.rank == first.rank,
              p.shape.enumerated().allSatisfy({ $0.offset == a || $0.element == first.shape[$0.offset] }) else {
            throw TensorError.shapeMismatch("concat along \(a): \(p.shape) vs \(first.shape)")
        }
    }
    let total = parts.reduce(0) { $0 + $1.shape[a] }
    var outShape = first.shape
    outShape[a] = total
    let (outer, _, inner) = first.around(a)
    let out = Tensor.result(outShape, inputs: parts) { out in
        let g = out.gradStorage!.pointer
        var offset = 0
        for p in parts {
            let m = p.shape[a]
            if p.requiresGrad {
                let d = p.gradPointer()
                for o in 0..<outer {
                    let src = g + (o * total + offset) * inner, dst = d + o * m * inner
                    for i in 0..<(m * inner) { dst[i] += src[i] }
                }
            }
            offset += m
        }
    }
    var offset = 0
    let q = out.storage.pointer
    for p in parts {
        let m = p.shape[a]
        for o in 0..<outer {
            (q + (o * total + offset) * inner).update(from: p.storage.pointer + o * m * inner, count: m * inner)
        }
        offset += m
    }
    return out
}
