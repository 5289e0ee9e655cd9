// Memory-bound helpers of the fast conv3d: im2col / col2im over a tile of clips or frames, the clip permutes of
// grouped GEMMs, sums, and a two-way parallel loop.

import Dispatch
import Foundation

/// Geometry after dead taps are trimmed, with explicit output extents (which trimming must not change).
struct Conv3dShape {
    var n, cin, t, h, w: Int
    var cout, kt, kh, kw: Int
    var st, sh, sw: Int
    var pt, ph, pw: Int
    var to, ho, wo: Int

    var kvol: Int { kt * kh * kw }
    /// Rows of the column matrix, Cin*kT*kH*kW.
    var k: Int { cin * kvol }
    var hw: Int { h * w }
    var ohw: Int { ho * wo }
    /// Output positions per clip, To*Ho*Wo.
    var l: Int { to * ho * wo }
    /// Input elements per clip.
    var clipIn: Int { cin * t * h * w }
}

/// A column tile: `clips` whole clips from `clip`, or (clips == 1) output frames `frame ..< frame + frames`.
struct Conv3dTile {
    var clip, clips, frame, frames: Int
}

/// Tunables of the fast path; the defaults were measured with `concept-bench conv` (bench/RESULTS-conv.md).
/// Tests pass other values to force every path.
struct Conv3dTuning: Sendable {
    /// Below this many elements a memory-bound pass runs on one thread (one-worker plans only).
    var parallelMinWork = 1 << 15
    /// Largest column tile, in floats (16 MB; smaller, cache-sized tiles measured no faster).
    var maxTileFloats = 1 << 22
    /// Clips are grouped into one GEMM until it has at least this many columns.
    var groupMinCols = 512
    /// Shiftable convs take the shifted path when a clip has at least this many outputs (0: always; measured
    /// faster than im2col on every tiny-preset shape, down to 2x8x8 frames).
    var shiftedMinCols = 0
    /// The shifted path computes out^T and uses dout^T for dW when Cin is below this (faster sgemm shapes for
    /// few channels: layer1 (3,1,1) 36 -> 16 gains 12%; from 72 input channels on it loses 5-10%).
    var shiftedTransposedMaxCin = 64
    /// Workers for clip-parallel plans (1: always one worker with multithreaded sgemm).
    var workers = ComputeThreads.count
    /// Clip-parallel when the clips split evenly over the workers or there are at least this many.
    var clipParallelMinClips = 8

    /// The defaults, with the workers of `ComputeThreads`; each tunable can be overridden by an environment
    /// variable for tuning runs (CONV3D_PAR_MIN, CONV3D_TILE_MAX, CONV3D_GROUP_COLS, CONV3D_SHIFT_COLS,
    /// CONV3D_SHIFT_T, CONV3D_CLIPPAR_MIN), read once.
    static var standard: Conv3dTuning {
        var t = overridden
        t.workers = ComputeThreads.count
        return t
    }

    private static let overridden: Conv3dTuning = {
        var t = Conv3dTuning()
        let env = ProcessInfo.processInfo.environment
        func read(_ name: String, _ value: inout Int) { if let v = env[name].flatMap({ Int($0) }) { value = v } }
        read("CONV3D_PAR_MIN", &t.parallelMinWork)
        read("CONV3D_TILE_MAX", &t.maxTileFloats)
        read("CONV3D_GROUP_COLS", &t.groupMinCols)
        read("CONV3D_SHIFT_COLS", &t.shiftedMinCols)
        read("CONV3D_SHIFT_T", &t.shiftedTransposedMaxCin)
        read("CONV3D_CLIPPAR_MIN", &t.clipParallelMinClips)
        return t
    }()
}

