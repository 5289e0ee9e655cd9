// SIMD building blocks for memory-bound kernels. Sums accumulate 16 lanes in Double (converted from Scalar lanes),
// so they vectorise without giving up accuracy on long rows (batch-norm statistics feed every activation).

typealias Lanes = SIMD16<Scalar>

@inline(__always) func loadLanes(_ p: UnsafePointer<Scalar>) -> Lanes { UnsafeRawPointer(p).loadUnaligned(as: Lanes.self) }
@inline(__always) func storeLanes(_ v: Lanes, _ p: UnsafeMutablePointer<Scalar>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self) }

/// y[j] = x[j]·a + b.
@inline(__always) func vaffine(_ y: UnsafeMutablePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ n: Int, _ a: Scalar, _ b: Scalar) {
    let av = Lanes(repeating: a), bv = Lanes(repeating: b)
    var j = 0
    while j + 16 <= n { storeLanes(loadLanes(x + j) * av + bv, y + j); j += 16 }
    while j < n { y[j] = x[j] * a + b; j += 1 }
}

/// (Σ p[j], Σ p[j]²) in one pass.
@inline(__always) func vsumAndSumOfSquares(_ p: UnsafePointer<Scalar>, _ n: Int) -> (Double, Double) {
    var s = SIMD16<Double>(repeating: 0), q = SIMD16<Double>(repeating: 0)
    var i = 0
    while i + 16 <= n { let v = SIMD16<Double>(loadLanes(p + i)); s += v; q += v * v; i += 16 }
    var ts = s.sum(), tq = q.sum()
    while i < n { let v = Double(p[i]); ts += v; tq += v * v; i += 1 }
    return (ts, tq)
}

/// (Σ g[j], Σ g[j]·p[j]) in one pass.
@inline(__always) func vsumAndDot(_ g: UnsafePointer<Scalar>, _ p: UnsafePointer<Scalar>, _ n: Int) -> (Double, Double) {
    var s = SIMD16<Double>(repeating: 0), d = SIMD16<Double>(repeating: 0)
    var i = 0
    while i + 16 <= n {
        let gv = SIMD16<Double>(loadLanes(g + i))
        s += gv; d += gv * SIMD16<Double>(loadLanes(p + i)); i += 16
    }
    var ts = s.sum(), td = d.sum()
    while i < n { ts += Double(g[i]); td += Double(g[i]) * Double(p[i]); i += 1 }
    return (ts, td)
}
