// Fast conv3d on OpenBLAS sgemm. Per call, a plan (Conv3dPlan) settles three things:
//
// 1. Dead taps. Taps that only ever read padding (e.g. the outer taps of a (3,1,1) conv on a 1-frame input) are
//    trimmed: the kernel shrinks, the weight is repacked and its gradient scattered back.
// 2. The path.
//    * shifted: a temporal (kT,1,1) or pointwise conv with stride 1 along T and no spatial stride or padding
//      needs no im2col. The frames of a clip are contiguous H*W blocks, so for each tap dt a frame range is a
//      plain sub-matrix: out[To-range] += W_dt @ x[T-range shifted by dt]; dinp[T-range] += W_dt^T @
//      dout[To-range]; dW_dt^T += x[T-range] @ dout^T[To-range]. For few input channels out^T and dout^T are
//      used instead (sgemm handles those shapes better), with one transpose per clip.
//    * im2col: everything else. Column tiles (K = Cin*kT*kH*kW rows) hold several whole clips side by side
//      (one bigger GEMM, then an unpermute to N x Cout x L) when clips are small, or a range of output frames
//      of one clip when a clip alone would pass the tile cap. Strided lines are split into phases once so that
//      every tap copies contiguously. Backward reuses the buffer: dW^T += col @ dout_tile^T, then
//      col = W^T @ dout_tile and col2im adds it into dinp.
// 3. The workers. With at least two clips per core (and an even split or enough clips), each core runs whole
//    clips on its own with single-threaded sgemm and its own dW buffer (summed at the end): no sync inside a
//    call, and every memory-bound pass is parallel for free. Otherwise one worker runs every clip with
//    OpenBLAS's threads, and the memory-bound passes split over the cores with concurrentPerform.
// Measurements behind these choices: bench/RESULTS-conv.md.

import CBLAS
import Foundation

/// out = conv(inp, weight) + bias. Overwrites out (N x Cout x To x Ho x Wo).
///
/// Shapes: inp N x Cin x T x H x W, weight Cout x Cin x kT x kH x kW, bias Cout (nil = no bias).
/// The geometry must pass `Conv3dGeometry.validate()`.
public func conv3d_forward(_ out: UnsafeMutablePointer<Scalar>, _ inp: UnsafePointer<Scalar>,
                           _ weight: UnsafePointer<Scalar>, _ bias: UnsafePointer<Scalar>?, _ g: Conv3dGeometry) {
    conv3dForwardFast(out, inp, weight, bias, g, .standard)
}

/// `conv3d_forward` with explicit tuning (tests force each path with it).
func conv3dForwardFast(_ out: UnsafeMutablePointer<Scalar>, _ inp: UnsafePointer<Scalar>,
                       _ weight: UnsafePointer<Scalar>, _ bias: UnsafePointer<Scalar>?, _ g: Conv3dGeometry,
                       _ tuning: Conv3dTuning) {
    let plan = Conv3dPlan(g, tuning)
    guard let s = plan.shape else {
        // No tap ever reads the input: the output is the bias.
        let l = s0(g)
        for n in 0..<g.n { Conv3dMemory.fillRows(out + n * g.cout * l, rows: g.cout, cols: l, ld: l, bias) }
        return
    }
    let packed = plan.packedWeight(weight)
    defer { packed?.deallocate() }
    let wk = packed.map { UnsafePointer($0) } ?? weight
    let taps = plan.path == .shifted ? Conv3dFast.tapMatrices(wk, s) : nil
    defer { taps?.deallocate() }
    plan.runWorkers { _, clips, par in
        switch plan.path {
        case .shifted:
            Conv3dFast.forwardShifted(out, inp, taps.map { UnsafePointer($0) } ?? wk, bias, s, clips,
                                      transposed: s.cin < plan.tuning.shiftedTransposedMaxCin)
        case .im2col: Conv3dFast.forwardIm2col(out, inp, wk, bias, s, plan.tiles(clips), par)
        }
    }
}

