import Foundation
import Media
import LibAV

/// Pictures for the dashboard: frames back from the network's normalisation, thumbnails, and attention maps
/// colour-mapped and laid over a frame. Pure functions of stored data; run on the reader's thread.
enum AttentionRenderer {
    /// `v` rounded to the nearest byte, clamped to 0...255 (NaN gives 0). Not `rounded()`, which is a libm call.
    @inline(__always) static func byte(_ v: Float) -> UInt8 {
        guard v > 0 else { return 0 }
        return v >= 255 ? 255 : UInt8(v + 0.5)
    }

    /// Frame `index` of a clip (`3 x frames x height x width` normalised floats) as RGB, undoing
    /// `Normalization` (`value · std + mean`, times 255, rounded and clamped).
    static func frame(_ data: [Float], frames: Int, height: Int, width: Int, index: Int) -> RGBImage {
        var image = RGBImage(width: width, height: height)
        let hw = height * width
        data.withUnsafeBufferPointer { src in
            image.pixels.withUnsafeMutableBufferPointer { dst in
                for c in 0..<3 {
                    let plane = src.baseAddress! + (c * frames + index) * hw
                    let scale = Normalization.std[c] * 255, offset = Normalization.mean[c] * 255
                    for p in 0..<hw {
                        dst[p * 3 + c] = byte(plane[p] * scale + offset)
                    }
                }
            }
        }
        return image
    }

    /// `image` shrunk so its longer side is `size` (box filter: each output pixel averages the input area it
    /// covers, with fractional edge weights; separable, rows then columns); returned unchanged when already that
    /// small.
    static func thumbnail(_ image: RGBImage, size: Int) -> RGBImage {
        let longer = Swift.max(image.width, image.height)
        guard longer > size else { return image }
        let w = Swift.max(1, (image.width * size + longer / 2) / longer), h = Swift.max(1, (image.height * size + longer / 2) / longer)
        let (cols, rows) = (boxTaps(from: image.width, to: w), boxTaps(from: image.height, to: h))
        // Horizontal pass: image.height x w x 3.
        var mid = [Float](repeating: 0, count: image.height * w * 3)
        image.pixels.withUnsafeBufferPointer { src in
            for y in 0..<image.height {
                for x in 0..<w {
                    var r: Float = 0, g: Float = 0, b: Float = 0
                    for (i, wt) in cols[x] {
                        let p = (y * image.width + i) * 3
                        r += wt * Float(src[p]); g += wt * Float(src[p + 1]); b += wt * Float(src[p + 2])
                    }
                    let o = (y * w + x) * 3
                    mid[o] = r; mid[o + 1] = g; mid[o + 2] = b
                }
            }
        }
        // Vertical pass: h x w x 3.
        var out = RGBImage(width: w, height: h)
        out.pixels.withUnsafeMutableBufferPointer { dst in
            for y in 0..<h {
                for x in 0..<(w * 3) {
                    var v: Float = 0
                    for (i, wt) in rows[y] { v += wt * mid[i * w * 3 + x] }
                    dst[y * w * 3 + x] = byte(v)
                }
            }
        }
        return out
    }

    /// For each of `m` outputs, the inputs `0..<n` its box `[o·n/m, (o+1)·n/m)` overlaps, with normalised weights.
    static func boxTaps(from n: Int, to m: Int) -> [[(Int, Float)]] {
        let scale = Double(n) / Double(m)
        return (0..<m).map { o in
            let a = Double(o) * scale, b = Double(o + 1) * scale
            var taps: [(Int, Float)] = []
            var i = Int(a.rounded(.down))
            while Double(i) < b && i < n {
                let overlap = Swift.min(b, Double(i + 1)) - Swift.max(a, Double(i))
                if overlap > 0 { taps.append((i, Float(overlap / scale))) }
                i += 1
            }
            return taps
        }
    }

    /// Bilinear resampling of a `height x width` single-channel map to `outHeight x outWidth` (pixel centres
    /// aligned, as PyTorch's `interpolate(..., align_corners=False)`; edges clamp).
    static func bilinear(_ map: [Double], height: Int, width: Int, outHeight: Int, outWidth: Int) -> [Double] {
        func taps(_ o: Int, _ n: Int, _ outN: Int) -> (Int, Int, Double) {
            let s = Swift.min(Swift.max((Double(o) + 0.5) * Double(n) / Double(outN) - 0.5, 0), Double(n - 1))
            let i0 = Int(s.rounded(.down)), i1 = Swift.min(i0 + 1, n - 1)
            return (i0, i1, s - Double(i0))
        }
        let xs = (0..<outWidth).map { taps($0, width, outWidth) }
        var out = [Double](repeating: 0, count: outHeight * outWidth)
        for y in 0..<outHeight {
            let (y0, y1, fy) = taps(y, height, outHeight)
            for x in 0..<outWidth {
                let (x0, x1, fx) = xs[x]
                let top = map[y0 * width + x0] * (1 - fx) + map[y0 * width + x1] * fx
                let bottom = map[y1 * width + x0] * (1 - fx) + map[y1 * width + x1] * fx
                out[y * outWidth + x] = top * (1 - fy) + bottom * fy
            }
        }
        return out
    }

