import CFFmpeg

/// An owned, opened video encoder `AVCodecContext` (yuv420p), freed in deinit.
package final class VideoEncoder {
    package let context: UnsafeMutablePointer<AVCodecContext>
    /// The encoder's name (`libx264`, `mpeg4`).
    package let encoderName: String
    /// The codec's short name (`h264`, `mpeg4`).
    package let codecName: String

    /// What to open.
    package struct Settings {
        package var width: Int
        package var height: Int
        /// Frames per second as a rational; the time base is its inverse (one tick per frame).
        package var frameRate: AVRational
        package var gopSize: Int
        /// CRF for libx264, qscale (1 best ... 31) for MPEG-4 Part 2.
        package var quality: Int
        /// Encoder preset for libx264 (ignored by other encoders).
        package var preset: String
        package var threads: Int
        package var globalHeader: Bool

        package init(width: Int, height: Int, frameRate: AVRational, gopSize: Int, quality: Int, preset: String,
                     threads: Int, globalHeader: Bool) {
            self.width = width; self.height = height; self.frameRate = frameRate; self.gopSize = gopSize
            self.quality = quality; self.preset = preset; self.threads = threads; self.globalHeader = globalHeader
        }
    }

    /// Opens `codec` with `settings`.
    package init(codec: UnsafePointer<AVCodec>, settings: Settings) throws {
        encoderName = String(cString: codec.pointee.name)
        codecName = String(cString: avcodec_get_name(codec.pointee.id))
        guard let ctx = avcodec_alloc_context3(codec) else {
            throw MediaError(.libav, "avcodec_alloc_context3 returned NULL")
        }
        context = ctx
        ctx.pointee.width = Int32(settings.width)
        ctx.pointee.height = Int32(settings.height)
        ctx.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        ctx.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
        ctx.pointee.framerate = settings.frameRate
        ctx.pointee.time_base = av_inv_q(settings.frameRate)
        ctx.pointee.gop_size = Int32(settings.gopSize)
        ctx.pointee.thread_count = Int32(max(0, settings.threads))
        // What the RGB converter produces: BT.601 matrix, limited range.
        ctx.pointee.colorspace = AVCOL_SPC_SMPTE170M
        ctx.pointee.color_range = AVCOL_RANGE_MPEG
        ctx.pointee.flags |= cffmpeg_codec_flag_bitexact()
        if settings.globalHeader { ctx.pointee.flags |= cffmpeg_codec_flag_global_header() }
        var options: [String: String] = [:]
        if encoderName == "libx264" {
            options["preset"] = settings.preset
            options["crf"] = String(settings.quality)
            // Macroblock-tree rate control makes libx264 (core 164) output differ from one encode of the
            // same frames to the next inside one process (measured: 18 of 144 64x64 clips); without it
            // files reproduce byte for byte. It costs a few percent of bitrate at equal quality.
            options["mbtree"] = "0"
        } else {
            ctx.pointee.flags |= cffmpeg_codec_flag_qscale()
            ctx.pointee.global_quality = Int32(settings.quality) * cffmpeg_qp2lambda()
            ctx.pointee.max_b_frames = 0
        }
        let dictionary = try OptionDictionary(options)
        let rc = avcodec_open2(ctx, codec, &dictionary.pointer)
        if rc < 0 {
            throw MediaError(.encoderUnavailable,
                             "cannot open encoder \(encoderName) for \(settings.width)x\(settings.height)", averror: rc)
        }
        if let unused = dictionary.entries.keys.sorted().first {
            throw MediaError(.invalidOptions, "encoder \(encoderName) does not know option '\(unused)'")
        }
    }

    deinit {
        var p: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&p)
    }

    /// Sends one frame (nil: start draining). Call `receive` until it returns false after every send.
    package func send(_ frame: Frame?) throws {
        let rc = avcodec_send_frame(context, frame?.pointer)
        if rc < 0 { throw MediaError.libav("avcodec_send_frame", rc) }
    }

    /// Receives one encoded packet into `packet`; false when the encoder needs input or has ended.
    package func receive(into packet: Packet) throws -> Bool {
        let rc = avcodec_receive_packet(context, packet.pointer)
        if rc >= 0 { return true }
        if rc == cffmpeg_averror_eagain() || rc == cffmpeg_averror_eof() { return false }
        throw MediaError.libav("avcodec_receive_packet", rc)
    }
}
