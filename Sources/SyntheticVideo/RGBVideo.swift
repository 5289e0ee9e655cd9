/// Frames of packed RGB24 pixels, frame-major then row-major (`frameCount x height x width x 3` bytes).
import LibAV
public struct RGBVideo: Sendable, Hashable {
    /// Frame width in pixels.
    public let width: Int
    /// Frame height in pixels.
    public let height: Int
    /// Number of frames.
    public let frameCount: Int
    /// The pixels.
    public var pixels: [UInt8]

    /// A video of `frameCount` black frames.
    public init(width: Int, height: Int, frameCount: Int) {
        self.width = width
        self.height = height
        self.frameCount = frameCount
        pixels = [UInt8](repeating: 0, count: width * height * 3 * frameCount)
    }

    /// Bytes per frame.
    public var frameBytes: Int { width * height * 3 }

    /// Frame `index`'s pixels.
    public func frame(_ index: Int) -> ArraySlice<UInt8> {
        pixels[(index * frameBytes)..<((index + 1) * frameBytes)]
    }
}
