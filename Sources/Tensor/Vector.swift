// SIMD building blocks for memory-bound kernels. Sums accumulate 16 lanes in Double (converted from Scalar lanes),
// so they vectorise without giving up accuracy on long rows (batch-norm statistics feed every activation).

typealias Lanes = SIMD16<Scalar>

@inline(__always) func loadLanes(_ p: UnsafePointer<Scalar>) -> Lanes { UnsafeRawPointer(p).loadUnaligned(as: Lanes.self) }
@inline(__always) func storeLanes(_ v: Lanes, _ p: UnsafeMutablePointer<Scalar>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self) }

/// Σ f(i) over `0..<n`, where `f` maps a 16-lane block starting at `i` (or, for the tail, one element).
@inline(__always)
func blockedSum(_ n: Int, lanes: (Int) -> Lanes, scalar: (Int) -> Scalar) -> Double {
    var acc = SIMD16<Double>(repeating: 0)
    var i = 0
    while i + 16 <= n { acc += SIMD16<Double>(lanes(i)); i += 16 }
    var total = acc.sum()
    while i < n { total += Double(scalar(i)); i += 1 }
    return total
}

/// Σ p[j].
@inline(__always) func vsum(_ p: UnsafePointer<Scalar>, _ n: Int) -> Double {
    blockedSum(n, lanes: { loadLanes(p + $0) }, scalar: { p[$0] })
}
/// Σ (p[j] − μ)².
@inline(__always) func vsumSquaredDeviation(_ p: UnsafePointer<Scalar>, _ n: Int, _ mu: Scalar) -> Double {
    let m = Lanes(repeating: mu)
    return blockedSum(n, lanes: { let d = loadLanes(p + $0) - m; return d * d }, scalar: { (p[$0] - mu) * (p[$0] - mu) })
}
/// Σ g[j]·(p[j] − μ).
@inline(__always) func vsumProductDeviation(_ g: UnsafePointer<Scalar>, _ p: UnsafePointer<Scalar>, _ n: Int, _ mu: Scalar) -> Double {
    let m = Lanes(repeating: mu)
    return blockedSum(n, lanes: { loadLanes(g + $0) * (loadLanes(p + $0) - m) }, scalar: { g[$0] * (p[$0] - mu) })
}
/// y[j] = x[j]·a + b.
@inline(__always) func vaffine(_ y: UnsafeMutablePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ n: Int, _ a: Scalar, _ b: Scalar) {
    let av = Lanes(repeating: a), bv = Lanes(repeating: b)
    var j = 0
    while j + 16 <= n { storeLanes(loadLanes(x + j) * av + bv, y + j); j += 16 }
    while j < n { y[j] = x[j] * a + b; j += 1 }
}