extension Conv3dShape {
    /// Output index range [lo, hi) along one axis whose input index o*s - p + d lies in [0, count).
    @inline(__always)
    static func validRange(_ d: Int, _ s: Int, _ p: Int, _ count: Int, _ outCount: Int) -> (Int, Int) {
        // o*s >= p - d  and  o*s <= count - 1 + p - d
        let lo = p - d <= 0 ? 0 : (p - d + s - 1) / s
        let top = count - 1 + p - d
        let hi = top < 0 ? 0 : top / s + 1
        let l = min(lo, outCount), h = max(min(hi, outCount), l)
        return (l, h)
    }

    /// Copies the input under the taps into col (K x tileCols, row-major, row stride `ldc`):
    /// col[((ci*kT + dt)*kH + dh)*kW + dw][(j*frames + f)*Ho*Wo + oh*Wo + ow] = inp[clip+j, ci, t, h, w] or 0.
    ///
    /// Works per input line: the kW rows of one (ci, dt, dh) read the same input line, so a strided line is
    /// split once into its `sw` zero-padded phases, after which every tap is a contiguous copy.
    func im2col(_ inp: UnsafePointer<Scalar>, _ tile: Conv3dTile, _ col: UnsafeMutablePointer<Scalar>, ldc: Int,
                parallelMinWork: Int) {
        let groups = cin * kt * kh
        parallelFor(groups, work: k * ldc, minWork: parallelMinWork) { range in
            let phases = UnsafeMutablePointer<Scalar>.allocate(capacity: phaseFloats)
            defer { phases.deallocate() }
            let ranges = tapColumnRanges()
            ranges.withUnsafeBufferPointer { ranges in
                for group in range { im2colGroup(inp, tile, group, col + group * kw * ldc, ldc, phases, ranges) }
            }
        }
    }

    /// Line phases are used when a strided line feeds more taps than the stride.
    private var usesPhases: Bool { sw > 1 && kw > sw }
    /// Whole-frame runs: with stride 1 along H and W and an output as wide as the input ("same" padding along
    /// W), the valid output lines of one tap read consecutive input lines, so the tap's rows for one frame are a
    /// single contiguous run of the input frame shifted by (dh - ph)*W + (dw - pw). The columns that wrap into
    /// the neighbouring line (within pw of the edge) are the padding ones and are fixed up (zeroed) afterwards.
    private var usesFrameRuns: Bool { sh == 1 && sw == 1 && wo == w && pw < w }
    /// Length of one phase of a zero-padded input line, and the scratch for all phases.
    private var phaseLength: Int { (w + 2 * pw + sw - 1) / sw }
    /// Scratch per worker: the phases, then (stride 2) the zero-padded line they are split from, in whole
    /// 16-float blocks.
    private var phaseFloats: Int { usesPhases ? sw * phaseLength + paddedLineFloats : 1 }
    private var paddedLineFloats: Int { sw == 2 ? (phaseLength + 7) / 8 * 16 : 0 }

    /// Splits one input line into its `sw` zero-padded phases: phases[p * plen + i] = padded[i * sw + p] with
    /// padded[x] = line[x - pw] (0 outside the line). Stride 2 deinterleaves 16 floats at a time.
    @inline(__always)
    private func splitPhases(_ line: UnsafePointer<Scalar>, _ phases: UnsafeMutablePointer<Scalar>) {
        let plen = phaseLength
        if sw == 2 {
            let padded = phases + 2 * plen, n = paddedLineFloats
            Self.zeroFew(padded, pw)
            padded.advanced(by: pw).update(from: line, count: w)
            Self.zeroFew(padded + pw + w, n - pw - w)
            var i = 0
            while i + 8 <= plen {
                let v = UnsafeRawPointer(padded + 2 * i).loadUnaligned(as: SIMD16<Scalar>.self)
                UnsafeMutableRawPointer(phases + i).storeBytes(of: v.evenHalf, as: SIMD8<Scalar>.self)
                UnsafeMutableRawPointer(phases + plen + i).storeBytes(of: v.oddHalf, as: SIMD8<Scalar>.self)
                i += 8
            }
            while i < plen { phases[i] = padded[2 * i]; phases[plen + i] = padded[2 * i + 1]; i += 1 }
            return
        }
        for p in 0..<sw {
            let phase = phases + p * plen
            for i in 0..<plen {
                let x = i * sw + p - pw
                phase[i] = x >= 0 && x < w ? line[x] : 0
            }
        }
    }

