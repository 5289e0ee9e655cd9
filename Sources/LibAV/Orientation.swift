import CFFmpeg
import Foundation

/// How a decoded frame must be turned to show upright: clockwise quarter turns, then an optional
/// horizontal mirror. Read from the stream's display matrix or its `rotate` tag (as the ffmpeg CLI does).
public struct Orientation: Hashable, Sendable, CustomStringConvertible {
    /// Clockwise quarter turns, 0 to 3.
    public let quarterTurns: Int
    /// Mirror left-right after turning.
    public let mirrored: Bool

    /// The identity: frames are shown as decoded.
    public static let upright = Orientation(quarterTurns: 0)

    /// An orientation of `quarterTurns` clockwise quarter turns (any integer; taken modulo 4).
    public init(quarterTurns: Int, mirrored: Bool = false) {
        self.quarterTurns = ((quarterTurns % 4) + 4) % 4
        self.mirrored = mirrored
    }

    /// From a clockwise display angle in degrees, rounded to the nearest quarter turn.
    public init(clockwiseDegrees: Double, mirrored: Bool = false) {
        let turns = clockwiseDegrees.isFinite ? Int((clockwiseDegrees / 90).rounded()) : 0
        self.init(quarterTurns: turns, mirrored: mirrored)
    }

    /// From a 3x3 display matrix (libav's 16.16 fixed point layout). `av_display_rotation_get` gives the
    /// counter-clockwise angle; a negative determinant means the image is mirrored.
    package init(displayMatrix m: UnsafePointer<Int32>) {
        let ccw = av_display_rotation_get(m)
        let det = Double(m[0]) * Double(m[4]) - Double(m[1]) * Double(m[3])
        self.init(clockwiseDegrees: -ccw, mirrored: det < 0)
    }

    /// The orientation of `stream`: display matrix side data first, else the `rotate` metadata tag.
    package static func of(stream: UnsafeMutablePointer<AVStream>) -> Orientation {
        var size: Int = 0
        if let data = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size), size >= 36 {
            return data.withMemoryRebound(to: Int32.self, capacity: 9) { Orientation(displayMatrix: $0) }
        }
        if let entry = av_dict_get(stream.pointee.metadata, "rotate", nil, 0),
            let degrees = Double(String(cString: entry.pointee.value))
        {
            return Orientation(clockwiseDegrees: degrees)
        }
        return .upright
    }

    /// Whether width and height swap on display.
    public var swapsAxes: Bool { quarterTurns % 2 == 1 }

    /// Display size (height, width) of a `height x width` decoded image.
    public func displaySize(height: Int, width: Int) -> (height: Int, width: Int) {
        swapsAxes ? (width, height) : (height, width)
    }

    /// The decoded-image pixel (row, column) shown at display pixel (y, x), for a decoded image of
    /// `height x width`.
    @inline(__always)
    public func sourcePixel(y: Int, x: Int, height: Int, width: Int) -> (row: Int, column: Int) {
        let (dh, dw) = displaySize(height: height, width: width)
        _ = dh
        let x = mirrored ? dw - 1 - x : x
        switch quarterTurns {
        case 1: return (height - 1 - x, y)  // turned clockwise: display top-left is the source bottom-left
        case 2: return (height - 1 - y, width - 1 - x)
        case 3: return (x, width - 1 - y)  // turned counter-clockwise: display top-left is source top-right
        default: return (y, x)
        }
    }

    public var description: String {
        "rotate \(quarterTurns * 90)° cw" + (mirrored ? " + mirror" : "")
    }
}