/// Accumulates (+=) into each non-nil gradient: dinp (like inp), dweight (like weight), dbias (Cout),
/// given dout (like out), the forward input and the weight. The geometry must pass `Conv3dGeometry.validate()`.
/// With `accumulateDinp` false, dinp is a fresh gradient whose contents are unspecified: it is overwritten (each
/// worker zeroes its own clips first, in parallel and cache-warm, instead of a serial zero-fill by the caller).
public func conv3d_backward(dinp: UnsafeMutablePointer<Scalar>?, dweight: UnsafeMutablePointer<Scalar>?,
                            dbias: UnsafeMutablePointer<Scalar>?, dout: UnsafePointer<Scalar>,
                            inp: UnsafePointer<Scalar>, weight: UnsafePointer<Scalar>, _ g: Conv3dGeometry,
                            accumulateDinp: Bool = true) {
    conv3dBackwardFast(dinp: dinp, dweight: dweight, dbias: dbias, dout: dout, inp: inp, weight: weight, g, .standard,
                       accumulateDinp: accumulateDinp)
}

/// `conv3d_backward` with explicit tuning (tests force each path with it).
func conv3dBackwardFast(dinp: UnsafeMutablePointer<Scalar>?, dweight: UnsafeMutablePointer<Scalar>?,
                        dbias: UnsafeMutablePointer<Scalar>?, dout: UnsafePointer<Scalar>,
                        inp: UnsafePointer<Scalar>, weight: UnsafePointer<Scalar>, _ g: Conv3dGeometry,
                        _ tuning: Conv3dTuning, accumulateDinp: Bool = true) {
    let plan = Conv3dPlan(g, tuning)
    if let dbias { Conv3dFast.biasBackward(dbias, dout, n: g.n, cout: g.cout, l: s0(g)) }
    if let dinp, !accumulateDinp, plan.shape == nil { dinp.update(repeating: 0, count: g.inputCount) }
    guard let s = plan.shape, dinp != nil || dweight != nil else { return }
    let packed = plan.packedWeight(weight)
    defer { packed?.deallocate() }
    let wk = packed.map { UnsafePointer($0) } ?? weight
    let taps = plan.path == .shifted ? Conv3dFast.tapMatrices(wk, s) : nil
    defer { taps?.deallocate() }
    // Each worker sums its weight gradient transposed (K x Cout: the faster GEMM orientation) in its own buffer.
    let workers = plan.workerClips.count
    let dwt: UnsafeMutablePointer<Scalar>? = dweight == nil ? nil : Conv3dScratch.take(workers * s.k * s.cout)
    dwt?.update(repeating: 0, count: workers * s.k * s.cout)
    defer { Conv3dScratch.give(dwt, workers * s.k * s.cout) }
    plan.runWorkers { worker, clips, par in
        let mine = dwt.map { $0 + worker * s.k * s.cout }
        if let dinp, !accumulateDinp {
            Conv3dMemory.zero(dinp + clips.lowerBound * s.clipIn, clips.count * s.clipIn, parallelMinWork: par)
        }
        switch plan.path {
        case .shifted:
            Conv3dFast.backwardShifted(dinp, mine, dout, inp, taps.map { UnsafePointer($0) } ?? wk, s, clips,
                                       transposed: s.cin < plan.tuning.shiftedTransposedMaxCin)
        case .im2col:
            Conv3dFast.backwardIm2col(dinp, mine, dout, inp, wk, s, plan.tiles(clips), par)
        }
    }
    if let dweight, let dwt { plan.addWeightGrad(dwt, workers: workers, into: dweight) }
}

/// Output positions per clip of the untrimmed geometry.
@inline(__always) private func s0(_ g: Conv3dGeometry) -> Int { g.to * g.ho * g.wo }

/// How one call runs: the trimmed shape, the path, the clips of each worker, and the column tiles.
struct Conv3dPlan {
    enum Path { case shifted, im2col }

    let g: Conv3dGeometry
    /// The trimmed shape; nil when every tap reads only padding.
    let shape: Conv3dShape?
    /// First live tap along T, H, W.
    let offT, offH, offW: Int
    let trimmed: Bool
    let path: Path
    /// Clip ranges of the workers: one range (sgemm multithreaded, memory passes parallel inside) or one per
    /// core (each worker runs whole clips with single-threaded sgemm).
    let workerClips: [Range<Int>]
    let tuning: Conv3dTuning