    /// The adjoint of `splitPhases`: line[x] += phases[p * plen + i] for x = i * sw + p - pw inside the line.
    /// Stride 2 interleaves the two phases 16 floats at a time into the padded-line scratch first.
    @inline(__always)
    private func mergePhases(_ phases: UnsafeMutablePointer<Scalar>, into line: UnsafeMutablePointer<Scalar>) {
        let plen = phaseLength
        if sw == 2 {
            let padded = phases + 2 * plen
            var i = 0
            while i + 8 <= plen {
                var v = SIMD16<Scalar>()
                v.evenHalf = UnsafeRawPointer(phases + i).loadUnaligned(as: SIMD8<Scalar>.self)
                v.oddHalf = UnsafeRawPointer(phases + plen + i).loadUnaligned(as: SIMD8<Scalar>.self)
                UnsafeMutableRawPointer(padded + 2 * i).storeBytes(of: v, as: SIMD16<Scalar>.self)
                i += 8
            }
            while i < plen { padded[2 * i] = phases[i]; padded[2 * i + 1] = phases[plen + i]; i += 1 }
            Self.add(padded + pw, into: line, w)
            return
        }
        for p in 0..<sw {
            let phase = phases + p * plen
            for i in 0..<plen {
                let x = i * sw + p - pw
                if x >= 0 && x < w { line[x] += phase[i] }
            }
        }
    }

    /// d[ow] = l[ow * 2] for ow in lo..<hi, 8 at a time where the 16-float loads stay inside [l + 2lo, end).
    @inline(__always)
    static func gatherEven(_ l: UnsafePointer<Scalar>, _ d: UnsafeMutablePointer<Scalar>, _ lo: Int, _ hi: Int, end: UnsafePointer<Scalar>) {
        var ow = lo
        while ow + 8 <= hi && l + 2 * ow + 16 <= end {
            let v = UnsafeRawPointer(l + 2 * ow).loadUnaligned(as: SIMD16<Scalar>.self)
            UnsafeMutableRawPointer(d + ow).storeBytes(of: v.evenHalf, as: SIMD8<Scalar>.self)
            ow += 8
        }
        while ow < hi { d[ow] = l[2 * ow]; ow += 1 }
    }

