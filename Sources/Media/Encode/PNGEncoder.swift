/// Packed 8-bit RGB pixels, row-major (`height x width x 3` bytes).
public struct RGBImage: Sendable, Hashable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// The pixels, `height * width * 3` bytes.
    public var pixels: [UInt8]

    /// A black image.
    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        pixels = [UInt8](repeating: 0, count: self.width * self.height * 3)
    }

    /// An image holding `pixels` (must be `width * height * 3` bytes).
    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0, pixels.count == width * height * 3 else {
            throw MediaError(.shapeMismatch, "an RGB image of \(width)x\(height) needs \(max(0, width * height * 3)) bytes, got \(pixels.count)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The image as PNG bytes.
    public func png() throws -> [UInt8] { try PNGEncoder.encode(rgb: pixels, width: width, height: height) }
}

/// A PNG encoder for 8-bit RGB (colour type 2, no interlace): per-row adaptive filtering (the smallest sum of
/// absolute differences of the five filters, libpng's heuristic), a zlib stream from `Deflate`, CRC-32 per chunk.
public enum PNGEncoder {
    /// The eight-byte PNG signature.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Encodes `rgb` (`height` rows of `width * 3` bytes) as a PNG file.
    public static func encode(rgb: [UInt8], width: Int, height: Int) throws -> [UInt8] {
        guard width > 0, height > 0, width <= 1 << 24, height <= 1 << 24 else {
            throw MediaError(.invalidOptions, "PNG size must be positive (and below 2^24), got \(width)x\(height)")
        }
        guard rgb.count == width * height * 3 else {
            throw MediaError(.shapeMismatch, "\(width)x\(height) RGB needs \(width * height * 3) bytes, got \(rgb.count)")
        }
        var png = signature
        var header: [UInt8] = []
        header += bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        header += [8, 2, 0, 0, 0]                                // depth 8, RGB, deflate, adaptive filters, no interlace
        appendChunk("IHDR", header, to: &png)
        appendChunk("IDAT", Deflate.zlib(filtered(rgb, width: width, height: height)), to: &png)
        appendChunk("IEND", [], to: &png)
        return png
    }

    /// The scanlines, each prefixed by the filter type that gives the smallest sum of absolute signed residuals.
    static func filtered(_ rgb: [UInt8], width: Int, height: Int) -> [UInt8] {
        let row = width * 3, bpp = 3
        var out = [UInt8](repeating: 0, count: height * (row + 1))
        var candidate = [[UInt8]](repeating: [UInt8](repeating: 0, count: row), count: 5)
        let zeros = [UInt8](repeating: 0, count: row)
        rgb.withUnsafeBufferPointer { px in
            for y in 0..<height {
                let cur = px.baseAddress! + y * row
                zeros.withUnsafeBufferPointer { z in
                    let up = y > 0 ? px.baseAddress! + (y - 1) * row : z.baseAddress!
                    for x in 0..<row {
                        let a = x >= bpp ? cur[x - bpp] : 0, b = up[x], c = x >= bpp ? up[x - bpp] : 0
                        let v = cur[x]
                        candidate[0][x] = v
                        candidate[1][x] = v &- a
                        candidate[2][x] = v &- b
                        candidate[3][x] = v &- UInt8((Int(a) + Int(b)) / 2)
                        candidate[4][x] = v &- paeth(a, b, c)
                    }
                }
                var best = 0, bestCost = Int.max
                for f in 0..<5 {
                    var cost = 0
                    for v in candidate[f] { cost += abs(Int(Int8(bitPattern: v))) }
                    if cost < bestCost { best = f; bestCost = cost }
                }
                let o = y * (row + 1)
                out[o] = UInt8(best)
                for x in 0..<row { out[o + 1 + x] = candidate[best][x] }
            }
        }
        return out
    }

    /// The Paeth predictor (PNG spec §9.4).
    @inline(__always) static func paeth(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt8 {
        let p = Int(a) + Int(b) - Int(c)
        let pa = abs(p - Int(a)), pb = abs(p - Int(b)), pc = abs(p - Int(c))
        if pa <= pb && pa <= pc { return a }
        return pb <= pc ? b : c
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
    }

    static func appendChunk(_ type: String, _ data: [UInt8], to png: inout [UInt8]) {
        let typeBytes = Array(type.utf8)
        png += bigEndian(UInt32(data.count))
        png += typeBytes
        png += data
        png += bigEndian(Deflate.crc32(data, continuing: Deflate.crc32(typeBytes)))
    }
}
