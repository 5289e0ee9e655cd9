// Naive reference conv3d: direct loops, every sum accumulated in Double and written once ("gather" form, also
// for the backward pass), so it doubles as the trusted reference for the fast kernels. Generic over the storage
// type so that tests can run it in Double for finite differences.

/// Reference forward pass: out = conv(inp, weight) + bias. Overwrites out (N x Cout x To x Ho x Wo).
///
/// Shapes: inp N x Cin x T x H x W, weight Cout x Cin x kT x kH x kW, bias Cout (nil = no bias).
public func conv3d_forward_naive(_ out: UnsafeMutablePointer<Scalar>, _ inp: UnsafePointer<Scalar>,
                                 _ weight: UnsafePointer<Scalar>, _ bias: UnsafePointer<Scalar>?, _ g: Conv3dGeometry) {
    conv3dForwardReference(out, inp, weight, bias, g)
}

/// Reference backward pass. Accumulates (+=) into each non-nil gradient: dinp (like inp), dweight (like weight),
/// dbias (Cout), given dout (like out) and the forward inputs.
public func conv3d_backward_naive(dinp: UnsafeMutablePointer<Scalar>?, dweight: UnsafeMutablePointer<Scalar>?,
                                  dbias: UnsafeMutablePointer<Scalar>?, dout: UnsafePointer<Scalar>,
                                  inp: UnsafePointer<Scalar>, weight: UnsafePointer<Scalar>, _ g: Conv3dGeometry) {
    conv3dBackwardReference(dinp: dinp, dweight: dweight, dbias: dbias, dout: dout, inp: inp, weight: weight, g)
}

/// `conv3d_forward_naive` for any floating-point storage; sums in Double.
func conv3dForwardReference<S: BinaryFloatingPoint>(
    _ out: UnsafeMutablePointer<S>, _ inp: UnsafePointer<S>, _ weight: UnsafePointer<S>, _ bias: UnsafePointer<S>?,
    _ g: Conv3dGeometry
) {
    let (to, ho, wo) = (g.to, g.ho, g.wo)
    let (kt, kh, kw) = (g.kt, g.kh, g.kw)
    var o = 0
    for n in 0..<g.n {
        for co in 0..<g.cout {
            let b = bias.map { Double($0[co]) } ?? 0
            for ot in 0..<to {
                for oh in 0..<ho {
                    for ow in 0..<wo {
                        var acc = b
                        for ci in 0..<g.cin {
                            for dt in 0..<kt {
                                let it = ot * g.st - g.pt + dt
                                if it < 0 || it >= g.t { continue }
                                for dh in 0..<kh {
                                    let ih = oh * g.sh - g.ph + dh
                                    if ih < 0 || ih >= g.h { continue }
                                    for dw in 0..<kw {
                                        let iw = ow * g.sw - g.pw + dw
                                        if iw < 0 || iw >= g.w { continue }
                                        let x = inp[(((n * g.cin + ci) * g.t + it) * g.h + ih) * g.w + iw]
                                        let k = weight[(((co * g.cin + ci) * kt + dt) * kh + dh) * kw + dw]
                                        acc += Double(x) * Double(k)
                                    }
                                }
                            }
                        }
                        out[o] = S(acc)
                        o += 1
                    }
                }
            }
        }
    }
}

/// `conv3d_backward_naive` for any floating-point storage; each gradient element is one Double sum.
func conv3dBackwardReference<S: BinaryFloatingPoint>(
    dinp: UnsafeMutablePointer<S>?, dweight: UnsafeMutablePointer<S>?, dbias: UnsafeMutablePointer<S>?,
    dout: UnsafePointer<S>, inp: UnsafePointer<S>, weight: UnsafePointer<S>, _ g: Conv3dGeometry
) {
    let (to, ho, wo) = (g.to, g.ho, g.wo)
    let (kt, kh, kw) = (g.kt, g.kh, g.kw)
    @inline(__always) func doutAt(_ n: Int, _ co: Int, _ ot: Int, _ oh: Int, _ ow: Int) -> Double {
        Double(dout[(((n * g.cout + co) * to + ot) * ho + oh) * wo + ow])
    }

    // dbias[co] = sum over n, To, Ho, Wo of dout.
    if let dbias {
        for co in 0..<g.cout {
            var acc = 0.0
            for n in 0..<g.n {
                for ot in 0..<to { for oh in 0..<ho { for ow in 0..<wo { acc += doutAt(n, co, ot, oh, ow) } } }
            }
            dbias[co] += S(acc)
        }
    }

    // dweight[co, ci, dt, dh, dw] = sum over n and outputs of dout * the input element under that tap.
    if let dweight {
        var wi = 0
        for co in 0..<g.cout {
            for ci in 0..<g.cin {
                for dt in 0..<kt {
                    for dh in 0..<kh {
                        for dw in 0..<kw {
                            var acc = 0.0
                            for n in 0..<g.n {
                                for ot in 0..<to {
                                    let it = ot * g.st - g.pt + dt
                                    if it < 0 || it >= g.t { continue }
                                    for oh in 0..<ho {
                                        let ih = oh * g.sh - g.ph + dh
                                        if ih < 0 || ih >= g.h { continue }
                                        for ow in 0..<wo {
                                            let iw = ow * g.sw - g.pw + dw
                                            if iw < 0 || iw >= g.w { continue }
                                            let x = inp[(((n * g.cin + ci) * g.t + it) * g.h + ih) * g.w + iw]
                                            acc += doutAt(n, co, ot, oh, ow) * Double(x)
                                        }
                                    }
                                }
                            }
                            dweight[wi] += S(acc)
                            wi += 1
                        }
                    }
                }
            }
        }
    }

    // dinp[n, ci, it, ih, iw] = sum over the (output, tap) pairs that read this element of dout * weight.
    if let dinp {
        /// The output index that reads input index `i` through tap `d`, or nil.
        @inline(__always) func source(_ i: Int, _ d: Int, _ s: Int, _ p: Int, _ count: Int) -> Int? {
            let x = i + p - d
            if x < 0 || x % s != 0 { return nil }
            let o = x / s
            return o < count ? o : nil
        }
        var xi = 0
        for n in 0..<g.n {
            for ci in 0..<g.cin {
                for it in 0..<g.t {
                    for ih in 0..<g.h {
                        for iw in 0..<g.w {
                            var acc = 0.0
                            for co in 0..<g.cout {
                                for dt in 0..<kt {
                                    guard let ot = source(it, dt, g.st, g.pt, to) else { continue }
                                    for dh in 0..<kh {
                                        guard let oh = source(ih, dh, g.sh, g.ph, ho) else { continue }
                                        for dw in 0..<kw {
                                            guard let ow = source(iw, dw, g.sw, g.pw, wo) else { continue }
                                            let k = weight[(((co * g.cin + ci) * kt + dt) * kh + dh) * kw + dw]
                                            acc += doutAt(n, co, ot, oh, ow) * Double(k)
                                        }
                                    }
                                }
                            }
                            dinp[xi] += S(acc)
                            xi += 1
                        }
                    }
                }
            }
        }
    }
}