    @inline(__always)
    private func im2colGroup(_ inp: UnsafePointer<Scalar>, _ tile: Conv3dTile, _ group: Int,
                             _ rows: UnsafeMutablePointer<Scalar>, _ ldc: Int, _ phases: UnsafeMutablePointer<Scalar>,
                             _ ranges: UnsafeBufferPointer<(Int, Int)>) {
        let dh = group % kh, dt = (group / kh) % kt, ci = group / (kh * kt)
        let (ohLo, ohHi) = Self.validRange(dh, sh, ph, h, ho)
        let wholeFrame = kw == 1 && sw == 1 && sh == 1 && pw == 0 && ph == 0 && wo == w && ho == h
        let plen = phaseLength
        var at = 0  // column within the tile
        for j in 0..<tile.clips {
            let src = inp + ((tile.clip + j) * cin + ci) * t * hw
            for f in 0..<tile.frames {
                let it = (tile.frame + f) * st - pt + dt
                if it < 0 || it >= t {
                    for dw in 0..<kw { (rows + dw * ldc + at).update(repeating: 0, count: ohw) }
                    at += ohw
                    continue
                }
                let frame = src + it * hw
                if wholeFrame {
                    Self.copy(frame, rows + at, ohw)
                    at += ohw
                    continue
                }
                if usesFrameRuns {
                    for dw in 0..<kw { im2colFrameRun(frame, rows + dw * ldc + at, dh: dh, dw: dw, ohLo: ohLo, ohHi: ohHi) }
                    at += ohw
                    continue
                }
                for oh in 0..<ho {
                    let dst = rows + at + oh * wo
                    if oh < ohLo || oh >= ohHi {
                        for dw in 0..<kw { (dst + dw * ldc).update(repeating: 0, count: wo) }
                        continue
                    }
                    let line = frame + (oh * sh - ph + dh) * w
                    if usesPhases {
                        splitPhases(line, phases)
                        for dw in 0..<kw {
                            Self.copy(phases + (dw % sw) * plen + dw / sw, dst + dw * ldc, wo)
                        }
                    } else {
                        for dw in 0..<kw {
                            let (lo, hi) = ranges[dw]
                            let d = dst + dw * ldc
                            let l = line - pw + dw
                            Self.zeroFew(d, lo)
                            if sw == 1 {
                                Self.copy(l + lo, d + lo, hi - lo)
                            } else if sw == 2 {
                                Self.gatherEven(l, d, lo, hi, end: line + w)
                            } else {
                                for ow in lo..<hi { d[ow] = l[ow * sw] }
                            }
                            Self.zeroFew(d + hi, wo - hi)
                        }
                    }
                }
                at += ohw
            }
        }
    }

    /// One tap row of one output frame on the frame-run path: dst[oh*Wo + ow] = frame[(oh - ph + dh)*W + ow +
    /// dw - pw], 0 where that reads padding. Output lines [ohLo, ohHi) are valid for this dh.
    @inline(__always)
    private func im2colFrameRun(_ frame: UnsafePointer<Scalar>, _ dst: UnsafeMutablePointer<Scalar>, dh: Int, dw: Int,
                                ohLo: Int, ohHi: Int) {
        let off = dw - pw
        if ohLo > 0 { dst.update(repeating: 0, count: ohLo * wo) }
        if ohHi < ho { (dst + ohHi * wo).update(repeating: 0, count: (ho - ohHi) * wo) }
        guard ohLo < ohHi else { return }
        let d = dst + ohLo * wo
        let src = frame + (ohLo - ph + dh) * w + off
        // The run, less the elements before the frame's first line or past its last (padding columns anyway).
        let lo = Swift.max(0, -off), hi = (ohHi - ohLo) * wo - Swift.max(0, off)
        if hi > lo { (d + lo).update(from: src + lo, count: hi - lo) }
        // Columns that read padding: ow < -off on the left, ow >= W - off on the right.
        let zLo = Swift.max(0, -off), zHi = Swift.min(wo, Swift.max(0, w - off))
        if zLo == 0 && zHi == wo { return }
        for line in 0..<(ohHi - ohLo) {
            let p = d + line * wo
            Self.zeroFew(p, zLo)
            Self.zeroFew(p + zHi, wo - zHi)
        }
    }

    /// The adjoint of `im2colFrameRun`: frame[(oh - ph + dh)*W + ow + dw - pw] += src[oh*Wo + ow] for the valid
    /// lines and columns. The padding columns of `src` (a scratch the caller owns) are zeroed first so that the
    /// whole run can be added at once.
    @inline(__always)
    private func col2imFrameRun(_ src: UnsafeMutablePointer<Scalar>, _ frame: UnsafeMutablePointer<Scalar>, dh: Int, dw: Int,
                                ohLo: Int, ohHi: Int) {
        guard ohLo < ohHi else { return }
        let off = dw - pw
        let s = src + ohLo * wo
        let zLo = Swift.max(0, -off), zHi = Swift.min(wo, Swift.max(0, w - off))
        if zLo != 0 || zHi != wo {
            for line in 0..<(ohHi - ohLo) {
                let p = s + line * wo
                Self.zeroFew(p, zLo)
                Self.zeroFew(p + zHi, wo - zHi)
            }
        }
        let dst = frame + (ohLo - ph + dh) * w + off
        let lo = Swift.max(0, -off), hi = (ohHi - ohLo) * wo - Swift.max(0, off)
        if hi > lo { Self.add(s + lo, into: dst + lo, hi - lo) }
    }

