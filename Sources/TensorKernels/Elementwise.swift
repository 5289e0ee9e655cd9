import Foundation

// Element-wise kernels. Each forward sits next to its backward; backward accumulates (+=) unless told.

/// y = max(x, 0).  x, y: [count]
public func relu_forward(_ y: UnsafeMutablePointer<Scalar>, _ x: UnsafePointer<Scalar>, _ count: Int) {
    parallelChunks(count) { r in
        var i = r.lowerBound
        let zero = SIMD16<Scalar>(repeating: 0)
        while i + 16 <= r.upperBound {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Scalar>.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: v.replacing(with: zero, where: v .< zero), as: SIMD16<Scalar>.self)
            i += 16
        }
        while i < r.upperBound { y[i] = x[i] > 0 ? x[i] : 0; i += 1 }
    }
}

/// dx += dy * (y > 0), or dx = dy * (y > 0) when `accumulate` is false (a fresh gradient: no zero-fill, no read).
/// (Uses the output, so ReLU needs no copy of its input.)
public func relu_backward(_ dx: UnsafeMutablePointer<Scalar>, _ dy: UnsafePointer<Scalar>, _ y: UnsafePointer<Scalar>, _ count: Int,
                   accumulate: Bool = true) {
    parallelChunks(count) { r in
        var i = r.lowerBound
        let zero = SIMD16<Scalar>(repeating: 0)
        if accumulate {
            while i + 16 <= r.upperBound {
                let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD16<Scalar>.self)
                let g = UnsafeRawPointer(dy + i).loadUnaligned(as: SIMD16<Scalar>.self)
                let d = UnsafeRawPointer(dx + i).loadUnaligned(as: SIMD16<Scalar>.self)
                UnsafeMutableRawPointer(dx + i).storeBytes(of: d + zero.replacing(with: g, where: yv .> zero), as: SIMD16<Scalar>.self)
                i += 16
            }
            while i < r.upperBound { dx[i] += y[i] > 0 ? dy[i] : 0; i += 1 }
        } else {
            while i + 16 <= r.upperBound {
                let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD16<Scalar>.self)
                let g = UnsafeRawPointer(dy + i).loadUnaligned(as: SIMD16<Scalar>.self)
                UnsafeMutableRawPointer(dx + i).storeBytes(of: zero.replacing(with: g, where: yv .> zero), as: SIMD16<Scalar>.self)
                i += 16
            }
            while i < r.upperBound { dx[i] = y[i] > 0 ? dy[i] : 0; i += 1 }
        }
    }
}

/// Kinds of element-wise binary operation.
public enum BinaryKind { case add, sub, mul }

/// y[r, i] = a[r, i] (op) b[i].  a, y: [reps x m], b: [m]
public func binary_forward(_ y: UnsafeMutablePointer<Scalar>, _ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>,
                    _ reps: Int, _ m: Int, _ kind: BinaryKind) {
    parallelChunks(reps, costPerItem: m) { rr in
        for r in rr {
            let ya = y + r * m, aa = a + r * m
            switch kind {
            case .add: for i in 0..<m { ya[i] = aa[i] + b[i] }
            case .sub: for i in 0..<m { ya[i] = aa[i] - b[i] }
            case .mul: for i in 0..<m { ya[i] = aa[i] * b[i] }
            }
        }
    }
}

/// da += dy (·b);  db += Σ_r dy (·a)   (sign flipped for sub). With `accumulateA` false, da is a fresh
/// gradient and is written (=) instead.
public func binary_backward(_ da: UnsafeMutablePointer<Scalar>?, _ db: UnsafeMutablePointer<Scalar>?, _ dy: UnsafePointer<Scalar>,
                     _ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, _ reps: Int, _ m: Int, _ kind: BinaryKind,
                     accumulateA: Bool = true) {
    if let da {
        parallelChunks(reps, costPerItem: m) { rr in
            for r in rr {
                let d = da + r * m, g = dy + r * m
                switch (kind, accumulateA) {
                case (.add, true), (.sub, true): for i in 0..<m { d[i] += g[i] }
                case (.mul, true): for i in 0..<m { d[i] += g[i] * b[i] }
                case (.add, false), (.sub, false): d.update(from: g, count: m)
                case (.mul, false): for i in 0..<m { d[i] = g[i] * b[i] }
                }
            }
        }
    }
    if let db {
        for r in 0..<reps {
            let g = dy + r * m, aa = a + r * m
            switch kind {
            case .add: for i in 0..<m { db[i] += g[i] }
            case .sub: for i in 0..<m { db[i] -= g[i] }
            case .mul: for i in 0..<m { db[i] += g[i] * aa[i] }
            }
        }
    }
}
