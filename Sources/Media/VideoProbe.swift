import CFFmpeg
import LibAV

/// What an input holds, read without decoding: the best video stream's size, codec, rate and orientation.
public struct VideoProbe: Sendable, Hashable {
    /// Decoded frame width (before turning upright).
    public var width: Int
    /// Decoded frame height (before turning upright).
    public var height: Int
    /// How frames must be turned to show upright.
    public var orientation: Orientation
    /// The codec's short name (`h264`, `mpeg4`, ...).
    public var codec: String
    /// The stream's average (else nominal) frame rate; 0 when unknown.
    public var frameRate: Double
    /// Container duration in seconds, when known.
    public var duration: Double?
    /// Frames in the stream, when the container says.
    public var frameCount: Int?
    /// Whether there is an audio stream next to the video.
    public var hasAudio: Bool

    /// Probes `uri` (a `SourceSpec` string: a file path, `file:`, a network URL or a device) within `timeout`
    /// seconds. Throws `.openFailed`, `.noVideoStream` or `.timedOut`.
    public static func probe(_ uri: String, libavOptions: [String: String] = [:], timeout: Double = 10) throws
        -> VideoProbe
    {
        let spec = try SourceSpec(uri)
        let url: String
        var format: String? = nil
        switch spec.kind {
        case .file(let path): url = path
        case .network(let u, _): url = u
        case .device(let f, let u):
            url = u
            format = f
        case .folder:
            throw MediaError(.invalidSource, "'\(uri)' is a folder; probe its files")
        }
        let input = try FormatInput(url: url, format: format, options: libavOptions, deadline: Deadline(),
                                    timeout: timeout)
        try input.findStreamInfo(timeout: timeout)
        let ctx = input.pointer
        let index = av_find_best_stream(ctx, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard index >= 0, let stream = ctx.pointee.streams[Int(index)] else {
            throw MediaError(.noVideoStream, "no video stream in '\(uri)'", averror: index)
        }
        let par = stream.pointee.codecpar!.pointee
        let rate = stream.pointee.avg_frame_rate.num > 0 ? stream.pointee.avg_frame_rate : stream.pointee.r_frame_rate
        var hasAudio = false
        for i in 0..<Int(ctx.pointee.nb_streams) where ctx.pointee.streams[i]!.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_AUDIO {
            hasAudio = true
        }
        let duration = ctx.pointee.duration > 0 ? Double(ctx.pointee.duration) / Double(cffmpeg_time_base()) : nil
        return VideoProbe(
            width: Int(par.width), height: Int(par.height), orientation: Orientation.of(stream: stream),
            codec: String(cString: avcodec_get_name(par.codec_id)),
            frameRate: rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0, duration: duration,
            frameCount: stream.pointee.nb_frames > 0 ? Int(stream.pointee.nb_frames) : nil, hasAudio: hasAudio)
    }
}

extension ClipOptions {
    /// The size frames of `width x height` (decoded, before turning by `orientation`) are resized to before
    /// cropping, in decoded orientation: what libswscale produces.
    public func resizedSize(width: Int, height: Int, orientation: Orientation = .upright, sampleAspect: Double = 1)
        -> (width: Int, height: Int)
    {
        let g = ClipAssembler.Geometry(sourceWidth: width, sourceHeight: height, sampleAspect: sampleAspect,
                                       orientation: orientation, options: self)
        return (g.scaledWidth, g.scaledHeight)
    }
}
