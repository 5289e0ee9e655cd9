/// How frames are cut into clips: length, size, sampling rate, stride and training augmentations.
import LibAV
public struct ClipOptions: Sendable, Hashable, Codable {
    /// How the `height x width` window is placed in the resized frame.
    public enum Crop: String, Sendable, Hashable, Codable {
        /// The middle of the frame.
        case center
        /// Uniformly random, drawn once per clip (all frames of a clip share it).
        case random
    }

    /// Frames per clip, `T + 1` (the learner's views use `T` of them).
    public var frames: Int
    /// Output height in pixels.
    public var height: Int
    /// Output width in pixels.
    public var width: Int
    /// The resized frame's short side before cropping (at least `max(height, width)` in effect).
    public var shortSide: Int
    /// Target sampling rate in frames per second (frames are dropped or repeated by timestamp).
    public var fps: Double
    /// Sampled frames between the starts of consecutive clips (`frames`: no overlap).
    public var stride: Int
    /// Crop placement.
    public var crop: Crop
    /// Mirror a clip left-right with probability 1/2 (training augmentation).
    public var randomFlip: Bool
    /// Seed of the per-source generator for crops, flips and static indices (runs reproduce).
    public var seed: UInt64
    /// A finite input shorter than one clip yields one clip padded with its last frame.
    public var padShortInputs: Bool
    /// A timestamp step forward larger than this many seconds is a jump (no clip spans it).
    public var maxTimestampGap: Double

    /// Defaults follow the paper: 16 + 1 frames of 112 x 112 from a 128-pixel short side, 16 fps.
    public init(
        frames: Int = 17, height: Int = 112, width: Int = 112, shortSide: Int? = nil, fps: Double = 16,
        stride: Int? = nil, crop: Crop = .center, randomFlip: Bool = false, seed: UInt64 = 0,
        padShortInputs: Bool = true, maxTimestampGap: Double = 3
    ) {
        self.frames = frames
        self.height = height
        self.width = width
        self.shortSide = shortSide ?? max(height, width)
        self.fps = fps
        self.stride = stride ?? frames
        self.crop = crop
        self.randomFlip = randomFlip
        self.seed = seed
        self.padShortInputs = padShortInputs
        self.maxTimestampGap = maxTimestampGap
    }

    /// Throws `.invalidOptions` when a value is out of range.
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws {
            if !ok { throw MediaError(.invalidOptions, message) }
        }
        try check(frames >= 2, "clip frames must be at least 2 (T + 1 with T >= 1), got \(frames)")
        try check(height >= 1 && width >= 1 && height <= 8192 && width <= 8192, "clip size \(height)x\(width) out of range")
        try check(shortSide >= 1 && shortSide <= 8192, "short side \(shortSide) out of range")
        try check(fps.isFinite && fps > 0 && fps <= 1000, "fps must be in (0, 1000], got \(fps)")
        try check(stride >= 1, "stride must be at least 1, got \(stride)")
        try check(maxTimestampGap.isFinite && maxTimestampGap > 0, "maxTimestampGap must be positive")
    }
}

/// One clip: `T + 1` normalised RGB frames, row-major `3 x (T+1) x H x W`, with its static index.
public struct Clip: Sendable {
    /// Name of the source that produced the clip.
    public var source: String
    /// Clip number within the source (0, 1, ...).
    public var sequence: Int
    /// Normalised pixels, `3 x frames x height x width`.
    public var data: [Float]
    /// `T + 1`.
    public let frames: Int
    /// Frame height.
    public let height: Int
    /// Frame width.
    public let width: Int
    /// The frame repeated for the static view, uniform in `0 ..< T`.
    public var staticIndex: Int
    /// Stream time of the first frame, in seconds.
    public var startTime: Double
    /// Whether the clip was padded by repeating its last frame (a short input).
    public var padded: Bool

    /// A clip over `data` (`3 * frames * height * width` floats).
    public init(
        source: String, sequence: Int, data: [Float], frames: Int, height: Int, width: Int, staticIndex: Int,
        startTime: Double = 0, padded: Bool = false
    ) throws {
        guard frames >= 2, height > 0, width > 0, data.count == 3 * frames * height * width else {
            throw MediaError(.shapeMismatch, "clip data has \(data.count) floats, expected 3 x \(frames) x \(height) x \(width)")
        }
        guard staticIndex >= 0 && staticIndex < frames - 1 else {
            throw MediaError(.shapeMismatch, "static index \(staticIndex) not in 0..<\(frames - 1)")
        }
        self.source = source
        self.sequence = sequence
        self.data = data
        self.frames = frames
        self.height = height
        self.width = width
        self.staticIndex = staticIndex
        self.startTime = startTime
        self.padded = padded
    }

    /// `[3, T+1, H, W]`.
    public var shape: [Int] { [3, frames, height, width] }
}

/// `N` clips of one shape stacked: row-major `N x 3 x (T+1) x H x W`, with their static indices.
public struct ClipBatch: Sendable {
    /// Pixels, `count x 3 x frames x height x width`.
    public var data: [Float]
    /// Clips, `N`.
    public let count: Int
    /// `T + 1`.
    public let frames: Int
    /// Frame height.
    public let height: Int
    /// Frame width.
    public let width: Int
    /// Per clip, uniform in `0 ..< T`.
    public var staticIndices: [Int]
    /// Per clip, the producing source.
    public var sources: [String]

    /// Stacks `clips` (at least one, all the same shape).
    public init(clips: [Clip]) throws {
        guard let first = clips.first else { throw MediaError(.shapeMismatch, "a batch needs at least one clip") }
        for c in clips where c.shape != first.shape {
            throw MediaError(.shapeMismatch, "clip shape \(c.shape) differs from \(first.shape)")
        }
        var data = [Float]()
        data.reserveCapacity(clips.count * first.data.count)
        for c in clips { data.append(contentsOf: c.data) }
        self.data = data
        count = clips.count
        frames = first.frames
        height = first.height
        width = first.width
        staticIndices = clips.map(\.staticIndex)
        sources = clips.map(\.source)
    }

    /// `[N, 3, T+1, H, W]`.
    public var shape: [Int] { [count, 3, frames, height, width] }
}