    init(_ g: Conv3dGeometry, _ tuning: Conv3dTuning) {
        self.g = g
        self.tuning = tuning
        let (to, ho, wo) = (g.to, g.ho, g.wo)
        let lt = Self.liveTaps(g.t, g.kt, g.st, g.pt, to)
        let lh = Self.liveTaps(g.h, g.kh, g.sh, g.ph, ho)
        let lw = Self.liveTaps(g.w, g.kw, g.sw, g.pw, wo)
        (offT, offH, offW) = (lt.lo, lh.lo, lw.lo)
        guard lt.lo < lt.hi, lh.lo < lh.hi, lw.lo < lw.hi else {
            shape = nil; trimmed = true; path = .im2col; workerClips = [0..<g.n]
            return
        }
        let s = Conv3dShape(n: g.n, cin: g.cin, t: g.t, h: g.h, w: g.w, cout: g.cout,
                            kt: lt.hi - lt.lo, kh: lh.hi - lh.lo, kw: lw.hi - lw.lo,
                            st: g.st, sh: g.sh, sw: g.sw, pt: g.pt - lt.lo, ph: g.ph - lh.lo, pw: g.pw - lw.lo,
                            to: to, ho: ho, wo: wo)
        shape = s
        trimmed = s.kt != g.kt || s.kh != g.kh || s.kw != g.kw
        let shiftable = s.kh == 1 && s.kw == 1 && s.st == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0
        path = shiftable && s.l >= tuning.shiftedMinCols ? .shifted : .im2col
        let workers = min(tuning.workers, s.n)
        if workers > 1 && (s.n % workers == 0 || s.n >= tuning.clipParallelMinClips) {
            workerClips = (0..<workers).map { w in s.n * w / workers ..< s.n * (w + 1) / workers }
        } else {
            workerClips = [0..<s.n]
        }
    }

    /// Runs body(worker, clips, parallelMinWork) for every worker, concurrently when there are several.
    func runWorkers(_ body: (Int, Range<Int>, Int) -> Void) {
        if workerClips.count == 1 {
            body(0, workerClips[0], tuning.parallelMinWork)
            return
        }
        BLASThreads.singleThreaded {
            parallelFor(workerClips.count, work: .max, minWork: 0, workers: workerClips.count) { range in
                for w in range { body(w, workerClips[w], .max) }
            }
        }
    }

    /// Column tiles covering `clips`: several whole clips per GEMM while a clip is small, else output-frame
    /// ranges of one clip so that a tile stays under the cap.
    func tiles(_ clips: Range<Int>) -> [Conv3dTile] {
        guard let s = shape else { return [] }
        let (l, to) = (s.l, s.to)
        let maxCols = max(s.ohw, tuning.maxTileFloats / max(s.k, s.cout))
        var tiles: [Conv3dTile] = []
        if l <= maxCols {
            var group = min(clips.count, max(1, maxCols / l), max(1, (tuning.groupMinCols + l - 1) / l))
            let groups = (clips.count + group - 1) / group
            group = (clips.count + groups - 1) / groups
            for n0 in stride(from: clips.lowerBound, to: clips.upperBound, by: group) {
                tiles.append(Conv3dTile(clip: n0, clips: min(group, clips.upperBound - n0), frame: 0, frames: to))
            }
        } else {
            var frames = max(1, maxCols / s.ohw)
            let parts = (to + frames - 1) / frames
            frames = (to + parts - 1) / parts
            for n in clips {
                for f0 in stride(from: 0, to: to, by: frames) {
                    tiles.append(Conv3dTile(clip: n, clips: 1, frame: f0, frames: min(frames, to - f0)))
                }
            }
        }
        return tiles
    }

    /// Taps [lo, hi) along one axis that read a real input element for some output.
    static func liveTaps(_ i: Int, _ k: Int, _ s: Int, _ p: Int, _ o: Int) -> (lo: Int, hi: Int) {
        var lo = k, hi = 0
        for d in 0..<k {
            let (a, b) = Conv3dShape.validRange(d, s, p, i, o)
            if a < b { lo = min(lo, d); hi = max(hi, d + 1) }
        }
        return (lo, hi)
    }

