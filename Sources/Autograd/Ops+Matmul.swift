import TensorKernels

// MARK: - matmul

/// Batched matrix product of the last two dimensions: `op(a) · op(b)`.
/// a: `[B.., M, K]` (`[B.., K, M]` when `transposeA`), b: `[B.., K, N]` (`[B.., N, K]` when `transposeB`);
/// the batch dimensions must agree, or one operand is a plain matrix shared by every batch item.
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) throws -> Tensor {
    guard a.rank >= 2, b.rank >= 2 else { throw TensorError.shapeMismatch("matmul needs matrices, got \(a.shape) and \(b.shape)") }
    let aRows = a.shape[a.rank - 2], aCols = a.shape[a.rank - 1]
    let bRows = b.shape[b.rank - 2], bCols = b.shape[b.rank - 1]
    let (m, k) = transposeA ? (aCols, aRows) : (aRows, aCols)
    let (k2, n) = transposeB ? (bCols, bRows) : (bRows, bCols)
    guard k == k2 else { throw TensorError.shapeMismatch("matmul inner dimensions: \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")") }
    let aBatch = Array(a.shape.dropLast(2)), bBatch = Array(b.shape.dropLast(2))
    let batchShape: [Int]
    if aBatch == bBatch || bBatch.isEmpty { batchShape = aBatch }
    else if aBatch.isEmpty { batchShape = bBatch }
    else { throw TensorError.shapeMismatch("matmul batch dimensions \(aBatch) vs \(bBatch)") }
    let batches = Tensor.elementCount(batchShape)
    let aStep = aBatch.isEmpty ? 0 : m * k, bStep = bBatch.isEmpty ? 0 : k * n
    let lda = aCols, ldb = bCols
    let out = Tensor.result(batchShape + [m, n], inputs: [a, b]) { out in
        let dc = out.gradStorage!.pointer
        let ap = a.storage.pointer, bp = b.storage.pointer
        if a.requiresGrad {
            let da = a.gradPointer()
            for i in 0..<batches {
                let dci = dc + i * m * n, bi = bp + i * bStep, dai = da + i * aStep
                if !transposeA { gemm(false, !transposeB, m, k, n, 1, dci, n, bi, ldb, 1, dai, lda) }
                else { gemm(transposeB, true, k, m, n, 1, bi, ldb, dci, n, 1, dai, lda) }
            }
        }
        if b.requiresGrad {
            let db = b.gradPointer()
            for i in 0..<batches {
                let dci = dc + i * m * n, ai = ap + i * aStep, dbi = db + i * bStep
                if !transposeB { gemm(!transposeA, false, k, n, m, 1, ai, lda, dci, n, 1, dbi, ldb) }
                else { gemm(true, transposeA, n, k, m, 1, dci, n, ai, lda, 1, dbi, ldb) }
            }
        }
    }
    let ap = a.storage.pointer, bp = b.storage.pointer, cp = out.storage.pointer
    for i in 0..<batches {
        gemm(transposeA, transposeB, m, n, k, 1, ap + i * aStep, lda, bp + i * bStep, ldb, 0, cp + i * m * n, n)
    }
    return out
}

extension Tensor {
    /// `matmul(self, other, ...)`.
    public func matmul(_ other: Tensor, transposeA: Bool = false, transposeB: Bool = false) throws -> Tensor {
        try Autograd.matmul(self, other, transposeA: transposeA, transposeB: transposeB)
    }
}

// MARK: - linear

/// A fully connected layer on the last dimension: `x·Wᵀ + b` (PyTorch's `F.linear`).
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
    guard weight.rank == 2, x.rank >= 1, x.shape[x.rank - 1] == weight.shape[1] else {
        throw TensorError.shapeMismatch("linear: input \(x.shape) with weight \(weight.shape)")
    }
    let inF = weight.shape[1], outF = weight.shape[0], rows = x.count / Swift.max(inF, 1)
    if let bias, bias.shape != [outF] { throw TensorError.shapeMismatch("linear: bias \(bias.shape) for \(outF) outputs") }
    let inputs = [x, weight] + (bias.map { [$0] } ?? [])
    let out = Tensor.result(Array(x.shape.dropLast()) + [outF], inputs: inputs) { out in
        linear_backward(x.requiresGrad ? x.gradPointer() : nil, weight.requiresGrad ? weight.gradPointer() : nil,
                        (bias?.requiresGrad ?? false) ? bias!.gradPointer() : nil,
                        out.gradStorage!.pointer, x.storage.pointer, weight.storage.pointer, rows, inF, outF)
    }
    linear_forward(out.storage.pointer, x.storage.pointer, weight.storage.pointer, bias?.storage.pointer, rows, inF, outF)
    return out
}