    /// Zeroes `count` floats; a few (the padding columns of a line) with plain stores, since a zeroing loop would
    /// otherwise become a memset call per line.
    @inline(__always)
    static func zeroFew(_ p: UnsafeMutablePointer<Scalar>, _ count: Int) {
        switch count {
        case ...0: return
        case 1: p[0] = 0
        case 2: p[0] = 0; p[1] = 0
        case 3: p[0] = 0; p[1] = 0; p[2] = 0
        case 4: p[0] = 0; p[1] = 0; p[2] = 0; p[3] = 0
        default: p.update(repeating: 0, count: count)
        }
    }

    /// A short copy, inlined, eight floats at a time (no call for runs of a few dozen floats).
    @inline(__always)
    static func copy(_ src: UnsafePointer<Scalar>, _ dst: UnsafeMutablePointer<Scalar>, _ count: Int) {
        var i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Scalar>.self)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: v, as: SIMD8<Scalar>.self)
            i += 8
        }
        while i < count { dst[i] = src[i]; i += 1 }
    }

    /// dst[i] += src[i], eight floats at a time.
    @inline(__always)
    static func add(_ src: UnsafePointer<Scalar>, into dst: UnsafeMutablePointer<Scalar>, _ count: Int) {
        var i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Scalar>.self)
                + UnsafeRawPointer(dst + i).loadUnaligned(as: SIMD8<Scalar>.self)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: v, as: SIMD8<Scalar>.self)
            i += 8
        }
        while i < count { dst[i] += src[i]; i += 1 }
    }

    /// Valid output-column ranges [lo, hi) of every tap dw (so that lines need no divisions).
    private func tapColumnRanges() -> [(Int, Int)] {
        (0..<kw).map { Self.validRange($0, sw, pw, w, wo) }
    }

    /// The adjoint of im2col: adds every col entry into the input element it was copied from (+= into dinp).
    /// Parallel over input channels, so no two workers touch the same element.
    /// `col` is scratch: the frame-run path zeroes its padding columns.
    func col2im(_ col: UnsafeMutablePointer<Scalar>, _ tile: Conv3dTile, _ dinp: UnsafeMutablePointer<Scalar>, ldc: Int,
                parallelMinWork: Int) {
        parallelFor(cin, work: k * ldc, minWork: parallelMinWork) { range in
            let phases = UnsafeMutablePointer<Scalar>.allocate(capacity: phaseFloats)
            defer { phases.deallocate() }
            let ranges = tapColumnRanges()
            ranges.withUnsafeBufferPointer { ranges in
                for ci in range {
                    for q in 0..<(kt * kh) {
                        let group = ci * kt * kh + q
                        col2imGroup(col + group * kw * ldc, tile, group, dinp, ldc, phases, ranges)
                    }
                }
            }
        }
    }

    @inline(__always)
    private func col2imGroup(_ rows: UnsafeMutablePointer<Scalar>, _ tile: Conv3dTile, _ group: Int,
                             _ dinp: UnsafeMutablePointer<Scalar>, _ ldc: Int, _ phases: UnsafeMutablePointer<Scalar>,
                             _ ranges: UnsafeBufferPointer<(Int, Int)>) {
        let dh = group % kh, dt = (group / kh) % kt, ci = group / (kh * kt)
        let (ohLo, ohHi) = Self.validRange(dh, sh, ph, h, ho)
        let plen = phaseLength
        var at = 0
        for j in 0..<tile.clips {
            let dst = dinp + ((tile.clip + j) * cin + ci) * t * hw
            for f in 0..<tile.frames {
                let it = (tile.frame + f) * st - pt + dt
                if it < 0 || it >= t {
                    at += ohw
                    continue
                }
                let frame = dst + it * hw
                if usesFrameRuns {
                    for dw in 0..<kw { col2imFrameRun(rows + dw * ldc + at, frame, dh: dh, dw: dw, ohLo: ohLo, ohHi: ohHi) }
                    at += ohw
                    continue
                }
                for oh in ohLo..<ohHi {
                    let src = rows + at + oh * wo
                    let line = frame + (oh * sh - ph + dh) * w
                    if usesPhases {
                        phases.update(repeating: 0, count: plen * sw)
                        for dw in 0..<kw {
                            Self.add(src + dw * ldc, into: phases + (dw % sw) * plen + dw / sw, wo)
                        }
                        mergePhases(phases, into: line)
                    } else {
                        for dw in 0..<kw {
                            let (lo, hi) = ranges[dw]
                            let s = src + dw * ldc
                            let l = line - pw + dw
                            if sw == 1 {
                                Self.add(s + lo, into: l + lo, hi - lo)
                            } else {
                                for ow in lo..<hi { l[ow * sw] += s[ow] }
                            }
                        }
                    }
                }
                at += ohw
            }
        }
    }
}