    /// The weight restricted to live taps (Cout x Cin x kT' x kH' x kW'), or nil when nothing was trimmed.
    func packedWeight(_ weight: UnsafePointer<Scalar>) -> UnsafeMutablePointer<Scalar>? {
        guard trimmed, let s = shape else { return nil }
        let p = UnsafeMutablePointer<Scalar>.allocate(capacity: s.cout * s.k)
        var i = 0
        forEachLiveTap(s) { orig in p[i] = weight[orig]; i += 1 }
        return p
    }

    /// dweight[co, live tap k] += sum over workers of dwt[worker][k][co] (the transposed, trimmed gradients).
    func addWeightGrad(_ dwt: UnsafeMutablePointer<Scalar>, workers: Int, into dweight: UnsafeMutablePointer<Scalar>) {
        guard let s = shape else { return }
        let (k, cout) = (s.k, s.cout)
        for w in 1..<max(workers, 1) { Conv3dShape.add(dwt + w * k * cout, into: dwt, k * cout) }
        if !trimmed {
            Conv3dMemory.transpose(dwt, rows: k, cols: cout, dweight, ldd: k, accumulate: true)
            return
        }
        var i = 0
        forEachLiveTap(s) { orig in
            dweight[orig] += dwt[(i % k) * cout + i / k]
            i += 1
        }
    }

    /// Calls body with the original weight index of every trimmed-layout element, in trimmed order.
    private func forEachLiveTap(_ s: Conv3dShape, _ body: (Int) -> Void) {
        for co in 0..<s.cout {
            for ci in 0..<s.cin {
                for dt in 0..<s.kt {
                    for dh in 0..<s.kh {
                        for dw in 0..<s.kw {
                            body((((co * g.cin + ci) * g.kt + dt + offT) * g.kh + dh + offH) * g.kw + dw + offW)
                        }
                    }
                }
            }
        }
    }
}

/// Scratch memory of the conv kernels, recycled through `StoragePool`: a training step asks for the same sizes
/// every time, and fresh allocations of several MB would be page-faulted in again on every call.
enum Conv3dScratch {
    /// `count` floats with unspecified values.
    static func take(_ count: Int) -> UnsafeMutablePointer<Scalar> { StoragePool.shared.take(count: Swift.max(count, 1)) }
    /// Returns what `take(count)` gave (nil: nothing).
    static func give(_ p: UnsafeMutablePointer<Scalar>?, _ count: Int) {
        if let p { StoragePool.shared.give(p, count: Swift.max(count, 1)) }
    }
}

