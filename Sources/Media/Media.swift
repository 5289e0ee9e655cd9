import CFFmpeg

/// The media layer: libav inputs, decode, scale, clip building and views.
public enum MediaLibrary {
    /// The libavformat version string the process is linked against.
    public static var libavformatVersion: String {
        let v = avformat_version()
        return "\(v >> 16).\((v >> 8) & 0xff).\(v & 0xff)"
    }
}
