import CFFmpeg

/// An opened input with its best video stream and decoder: demux, decode, timestamp. Every read runs under
/// the deadline; other streams are discarded at the demuxer.
package final class VideoInput {
    package let format: FormatInput
    package let decoder: VideoDecoder
    package let streamIndex: Int32
    package let timeBase: AVRational
    package let orientation: Orientation
    /// Seconds per frame from the stream's frame rate (used when a frame has no timestamp).
    package let nominalInterval: Double
    private let packet: Packet
    private var draining = false
    private var lastTime: Double?
    private var consecutiveFailures = 0

    /// Packets the decoder rejected, and read errors skipped (files).
    package private(set) var badPackets = 0
    /// Decoder time (send + receive) since the last `takeDecodeSeconds()`.
    private var decodeNanos: UInt64 = 0
    /// The last read error a file source tolerated as its end.
    package private(set) var readError: String?

    package var unconsumedOptions: [String: String] { format.unconsumedOptions }

    /// Opens `url` and its decoder within `openTimeout` seconds.
    package init(url: String, format formatName: String?, options: [String: String], deadline: Deadline,
         openTimeout: Double, threads: Int) throws
    {
        format = try FormatInput(url: url, format: formatName, options: options, deadline: deadline,
                                 timeout: openTimeout)
        try format.findStreamInfo(timeout: openTimeout)
        let ctx = format.pointer
        let index = av_find_best_stream(ctx, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard index >= 0, let stream = ctx.pointee.streams[Int(index)] else {
            throw MediaError(.noVideoStream, "no video stream in '\(url)'", averror: index < 0 ? index : nil)
        }
        for i in 0..<Int(ctx.pointee.nb_streams) where i != Int(index) {
            ctx.pointee.streams[i]!.pointee.discard = AVDISCARD_ALL
        }
        let parameters = stream.pointee.codecpar!
        guard parameters.pointee.width > 0, parameters.pointee.height > 0 else {
            throw MediaError(.noVideoStream, "video stream in '\(url)' has no frame size")
        }
        decoder = try VideoDecoder(stream: stream, threads: threads)
        streamIndex = index
        timeBase = stream.pointee.time_base
        orientation = Orientation.of(stream: stream)
        let rate = stream.pointee.avg_frame_rate.num > 0 ? stream.pointee.avg_frame_rate : stream.pointee.r_frame_rate
        let fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 25
        nominalInterval = fps > 0 && fps < 1000 ? 1 / fps : 1.0 / 25
        packet = try Packet()
    }

    /// Returns and clears the decoder time accumulated since the last call, in seconds.
    package func takeDecodeSeconds() -> Double {
        defer { decodeNanos = 0 }
        return Double(decodeNanos) / 1e9
    }

    /// Decodes the next frame into `frame` and returns its time in seconds, or nil at end of stream.
    /// `readTimeout` bounds each packet read; `stallAfter` bounds the whole call (packets that decode to no
    /// frame for that long throw `.stalled`). With `tolerateReadErrors` (files) a read error ends the
    /// stream (counted as a bad packet); otherwise it is thrown.
    package func nextFrame(into frame: Frame, readTimeout: Double, stallAfter: Double, tolerateReadErrors: Bool) throws
        -> Double?
    {
        let start = monotonicSeconds()
        while true {
            let t0 = monotonicNanos()
            let outcome = decoder.receive(into: frame)
            decodeNanos &+= monotonicNanos() &- t0
            switch outcome {
            case .frame:
                consecutiveFailures = 0
                return timestamp(of: frame)
            case .ended:
                return nil
            case .failed(let rc):
                badPackets += 1
                consecutiveFailures += 1
                if consecutiveFailures > 1000 { throw MediaError.libav("avcodec_receive_frame", rc) }
                continue
            case .needInput:
                if draining { return nil }
            }
            if monotonicSeconds() - start > stallAfter {
                throw MediaError(.stalled, "no video frame for \(stallAfter) s")
            }
            let got: Bool
            do {
                got = try format.read(into: packet, timeout: readTimeout)
            } catch let error as MediaError where tolerateReadErrors && error.code == .libav {
                badPackets += 1
                readError = error.description
                got = false
            }
            if !got {
                draining = true
                _ = decoder.send(nil)
                continue
            }
            guard packet.streamIndex == streamIndex else { continue }
            let t1 = monotonicNanos()
            let sent = decoder.send(packet)
            decodeNanos &+= monotonicNanos() &- t1
            packet.unref()
            switch sent {
            case .accepted, .ended: break
            case .full, .rejected:
                badPackets += 1
            }
        }
    }

    private func timestamp(of frame: Frame) -> Double {
        let nopts = cffmpeg_nopts_value()
        var pts = frame.pointer.pointee.best_effort_timestamp
        if pts == nopts { pts = frame.pointer.pointee.pts }
        let time: Double
        if pts != nopts && timeBase.den > 0 {
            time = Double(pts) * av_q2d(timeBase)
        } else {
            time = (lastTime ?? -nominalInterval) + nominalInterval
        }
        lastTime = time
        return time
    }
}
