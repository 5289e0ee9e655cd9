import Foundation
import Testing
@testable import Media
import LibAV
import SeededRandom

/// Decodes PNG bytes with the `ffprobe` and `ffmpeg` command-line tools: the size, and the pixels as packed RGB24.
enum PNGDecoder {
    static func run(_ tool: String, _ arguments: [String]) throws -> Data {
        let r = try TestSupport.runTool("/usr/bin/\(tool)", arguments)
        guard r.status == 0 else { throw MediaError(.invalidOptions, "\(tool) failed: \(String(decoding: r.err, as: UTF8.self))") }
        return r.out
    }

    static func decode(_ png: [UInt8]) throws -> (width: Int, height: Int, rgb: [UInt8]) {
        let path = NSTemporaryDirectory() + "conceptd-png-\(UUID().uuidString.prefix(8)).png"
        try Data(png).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let probe = try run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height,pix_fmt",
                                         "-of", "csv=p=0", path])
        let fields = String(decoding: probe, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",")
        guard fields.count == 4, fields[0] == "png", fields[3] == "rgb24", let w = Int(fields[1]), let h = Int(fields[2]) else {
            throw MediaError(.invalidOptions, "ffprobe says \(fields)")
        }
        let rgb = try run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-nostdin", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        return (w, h, Array(rgb))
    }
}

@Suite struct PNGEncoderTests {
    /// Images that exercise each part: noise (literals, every filter), gradients and stripes (long matches, far
    /// distances beyond one 32 KiB window), a flat image, odd sizes down to 1 x 1.
    static func images() -> [String: RGBImage] {
        var rng = SeededGenerator(seed: 7)
        func image(_ w: Int, _ h: Int, _ f: (Int, Int, Int) -> UInt8) -> RGBImage {
            var im = RGBImage(width: w, height: h)
            for y in 0..<h { for x in 0..<w { for c in 0..<3 { im.pixels[(y * w + x) * 3 + c] = f(x, y, c) } } }
            return im
        }
        return [
            "noise": image(37, 23) { _, _, _ in UInt8(truncatingIfNeeded: rng.next()) },
            "gradient": image(256, 97) { x, y, c in UInt8((x * (c + 1) + y * 3) & 0xFF) },
            "stripes": image(301, 211) { x, y, c in ((x / 7 + y / 5) % 3 == c) ? 250 : UInt8((x ^ y) & 0x0F) },
            "flat": image(64, 64) { _, _, c in [12, 200, 77][c] },
            "pixel": image(1, 1) { _, _, c in [255, 0, 128][c] },
            "column": image(1, 50) { _, y, c in UInt8((y * 5 + c) & 0xFF) },
        ]
    }

    @Test(arguments: ["noise", "gradient", "stripes", "flat", "pixel", "column"])
    func roundTripIsExact(_ name: String) throws {
        let image = try #require(Self.images()[name])
        let png = try image.png()
        #expect(Array(png.prefix(8)) == PNGEncoder.signature)
        let decoded = try PNGDecoder.decode(png)
        #expect(decoded.width == image.width && decoded.height == image.height, "\(name)")
        #expect(decoded.rgb == image.pixels, "\(name): pixels differ after decoding")
    }

    @Test func repetitiveImagesCompress() throws {
        let stripes = try #require(Self.images()["stripes"])
        let png = try stripes.png()
        #expect(png.count * 4 < stripes.pixels.count, "\(png.count) bytes for \(stripes.pixels.count) raw")
        // Incompressible data costs at most ~1/8 more than raw (9-bit literals) plus the headers.
        let noise = try #require(Self.images()["noise"])
        #expect(try noise.png().count < noise.pixels.count * 9 / 8 + noise.height + 64)
    }

    @Test func badInputIsAnError() {
        #expect(throws: MediaError.self) { try PNGEncoder.encode(rgb: [1, 2, 3], width: 2, height: 1) }
        #expect(throws: MediaError.self) { try PNGEncoder.encode(rgb: [], width: 0, height: 0) }
        #expect(throws: MediaError.self) { try RGBImage(width: 2, height: 2, pixels: [0]) }
    }
}
