import CFFmpeg
import LibAV

/// Encodes packed RGB24 frames into a video file: yuv420p through libswscale, H.264 (libx264) or MPEG-4
/// Part 2, muxed by libavformat into the container the file name asks for (`.mp4`, `.mkv`, ...).
///
/// ```swift
/// let writer = try VideoWriter(path: "clip.mp4", width: 64, height: 64, fps: 24)
/// for frame in frames { try writer.write(rgb: frame) }
/// try writer.finish()
/// ```
/// Call `finish()` to flush the encoder and write the trailer; a writer released without it closes the file
/// with the packets muxed so far (frames still inside the encoder are lost). Not thread-safe: use one writer
/// from one thread at a time.
public final class VideoWriter {
    /// Which encoder to use.
    public enum Codec: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// H.264 via libx264 when this libavcodec has it, else MPEG-4 Part 2.
        case automatic = "auto"
        /// H.264 via libx264 (`.encoderUnavailable` without it).
        case h264
        /// MPEG-4 Part 2, libavcodec's own encoder (always built in).
        case mpeg4

        public var description: String { rawValue }
    }

    /// Encoder settings.
    public struct Options: Sendable, Hashable {
        /// Which encoder to use.
        public var codec: Codec
        /// libx264 CRF (0 lossless ... 51); nil: 18.
        public var crf: Int?
        /// MPEG-4 Part 2 qscale (1 best ... 31); nil: 3.
        public var qscale: Int?
        /// libx264 preset.
        public var preset: String
        /// Frames between key frames; nil: two seconds' worth.
        public var gopSize: Int?
        /// Encoder threads. 1 (the default) keeps output bit-identical from run to run and suits many small
        /// files written in parallel; 0 lets libav decide.
        public var threads: Int

        /// Defaults: automatic codec, CRF 18 / qscale 3, `veryfast`, 2 s GOP, one thread.
        public init(codec: Codec = .automatic, crf: Int? = nil, qscale: Int? = nil, preset: String = "veryfast",
                    gopSize: Int? = nil, threads: Int = 1)
        {
            self.codec = codec
            self.crf = crf
            self.qscale = qscale
            self.preset = preset
            self.gopSize = gopSize
            self.threads = threads
        }
    }

    /// Frame width in pixels.
    public let width: Int
    /// Frame height in pixels.
    public let height: Int
    /// Frames per second.
    public let fps: Double
    /// The file being written.
    public let path: String
    /// The codec's short name (`h264`, `mpeg4`).
    public var codecName: String { encoder.codecName }
    /// The encoder's name (`libx264`, `mpeg4`).
    public var encoderName: String { encoder.encoderName }
    /// Frames accepted so far.
    public private(set) var framesWritten = 0
    /// Whether `finish()` has completed.
    public private(set) var isFinished = false

    private let output: FormatOutput
    private let encoder: VideoEncoder
    private let converter: RGBConverter
    private let stream: UnsafeMutablePointer<AVStream>
    private let frame: Frame
    private let packet: Packet
    private var failed = false

    /// Whether this libavcodec has libx264.
    public static var h264Available: Bool { avcodec_find_encoder_by_name("libx264") != nil }

    /// The codec `.automatic` picks here: `.h264` when libx264 is present, else `.mpeg4`.
    public static var automaticCodec: Codec { h264Available ? .h264 : .mpeg4 }

    /// Creates `path` (replacing it) for `width x height` frames at `fps`. Throws `.invalidOptions` for an
    /// odd or out-of-range size, a bad rate or bad options, `.encoderUnavailable` when the codec or the
    /// container is missing, `.fileSystem` when the file cannot be created.
    public init(path: String, width: Int, height: Int, fps: Double, options: Options = Options()) throws {
        func check(_ ok: Bool, _ message: String) throws {
            if !ok { throw MediaError(.invalidOptions, message) }
        }
        try check(width >= 16 && height >= 16 && width <= 8192 && height <= 8192,
                  "video size \(width)x\(height) out of range (16 ... 8192 per side)")
        try check(width % 2 == 0 && height % 2 == 0, "video size \(width)x\(height) must be even (yuv420p)")
        try check(fps.isFinite && fps > 0 && fps <= 1000, "fps must be in (0, 1000], got \(fps)")
        try check(options.threads >= 0 && options.threads <= 64, "threads must be in 0 ... 64, got \(options.threads)")
        if let crf = options.crf { try check((0...51).contains(crf), "crf must be in 0 ... 51, got \(crf)") }
        if let q = options.qscale { try check((1...31).contains(q), "qscale must be in 1 ... 31, got \(q)") }
        if let g = options.gopSize { try check(g >= 1, "gopSize must be at least 1, got \(g)") }
        let codec = try Self.findEncoder(options.codec)
        self.width = width
        self.height = height
        self.fps = fps
        self.path = path
        // MPEG-4 Part 2 needs a time base denominator below 2^16.
        let rate = av_d2q(fps, 65535)
        try check(rate.num > 0 && rate.den > 0, "fps \(fps) has no rational form")
        output = try FormatOutput(path: path)
        let isH264 = String(cString: codec.pointee.name) == "libx264"
        encoder = try VideoEncoder(codec: codec, settings: .init(
            width: width, height: height, frameRate: rate,
            gopSize: options.gopSize ?? max(1, Int((2 * fps).rounded())),
            quality: isH264 ? (options.crf ?? 18) : (options.qscale ?? 3),
            preset: options.preset, threads: options.threads, globalHeader: output.wantsGlobalHeader))
        stream = try output.addStream()
        stream.pointee.time_base = encoder.context.pointee.time_base
        stream.pointee.avg_frame_rate = rate
        let rc = avcodec_parameters_from_context(stream.pointee.codecpar, encoder.context)
        if rc < 0 { throw MediaError.libav("avcodec_parameters_from_context", rc) }
        converter = try RGBConverter(width: width, height: height)
        frame = try Frame()
        frame.pointer.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        frame.pointer.pointee.width = Int32(width)
        frame.pointer.pointee.height = Int32(height)
        frame.pointer.pointee.color_range = AVCOL_RANGE_MPEG
        frame.pointer.pointee.colorspace = AVCOL_SPC_SMPTE170M
        let allocated = av_frame_get_buffer(frame.pointer, 0)
        if allocated < 0 { throw MediaError.libav("av_frame_get_buffer", allocated) }
        packet = try Packet()
        try output.writeHeader()
    }

    /// The encoder for `codec`.
    package static func findEncoder(_ codec: Codec) throws -> UnsafePointer<AVCodec> {
        switch codec {
        case .automatic:
            if let c = avcodec_find_encoder_by_name("libx264") { return c }
            return try findEncoder(.mpeg4)
        case .h264:
            guard let c = avcodec_find_encoder_by_name("libx264") else {
                throw MediaError(.encoderUnavailable, "this libavcodec has no libx264 encoder; use mpeg4")
            }
            return c
        case .mpeg4:
            guard let c = avcodec_find_encoder_by_name("mpeg4") ?? avcodec_find_encoder(AV_CODEC_ID_MPEG4) else {
                throw MediaError(.encoderUnavailable, "this libavcodec has no MPEG-4 Part 2 encoder")
            }
            return c
        }
    }

    /// Encodes one frame of packed RGB24 pixels, rows `width * 3` bytes apart (`width * height * 3` bytes).
    public func write(rgb pixels: UnsafeBufferPointer<UInt8>) throws {
        try checkWritable()
        guard pixels.count == width * height * 3, let base = pixels.baseAddress else {
            throw MediaError(.shapeMismatch,
                             "frame has \(pixels.count) bytes, expected \(width * height * 3) (\(width)x\(height) RGB24)")
        }
        try run {
            let rc = av_frame_make_writable(frame.pointer)
            if rc < 0 { throw MediaError.libav("av_frame_make_writable", rc) }
            try converter.convert(base, into: frame)
            frame.pointer.pointee.pts = Int64(framesWritten)
            try encoder.send(frame)
            framesWritten += 1
            try drain()
        }
    }

    /// Encodes one frame of packed RGB24 pixels (`width * height * 3` bytes, row-major).
    public func write(rgb pixels: [UInt8]) throws {
        try pixels.withUnsafeBufferPointer { try write(rgb: $0) }
    }

    /// Encodes one frame of packed RGB24 pixels (`width * height * 3` bytes, row-major).
    public func write(rgb pixels: ArraySlice<UInt8>) throws {
        try pixels.withUnsafeBufferPointer { try write(rgb: $0) }
    }

    /// Flushes the encoder, writes the trailer and closes nothing else: the file is complete afterwards.
    /// Throws `.invalidOptions` when no frame was written.
    public func finish() throws {
        try checkWritable()
        guard framesWritten > 0 else {
            failed = true
            throw MediaError(.invalidOptions, "no frames were written to '\(path)'")
        }
        try run {
            try encoder.send(nil)
            try drain()
            try output.writeTrailer()
        }
        isFinished = true
    }

    private func checkWritable() throws {
        if isFinished { throw MediaError(.invalidOptions, "'\(path)' is already finished") }
        if failed { throw MediaError(.invalidOptions, "'\(path)': an earlier write failed") }
    }

    /// Runs `body`, marking the writer failed when it throws.
    private func run(_ body: () throws -> Void) throws {
        do { try body() } catch {
            failed = true
            throw error
        }
    }

    /// Moves every packet the encoder has ready into the muxer.
    private func drain() throws {
        while try encoder.receive(into: packet) {
            av_packet_rescale_ts(packet.pointer, encoder.context.pointee.time_base, stream.pointee.time_base)
            packet.pointer.pointee.stream_index = stream.pointee.index
            try output.write(packet)
        }
    }
}
