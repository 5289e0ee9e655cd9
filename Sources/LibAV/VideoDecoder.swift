import CFFmpeg

/// An owned, opened video `AVCodecContext`, freed in deinit.
package final class VideoDecoder {
    package let context: UnsafeMutablePointer<AVCodecContext>

    /// What `send` did with a packet.
    package enum SendOutcome { case accepted, full, ended, rejected(Int32) }
    /// What `receive` produced.
    package enum ReceiveOutcome { case frame, needInput, ended, failed(Int32) }

    /// Opens a decoder for `stream` with `threads` decoding threads (0: libav decides).
    package init(stream: UnsafeMutablePointer<AVStream>, threads: Int) throws {
        let parameters = stream.pointee.codecpar!
        guard let codec = avcodec_find_decoder(parameters.pointee.codec_id) else {
            let name = String(cString: avcodec_get_name(parameters.pointee.codec_id))
            throw MediaError(.decoderUnavailable, "no decoder for codec '\(name)'")
        }
        guard let ctx = avcodec_alloc_context3(codec) else {
            throw MediaError(.libav, "avcodec_alloc_context3 returned NULL")
        }
        context = ctx
        var rc = avcodec_parameters_to_context(ctx, parameters)
        if rc < 0 { throw MediaError.libav("avcodec_parameters_to_context", rc) }
        ctx.pointee.pkt_timebase = stream.pointee.time_base
        ctx.pointee.opaque = LibavLogContext.currentOpaque  // log lines of libav's decoder threads name the source
        ctx.pointee.thread_count = Int32(max(0, threads))
        ctx.pointee.thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE
        rc = avcodec_open2(ctx, codec, nil)
        if rc < 0 { throw MediaError.libav("avcodec_open2", rc, code: .decoderUnavailable) }
    }

    deinit {
        var p: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&p)
    }

    /// Sends one packet (nil: start draining).
    package func send(_ packet: Packet?) -> SendOutcome {
        let rc = avcodec_send_packet(context, packet?.pointer)
        if rc >= 0 { return .accepted }
        if rc == cffmpeg_averror_eagain() { return .full }
        if rc == cffmpeg_averror_eof() { return .ended }
        return .rejected(rc)
    }

    /// Receives one decoded frame into `frame`.
    package func receive(into frame: Frame) -> ReceiveOutcome {
        let rc = avcodec_receive_frame(context, frame.pointer)
        if rc >= 0 { return .frame }
        if rc == cffmpeg_averror_eagain() { return .needInput }
        if rc == cffmpeg_averror_eof() { return .ended }
        return .failed(rc)
    }

    /// Drops buffered frames (after a reconnect or seek).
    package func flush() { avcodec_flush_buffers(context) }
}
