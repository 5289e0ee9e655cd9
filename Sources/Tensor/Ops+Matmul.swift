import CBLAS

/// Products below this many multiply-adds run on one OpenBLAS thread (the concept heads' matmuls: 0.1 ms or less).
/// A multithreaded call leaves OpenBLAS's worker spinning (sched_yield) for a while afterwards, taking a core from
/// the clip-parallel conv workers that run next: 3% of a tiny training step's CPU time, measured.
let gemmSingleThreadedBelow = 1 << 22

/// Row-major GEMM through OpenBLAS (sgemm, or dgemm in the float64 build): C = alpha·op(A)·op(B) + beta·C,
/// op(A): M x K, op(B): K x N.
@inline(__always)
public func gemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Scalar,
           _ a: UnsafePointer<Scalar>, _ lda: Int, _ b: UnsafePointer<Scalar>, _ ldb: Int,
           _ beta: Scalar, _ c: UnsafeMutablePointer<Scalar>, _ ldc: Int) {
    if m == 0 || n == 0 { return }
    #if CONCEPT_FLOAT64
    let call = cblas_dgemm
    #else
    let call = cblas_sgemm
    #endif
    let run = {
        call(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
             Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    if Double(m) * Double(n) * Double(k) < Double(gemmSingleThreadedBelow) { BLASThreads.singleThreaded(run) } else { run() }
}

/// Naive reference: C = op(A)·op(B) + beta·C (same conventions as `sgemm`), in Double accumulation.
public func gemm_naive(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                 _ a: UnsafePointer<Scalar>, _ lda: Int, _ b: UnsafePointer<Scalar>, _ ldb: Int,
                 _ beta: Scalar, _ c: UnsafeMutablePointer<Scalar>, _ ldc: Int) {
    for i in 0..<m {
        for j in 0..<n {
            var s: Double = 0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                s += Double(av) * Double(bv)
            }
            c[i * ldc + j] = Scalar(s) + (beta == 0 ? 0 : beta * c[i * ldc + j])
        }
    }
}

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
        try Tensor_matmul(self, other, transposeA, transposeB)
    }
}
@inline(__always) private func Tensor_matmul(_ a: Tensor, _ b: Tensor, _ ta: Bool, _ tb: Bool) throws -> Tensor {
    try matmul(a, b, transposeA: ta, transposeB: tb)
}

// MARK: - linear

/// y = x·Wᵀ + b over the last dimension.  x: [R.., in], weight: [out, in], bias: [out] or nil → y: [R.., out]
func linear_forward(_ y: UnsafeMutablePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ w: UnsafePointer<Scalar>,
                    _ b: UnsafePointer<Scalar>?, _ rows: Int, _ inF: Int, _ outF: Int) {
    if let b { for r in 0..<rows { (y + r * outF).update(from: b, count: outF) } }
    gemm(false, true, rows, outF, inF, 1, x, inF, w, inF, b == nil ? 0 : 1, y, outF)
}
/// dx += dy·W;  dW += dyᵀ·x;  db += Σ_rows dy
func linear_backward(_ dx: UnsafeMutablePointer<Scalar>?, _ dw: UnsafeMutablePointer<Scalar>?, _ db: UnsafeMutablePointer<Scalar>?,
                     _ dy: UnsafePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ w: UnsafePointer<Scalar>,
                     _ rows: Int, _ inF: Int, _ outF: Int) {
    if let dx { gemm(false, false, rows, inF, outF, 1, dy, outF, w, inF, 1, dx, inF) }
    if let dw { gemm(true, false, outF, inF, rows, 1, dy, outF, x, inF, 1, dw, inF) }
    if let db { for r in 0..<rows { let g = dy + r * outF; for o in 0..<outF { db[o] += g[o] } } }
}

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
