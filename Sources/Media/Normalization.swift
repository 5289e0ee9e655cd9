/// Per-channel normalisation of 8-bit RGB to the network's input (Kinetics statistics, spec "Shapes").
public enum Normalization {
    /// Channel means after scaling to [0, 1].
    public static let mean: [Float] = [0.43216, 0.394666, 0.37645]
    /// Channel standard deviations after scaling to [0, 1].
    public static let std: [Float] = [0.22803, 0.22145, 0.216989]

    /// `(value / 255 - mean[channel]) / std[channel]`.
    @inline(__always)
    public static func normalise(_ value: UInt8, channel: Int) -> Float {
        (Float(value) / 255 - mean[channel]) / std[channel]
    }

    /// The 3 x 256 lookup table of `normalise` (channel-major).
    static let table: [Float] = {
        var t = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            for v in 0..<256 { t[c * 256 + v] = normalise(UInt8(v), channel: c) }
        }
        return t
    }()
}
