// SIMD building blocks for memory-bound kernels. Sums accumulate 16 lanes in Double (converted from Scalar lanes),
// so they vectorise without giving up accuracy on long rows (batch-norm statistics feed every activation).

public typealias Lanes = SIMD16<Scalar>

@inline(__always) public func loadLanes(_ p: UnsafePointer<Scalar>) -> Lanes { UnsafeRawPointer(p).loadUnaligned(as: Lanes.self) }
@inline(__always) public func storeLanes(_ v: Lanes, _ p: UnsafeMutablePointer<Scalar>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self) }

/// The lanes in Double, element by element (concrete, so it always inlines to packed conversions; the generic
/// `SIMD16<Double>(_:)` is sometimes left as a call per 16 elements).
@inline(__always) public func widen(_ v: Lanes) -> SIMD16<Double> {
    SIMD16<Double>(Double(v[0]), Double(v[1]), Double(v[2]), Double(v[3]), Double(v[4]), Double(v[5]), Double(v[6]), Double(v[7]),
                   Double(v[8]), Double(v[9]), Double(v[10]), Double(v[11]), Double(v[12]), Double(v[13]), Double(v[14]), Double(v[15]))
}

/// y[j] = x[j]·a + b.
@inline(__always) public func vaffine(_ y: UnsafeMutablePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ n: Int, _ a: Scalar, _ b: Scalar) {
    let av = Lanes(repeating: a), bv = Lanes(repeating: b)
    var j = 0
    while j + 16 <= n { storeLanes(loadLanes(x + j) * av + bv, y + j); j += 16 }
    while j < n { y[j] = x[j] * a + b; j += 1 }
}

// The sums below add 16 lanes in Scalar over blocks of at most `sumBlock` elements (16 per lane), then add each
// block's lanes in Double: Double lanes throughout (SIMD16<Double> accumulators) ran out of registers and spent
// half the instructions on conversions, in the hottest loop of batch-norm backward.

/// Elements per Scalar-lane block of the sums.
public let sumBlock = 256

/// (Σ p[j], Σ p[j]²) in one pass.
@inline(__always) public func vsumAndSumOfSquares(_ p: UnsafePointer<Scalar>, _ n: Int) -> (Double, Double) {
    var ts: Double = 0, tq: Double = 0
    var i = 0
    while i + 16 <= n {
        var s = Lanes(repeating: 0), q = Lanes(repeating: 0)
        let end = Swift.min(n - 15, i + sumBlock)
        while i < end { let v = loadLanes(p + i); s += v; q += v * v; i += 16 }
        ts += widen(s).sum(); tq += widen(q).sum()
    }
    while i < n { let v = Double(p[i]); ts += v; tq += v * v; i += 1 }
    return (ts, tq)
}

/// (Σ g[j], Σ g[j]·p[j]) in one pass.
@inline(__always) public func vsumAndDot(_ g: UnsafePointer<Scalar>, _ p: UnsafePointer<Scalar>, _ n: Int) -> (Double, Double) {
    var ts: Double = 0, td: Double = 0
    var i = 0
    while i + 16 <= n {
        var s = Lanes(repeating: 0), d = Lanes(repeating: 0)
        let end = Swift.min(n - 15, i + sumBlock)
        while i < end { let gv = loadLanes(g + i); s += gv; d += gv * loadLanes(p + i); i += 16 }
        ts += widen(s).sum(); td += widen(d).sum()
    }
    while i < n { ts += Double(g[i]); td += Double(g[i]) * Double(p[i]); i += 1 }
    return (ts, td)
}

/// y[j] = max(x[j]·a + b, 0): batch norm's affine and the ReLU in one pass (the same rounding as the two apart).
@inline(__always) public func vaffineReLU(_ y: UnsafeMutablePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ n: Int, _ a: Scalar, _ b: Scalar) {
    let av = Lanes(repeating: a), bv = Lanes(repeating: b), zero = Lanes(repeating: 0)
    var j = 0
    while j + 16 <= n { let v = loadLanes(x + j) * av + bv; storeLanes(v.replacing(with: zero, where: v .< zero), y + j); j += 16 }
    while j < n { let v = x[j] * a + b; y[j] = v > 0 ? v : 0; j += 1 }
}

/// y[j] = max((x[j]·a + b) + r[j], 0): batch norm's affine, a residual sum and the ReLU in one pass.
@inline(__always) public func vaffineAddReLU(_ y: UnsafeMutablePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ r: UnsafePointer<Scalar>,
                                      _ n: Int, _ a: Scalar, _ b: Scalar) {
    let av = Lanes(repeating: a), bv = Lanes(repeating: b), zero = Lanes(repeating: 0)
    var j = 0
    while j + 16 <= n {
        let v = (loadLanes(x + j) * av + bv) + loadLanes(r + j)
        storeLanes(v.replacing(with: zero, where: v .< zero), y + j); j += 16
    }
    while j < n { let v = (x[j] * a + b) + r[j]; y[j] = v > 0 ? v : 0; j += 1 }
}

/// (Σ g[j], Σ g[j]·p[j]) with g = dz masked by z > 0 (the ReLU's backward, never stored).
@inline(__always) public func vsumAndDotMasked(_ dz: UnsafePointer<Scalar>, _ z: UnsafePointer<Scalar>, _ p: UnsafePointer<Scalar>,
                                        _ n: Int) -> (Double, Double) {
    var ts: Double = 0, td: Double = 0
    let zero = Lanes(repeating: 0)
    var i = 0
    while i + 16 <= n {
        var s = Lanes(repeating: 0), d = Lanes(repeating: 0)
        let end = Swift.min(n - 15, i + sumBlock)
        while i < end {
            let gv = zero.replacing(with: loadLanes(dz + i), where: loadLanes(z + i) .> zero)
            s += gv; d += gv * loadLanes(p + i); i += 16
        }
        ts += widen(s).sum(); td += widen(d).sum()
    }
    while i < n { let g = z[i] > 0 ? Double(dz[i]) : 0; ts += g; td += g * Double(p[i]); i += 1 }
    return (ts, td)
}