enum Conv3dMemory {
    /// dst[j][c][0..<len] = src[c][j*len ..< (j+1)*len] (+ bias[c]) for j < clips, c < channels:
    /// a (channels x clips*len) GEMM result to clip-major layout.
    static func unpermute(_ src: UnsafePointer<Scalar>, _ dst: UnsafeMutablePointer<Scalar>, channels: Int, clips: Int,
                          len: Int, bias: UnsafePointer<Scalar>?, parallelMinWork: Int) {
        parallelFor(channels, work: channels * clips * len, minWork: parallelMinWork) { range in
            for c in range {
                for j in 0..<clips {
                    let s = src + (c * clips + j) * len
                    let d = dst + (j * channels + c) * len
                    if let bias {
                        let b = bias[c]
                        for i in 0..<len { d[i] = s[i] + b }
                    } else {
                        d.update(from: s, count: len)
                    }
                }
            }
        }
    }

    /// dst[c][j*len ..< (j+1)*len] = src[j][c][0..<len]: clip-major to a (channels x clips*len) GEMM operand.
    static func permute(_ src: UnsafePointer<Scalar>, _ dst: UnsafeMutablePointer<Scalar>, channels: Int, clips: Int, len: Int,
                        parallelMinWork: Int) {
        parallelFor(channels, work: channels * clips * len, minWork: parallelMinWork) { range in
            for c in range {
                for j in 0..<clips {
                    (dst + (c * clips + j) * len).update(from: src + (j * channels + c) * len, count: len)
                }
            }
        }
    }

    /// dst[c * ldd + i] = src[i * cols + c] (+ bias[c]), or += when accumulating: a rows x cols matrix
    /// transposed, in 64 x 64 blocks.
    static func transpose(_ src: UnsafePointer<Scalar>, rows: Int, cols: Int, _ dst: UnsafeMutablePointer<Scalar>,
                          ldd: Int, bias: UnsafePointer<Scalar>? = nil, accumulate: Bool = false) {
        let block = 64
        for i0 in stride(from: 0, to: rows, by: block) {
            let i1 = min(i0 + block, rows)
            for c0 in stride(from: 0, to: cols, by: block) {
                let c1 = min(c0 + block, cols)
                if !accumulate {
                    transposeBlock(src, cols, dst, ldd, bias, i0, i1, c0, c1)
                    continue
                }
                for c in c0..<c1 {
                    let d = dst + c * ldd
                    for i in i0..<i1 { d[i] += src[i * cols + c] }
                }
            }
        }
    }