enum Conv3dFast {
    /// Row-major C = alpha op(A) op(B) + beta C.
    @inline(__always)
    static func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                      _ a: UnsafePointer<Scalar>, _ lda: Int, _ b: UnsafePointer<Scalar>, _ ldb: Int,
                      _ beta: Scalar, _ c: UnsafeMutablePointer<Scalar>, _ ldc: Int) {
        gemm(transA, transB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
    }

    /// dbias[co] += sum over clips and positions of dout.
    static func biasBackward(_ dbias: UnsafeMutablePointer<Scalar>, _ dout: UnsafePointer<Scalar>, n: Int, cout: Int, l: Int) {
        for co in 0..<cout {
            var acc = 0.0
            for i in 0..<n { acc += Conv3dMemory.sum(dout + (i * cout + co) * l, l) }
            dbias[co] += Scalar(acc)
        }
    }

    /// Per-tap weight matrices [dt][Cout][Cin] of a (kT,1,1) weight Cout x Cin x kT; nil when kT == 1.
    static func tapMatrices(_ wk: UnsafePointer<Scalar>, _ s: Conv3dShape) -> UnsafeMutablePointer<Scalar>? {
        guard s.kt > 1 else { return nil }
        let p = UnsafeMutablePointer<Scalar>.allocate(capacity: s.kt * s.cout * s.cin)
        for co in 0..<s.cout {
            for ci in 0..<s.cin {
                for dt in 0..<s.kt { p[(dt * s.cout + co) * s.cin + ci] = wk[(co * s.cin + ci) * s.kt + dt] }
            }
        }
        return p
    }

    // MARK: shifted path (kT x 1 x 1, stride 1 along T, no spatial stride or padding)

    /// Forward over `clips` with the per-tap weights w0 ([dt][Cout][Cin]). Transposed: the taps accumulate
    /// out^T (L x Cout) = sum x_dt^T W_dt^T in a scratch, then one transpose adds the bias and writes out.
    static func forwardShifted(_ out: UnsafeMutablePointer<Scalar>, _ inp: UnsafePointer<Scalar>,
                               _ w0: UnsafePointer<Scalar>, _ bias: UnsafePointer<Scalar>?, _ s: Conv3dShape,
                               _ clips: Range<Int>, transposed: Bool) {
        let (l, hw, tw) = (s.l, s.hw, s.t * s.hw)
        let outT: UnsafeMutablePointer<Scalar>? = transposed ? Conv3dScratch.take(l * s.cout) : nil
        defer { Conv3dScratch.give(outT, l * s.cout) }
        for n in clips {
            let o = out + n * s.cout * l
            let x = inp + n * s.clipIn
            if let outT { outT.update(repeating: 0, count: l * s.cout) } else {
                Conv3dMemory.fillRows(o, rows: s.cout, cols: l, ld: l, bias)
            }
            for dt in 0..<s.kt {
                let (lo, hi) = Conv3dShape.validRange(dt, 1, s.pt, s.t, s.to)
                if lo >= hi { continue }
                let w = w0 + dt * s.cout * s.cin
                let xs = x + (lo - s.pt + dt) * hw
                if let outT {
                    sgemm(true, true, (hi - lo) * hw, s.cout, s.cin, xs, tw, w, s.cin, 1, outT + lo * hw * s.cout, s.cout)
                } else {
                    sgemm(false, false, s.cout, (hi - lo) * hw, s.cin, w, s.cin, xs, tw, 1, o + lo * hw, l)
                }
            }
            if let outT { Conv3dMemory.transpose(outT, rows: l, cols: s.cout, o, ldd: l, bias: bias) }
        }
    }

    /// Backward over `clips`: dinp += per tap, dwt (K x Cout, K = Cin*kT) += per tap. Transposed: dW uses
    /// dout^T (L x Cout), transposed once per clip.
    static func backwardShifted(_ dinp: UnsafeMutablePointer<Scalar>?, _ dwt: UnsafeMutablePointer<Scalar>?,
                                _ dout: UnsafePointer<Scalar>, _ inp: UnsafePointer<Scalar>,
                                _ w0: UnsafePointer<Scalar>, _ s: Conv3dShape, _ clips: Range<Int>, transposed: Bool) {
        let (l, hw, tw) = (s.l, s.hw, s.t * s.hw)
        let doutT: UnsafeMutablePointer<Scalar>? = transposed && dwt != nil ? Conv3dScratch.take(l * s.cout) : nil
        defer { Conv3dScratch.give(doutT, l * s.cout) }
        for n in clips {
            let dO = dout + n * s.cout * l
            let x = inp + n * s.clipIn
            if let doutT { Conv3dMemory.transpose(dO, rows: s.cout, cols: l, doutT, ldd: s.cout) }
            for dt in 0..<s.kt {
                let (lo, hi) = Conv3dShape.validRange(dt, 1, s.pt, s.t, s.to)
                if lo >= hi { continue }
                let cols = (hi - lo) * hw
                let shift = (lo - s.pt + dt) * hw
                if let dwt {
                    // Rows ci*kT + dt of dwt: stride kT*Cout.
                    if let doutT {
                        sgemm(false, false, s.cin, s.cout, cols, x + shift, tw, doutT + lo * hw * s.cout, s.cout,
                              1, dwt + dt * s.cout, s.kt * s.cout)
                    } else {
                        sgemm(false, true, s.cin, s.cout, cols, x + shift, tw, dO + lo * hw, l,
                              1, dwt + dt * s.cout, s.kt * s.cout)
                    }
                }
                if let dinp {
                    sgemm(true, false, s.cin, cols, s.cout, w0 + dt * s.cout * s.cin, s.cin, dO + lo * hw, l,
                          1, dinp + n * s.clipIn + shift, tw)
                }
            }
        }
    }

    // MARK: im2col path

    /// Scratch for the widest tile: the column matrix (K x cols) and, when clips are grouped, a Cout x cols output.
    /// Give both back with `im2colRelease`.
    static func im2colScratch(_ s: Conv3dShape, _ tiles: [Conv3dTile])
        -> (col: UnsafeMutablePointer<Scalar>, tmp: UnsafeMutablePointer<Scalar>?, cols: Int) {
        let maxCols = tiles.map { $0.clips * $0.frames * s.ohw }.max() ?? 0
        let grouped = tiles.contains { $0.clips > 1 }
        return (Conv3dScratch.take(s.k * maxCols), grouped ? Conv3dScratch.take(s.cout * maxCols) : nil, maxCols)
    }

    static func im2colRelease(_ s: Conv3dShape, _ scratch: (col: UnsafeMutablePointer<Scalar>, tmp: UnsafeMutablePointer<Scalar>?, cols: Int)) {
        Conv3dScratch.give(scratch.col, s.k * scratch.cols)
        Conv3dScratch.give(scratch.tmp, s.cout * scratch.cols)
    }

    static func forwardIm2col(_ out: UnsafeMutablePointer<Scalar>, _ inp: UnsafePointer<Scalar>,
                              _ wk: UnsafePointer<Scalar>, _ bias: UnsafePointer<Scalar>?,
                              _ s: Conv3dShape, _ tiles: [Conv3dTile], _ par: Int) {
        let scratch = im2colScratch(s, tiles)
        let (col, tmp) = (scratch.col, scratch.tmp)
        defer { im2colRelease(s, scratch) }
        let l = s.l
        for tile in tiles {
            let cols = tile.clips * tile.frames * s.ohw
            s.im2col(inp, tile, col, ldc: cols, parallelMinWork: par)
            if tile.clips == 1 {
                let c = out + tile.clip * s.cout * l + tile.frame * s.ohw
                Conv3dMemory.fillRows(c, rows: s.cout, cols: cols, ld: l, bias)
                sgemm(false, false, s.cout, cols, s.k, wk, s.k, col, cols, 1, c, l)
            } else {
                sgemm(false, false, s.cout, cols, s.k, wk, s.k, col, cols, 0, tmp!, cols)
                Conv3dMemory.unpermute(tmp!, out + tile.clip * s.cout * l, channels: s.cout, clips: tile.clips,
                                       len: l, bias: bias, parallelMinWork: par)
            }
        }
    }

    /// Backward over tiles: dwt (K x Cout) += col @ dout_tile^T; dinp += col2im(W^T @ dout_tile).
    static func backwardIm2col(_ dinp: UnsafeMutablePointer<Scalar>?, _ dwt: UnsafeMutablePointer<Scalar>?,
                               _ dout: UnsafePointer<Scalar>, _ inp: UnsafePointer<Scalar>,
                               _ wk: UnsafePointer<Scalar>, _ s: Conv3dShape, _ tiles: [Conv3dTile], _ par: Int) {
        let scratch = im2colScratch(s, tiles)
        let (col, tmp) = (scratch.col, scratch.tmp)
        defer { im2colRelease(s, scratch) }
        let l = s.l
        for tile in tiles {
            let cols = tile.clips * tile.frames * s.ohw
            // dout of the tile as a Cout x cols matrix.
            let dO: UnsafePointer<Scalar>
            let ldo: Int
            if tile.clips == 1 {
                dO = dout + tile.clip * s.cout * l + tile.frame * s.ohw
                ldo = l
            } else {
                Conv3dMemory.permute(dout + tile.clip * s.cout * l, tmp!, channels: s.cout, clips: tile.clips, len: l,
                                     parallelMinWork: par)
                dO = UnsafePointer(tmp!)
                ldo = cols
            }
            if let dwt {
                s.im2col(inp, tile, col, ldc: cols, parallelMinWork: par)
                sgemm(false, true, s.k, s.cout, cols, col, cols, dO, ldo, 1, dwt, s.cout)
            }
            if let dinp {
                sgemm(true, false, s.k, cols, s.cout, wk, s.k, dO, ldo, 0, col, cols)
                s.col2im(col, tile, dinp, ldc: cols, parallelMinWork: par)
            }
        }
    }
}
