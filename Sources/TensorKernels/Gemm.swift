import CBLAS

// Matrix products through OpenBLAS, with the naive reference beside them, and the fully connected layer.

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

/// y = x·Wᵀ + b over the last dimension.  x: [R.., in], weight: [out, in], bias: [out] or nil → y: [R.., out]
public func linear_forward(_ y: UnsafeMutablePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ w: UnsafePointer<Scalar>,
                    _ b: UnsafePointer<Scalar>?, _ rows: Int, _ inF: Int, _ outF: Int) {
    if let b { for r in 0..<rows { (y + r * outF).update(from: b, count: outF) } }
    gemm(false, true, rows, outF, inF, 1, x, inF, w, inF, b == nil ? 0 : 1, y, outF)
}

/// dx += dy·W;  dW += dyᵀ·x;  db += Σ_rows dy
public func linear_backward(_ dx: UnsafeMutablePointer<Scalar>?, _ dw: UnsafeMutablePointer<Scalar>?, _ db: UnsafeMutablePointer<Scalar>?,
                     _ dy: UnsafePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ w: UnsafePointer<Scalar>,
                     _ rows: Int, _ inF: Int, _ outF: Int) {
    if let dx { gemm(false, false, rows, inF, outF, 1, dy, outF, w, inF, 1, dx, inF) }
    if let dw { gemm(true, false, outF, inF, rows, 1, dy, outF, x, inF, 1, dw, inF) }
    if let db { for r in 0..<rows { let g = dy + r * outF; for o in 0..<outF { db[o] += g[o] } } }
}
