import CFFmpeg

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

/// PNG files from 8-bit RGB pixels through libavcodec's `png` encoder (colour type 2, no interlace, the
/// per-row adaptive filter choice `pred = mixed`, zlib at its default level).
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
        let encoder = try ImageEncoder(codec: AV_CODEC_ID_PNG, format: AV_PIX_FMT_RGB24, width: width, height: height,
                                       options: ["pred": "mixed"])
        let frame = try Frame()
        frame.pointer.pointee.format = AV_PIX_FMT_RGB24.rawValue
        frame.pointer.pointee.width = Int32(width)
        frame.pointer.pointee.height = Int32(height)
        let rc = av_frame_get_buffer(frame.pointer, 0)
        if rc < 0 { throw MediaError.libav("av_frame_get_buffer", rc) }
        guard let plane = frame.pointer.pointee.data.0 else { throw MediaError(.libav, "av_frame_get_buffer left no plane") }
        let stride = Int(frame.pointer.pointee.linesize.0), row = width * 3
        rgb.withUnsafeBufferPointer { px in
            for y in 0..<height { (plane + y * stride).update(from: px.baseAddress! + y * row, count: row) }
        }
        return try encoder.encode(frame)
    }
}

/// An owned, opened still-image encoder `AVCodecContext` (one frame in, one packet out), freed in deinit.
package final class ImageEncoder {
    package let context: UnsafeMutablePointer<AVCodecContext>

    /// Opens the encoder of `codec` for `width x height` frames in `format`, with encoder `options`.
    package init(codec id: AVCodecID, format: AVPixelFormat, width: Int, height: Int, options: [String: String] = [:]) throws {
        guard let codec = avcodec_find_encoder(id) else {
            throw MediaError(.encoderUnavailable, "libavcodec has no \(String(cString: avcodec_get_name(id))) encoder")
        }
        guard let ctx = avcodec_alloc_context3(codec) else { throw MediaError(.libav, "avcodec_alloc_context3 returned NULL") }
        context = ctx
        ctx.pointee.width = Int32(width)
        ctx.pointee.height = Int32(height)
        ctx.pointee.pix_fmt = format
        ctx.pointee.time_base = AVRational(num: 1, den: 1)
        ctx.pointee.flags |= cffmpeg_codec_flag_bitexact()
        let dictionary = try OptionDictionary(options)
        let rc = avcodec_open2(ctx, codec, &dictionary.pointer)
        if rc < 0 { throw MediaError(.encoderUnavailable, "cannot open the \(String(cString: codec.pointee.name)) encoder for \(width)x\(height)", averror: rc) }
        if let unused = dictionary.entries.keys.sorted().first {
            throw MediaError(.invalidOptions, "encoder \(String(cString: codec.pointee.name)) does not know option '\(unused)'")
        }
    }

    deinit {
        var p: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&p)
    }

    /// Encodes `frame` alone and returns the packet's bytes.
    package func encode(_ frame: Frame) throws -> [UInt8] {
        var rc = avcodec_send_frame(context, frame.pointer)
        if rc < 0 { throw MediaError.libav("avcodec_send_frame", rc) }
        rc = avcodec_send_frame(context, nil)
        if rc < 0 { throw MediaError.libav("avcodec_send_frame (drain)", rc) }
        let packet = try Packet()
        var bytes: [UInt8] = []
        while true {
            rc = avcodec_receive_packet(context, packet.pointer)
            if rc == cffmpeg_averror_eof() { break }
            if rc < 0 { throw MediaError.libav("avcodec_receive_packet", rc) }
            bytes += UnsafeBufferPointer(start: packet.pointer.pointee.data, count: Int(packet.pointer.pointee.size))
            packet.unref()
        }
        guard !bytes.isEmpty else { throw MediaError(.libav, "the encoder returned no packet") }
        return bytes
    }
}