    /// One block of `transpose` (overwriting): dst[c * ldd + i] = src[i * cols + c] (+ bias[c]) for rows [i0, i1) and
    /// columns [c0, c1), in 4 x 4 tiles (four row loads, four shuffled column stores), the edges element by element.
    /// Tiles sweep along i for four output rows at a time, so each output row is written in one contiguous run.
    @inline(__always)
    private static func transposeBlock(_ src: UnsafePointer<Scalar>, _ cols: Int, _ dst: UnsafeMutablePointer<Scalar>, _ ldd: Int,
                                       _ bias: UnsafePointer<Scalar>?, _ i0: Int, _ i1: Int, _ c0: Int, _ c1: Int) {
        typealias V = SIMD4<Scalar>
        @inline(__always) func load(_ p: UnsafePointer<Scalar>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        @inline(__always) func store(_ v: V, _ p: UnsafeMutablePointer<Scalar>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
        let iEnd = i0 + (i1 - i0) / 4 * 4
        var c = c0
        while c + 4 <= c1 {
            let b = bias.map { load($0 + c) } ?? V()
            let (b0, b1, b2, b3) = (V(repeating: b[0]), V(repeating: b[1]), V(repeating: b[2]), V(repeating: b[3]))
            let (d0, d1, d2, d3) = (dst + c * ldd, dst + (c + 1) * ldd, dst + (c + 2) * ldd, dst + (c + 3) * ldd)
            var i = i0
            while i < iEnd {
                let r0 = load(src + i * cols + c), r1 = load(src + (i + 1) * cols + c)
                let r2 = load(src + (i + 2) * cols + c), r3 = load(src + (i + 3) * cols + c)
                store(V(r0[0], r1[0], r2[0], r3[0]) + b0, d0 + i)
                store(V(r0[1], r1[1], r2[1], r3[1]) + b1, d1 + i)
                store(V(r0[2], r1[2], r2[2], r3[2]) + b2, d2 + i)
                store(V(r0[3], r1[3], r2[3], r3[3]) + b3, d3 + i)
                i += 4
            }
            for k in 0..<4 {
                for r in iEnd..<i1 { dst[(c + k) * ldd + r] = src[r * cols + c + k] + b[k] }
            }
            c += 4
        }
        while c < c1 {
            let b = bias?[c] ?? 0
            for r in i0..<i1 { dst[c * ldd + r] = src[r * cols + c] + b }
            c += 1
        }
    }

    /// Zeroes `count` floats (split over the cores above `parallelMinWork`).
    static func zero(_ p: UnsafeMutablePointer<Scalar>, _ count: Int, parallelMinWork: Int) {
        let blocks = (count + 4095) / 4096
        parallelFor(blocks, work: count, minWork: parallelMinWork) { range in
            let lo = range.lowerBound * 4096, hi = Swift.min(count, range.upperBound * 4096)
            (p + lo).update(repeating: 0, count: hi - lo)
        }
    }

    /// Fills each of `rows` rows (stride `ld`) of `cols` floats with `value[row]` or 0.
    static func fillRows(_ dst: UnsafeMutablePointer<Scalar>, rows: Int, cols: Int, ld: Int, _ value: UnsafePointer<Scalar>?) {
        for r in 0..<rows {
            (dst + r * ld).update(repeating: value?[r] ?? 0, count: cols)
        }
    }

    /// Sum of `count` floats: eight-lane Scalar partial sums over blocks of 1024, reduced in Double.
    static func sum(_ p: UnsafePointer<Scalar>, _ count: Int) -> Double {
        var total = 0.0
        var i = 0
        while i + 8 <= count {
            var acc = SIMD8<Scalar>()
            let end = min(count - 7, i + 1024)
            while i < end {
                acc += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Scalar>.self)
                i += 8
            }
            total += Double(acc.sum())
        }
        while i < count { total += Double(p[i]); i += 1 }
        return total
    }
}