    /// `image` resampled bilinearly to `width x height`.
    static func resized(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        guard width != image.width || height != image.height else { return image }
        var out = RGBImage(width: width, height: height)
        for c in 0..<3 {
            let plane = (0..<(image.width * image.height)).map { Double(image.pixels[$0 * 3 + c]) }
            let r = bilinear(plane, height: image.height, width: image.width, outHeight: height, outWidth: width)
            for p in 0..<r.count { out.pixels[p * 3 + c] = byte(Float(r[p])) }
        }
        return out
    }

    /// An approximation of matplotlib's perceptually uniform `inferno` map (black → purple → orange → pale
    /// yellow) at `t` in 0...1: Matt Zucker's degree-6 polynomial fit, within about 1% of the table.
    static func inferno(_ t: Double) -> (UInt8, UInt8, UInt8) {
        let t = Swift.min(Swift.max(t.isFinite ? t : 0, 0), 1)
        let c: [(Double, Double, Double)] = [
            (0.0002189403691192265, 0.001651004631001012, -0.01948089843709184),
            (0.1065134194856116, 0.5639564367884091, 3.932712388889277),
            (11.60249308247187, -3.972853965665698, -15.9423941062914),
            (-41.70399613139459, 17.43639888205313, 44.35414519872813),
            (77.162935699427, -33.40235894210092, -81.80730925738993),
            (-71.31942824499214, 32.62606426397723, 73.20951985803202),
            (25.13112622477341, -12.24266895238567, -23.07032500287172),
        ]
        var r = 0.0, g = 0.0, b = 0.0
        for k in stride(from: 6, through: 0, by: -1) { r = r * t + c[k].0; g = g * t + c[k].1; b = b * t + c[k].2 }
        return (byte(Float(r * 255)), byte(Float(g * 255)), byte(Float(b * 255)))
    }

    /// An attention row over the `T' x H' x W'` tokens, averaged over `T'`, min-max scaled to 0...1 (a flat map
    /// gives 0.5 everywhere), as an `H' x W'` map.
    static func spatialMap(_ row: [Float], grid: (Int, Int, Int)) -> [Double] {
        let (t, h, w) = grid
        var map = [Double](repeating: 0, count: h * w)
        for k in 0..<t { for p in 0..<(h * w) { map[p] += Double(row[k * h * w + p]) } }
        let lo = map.min() ?? 0, hi = map.max() ?? 0
        guard hi - lo > 1e-12 * Swift.max(1, abs(hi)) else { return [Double](repeating: 0.5, count: h * w) }
        return map.map { ($0 - lo) / (hi - lo) }
    }

    /// `frame` scaled by `scale`, with `map` (`H' x W'`, 0...1) upsampled bilinearly to the same size,
    /// colour-mapped with `inferno` and blended over it with opacity `alpha`.
    static func overlay(frame: RGBImage, map: [Double], mapHeight: Int, mapWidth: Int, scale: Int, alpha: Double) -> RGBImage {
        let w = frame.width * scale, h = frame.height * scale
        var out = resized(frame, width: w, height: h)
        let up = bilinear(map, height: mapHeight, width: mapWidth, outHeight: h, outWidth: w)
        let lut = (0..<256).map { inferno(Double($0) / 255) }
        for p in 0..<(w * h) {
            let (r, g, b) = lut[Int(byte(Float(up[p] * 255)))]
            func mix(_ base: UInt8, _ colour: UInt8) -> UInt8 {
                byte(Float(Double(base) * (1 - alpha) + Double(colour) * alpha))
            }
            out.pixels[p * 3] = mix(out.pixels[p * 3], r)
            out.pixels[p * 3 + 1] = mix(out.pixels[p * 3 + 1], g)
            out.pixels[p * 3 + 2] = mix(out.pixels[p * 3 + 2], b)
        }
        return out
    }

    /// Images of one height side by side, `gap` dark grey columns between them.
    static func sideBySide(_ images: [RGBImage], gap: Int) -> RGBImage {
        let h = images.map(\.height).max() ?? 0
        let w = images.map(\.width).reduce(0, +) + gap * Swift.max(0, images.count - 1)
        var out = RGBImage(width: w, height: h)
        out.pixels = [UInt8](repeating: 32, count: out.pixels.count)
        var x0 = 0
        for image in images {
            for y in 0..<image.height {
                let src = y * image.width * 3, dst = (y * w + x0) * 3
                out.pixels.replaceSubrange(dst..<(dst + image.width * 3), with: image.pixels[src..<(src + image.width * 3)])
            }
            x0 += image.width + gap
        }
        return out
    }
}
