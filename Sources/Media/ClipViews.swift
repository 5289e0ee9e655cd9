/// The learner's three views of a batch, each `N x 3 x T x H x W` (spec "Shapes and layout"):
/// `v` = frames `0 ..< T`; `s` = frame `static_index[i]` repeated `T` times; `d` = `frames[1...T] - frames[0..<T]`.
import LibAV
public struct ClipViews: Sendable {
    /// Frames `0 ..< T`.
    public var v: [Float]
    /// The static frame repeated `T` times.
    public var s: [Float]
    /// Differences of consecutive normalised frames.
    public var d: [Float]
    /// Clips, `N`.
    public let count: Int
    /// `T` (one less than the clip's frames).
    public let frames: Int
    /// Frame height.
    public let height: Int
    /// Frame width.
    public let width: Int

    /// `[N, 3, T, H, W]`.
    public var shape: [Int] { [count, 3, frames, height, width] }

    /// Views of `count` clips in `clips` (`count x 3 x (T+1) x H x W`, `framesPlusOne = T + 1`).
    public init(
        clips: UnsafeBufferPointer<Float>, count: Int, framesPlusOne: Int, height: Int, width: Int,
        staticIndices: [Int]
    ) throws {
        let t = framesPlusOne - 1
        guard t >= 1, height > 0, width > 0, count >= 0 else {
            throw MediaError(.shapeMismatch, "views need T >= 1 and a positive frame size")
        }
        guard clips.count == count * 3 * framesPlusOne * height * width else {
            throw MediaError(.shapeMismatch, "\(clips.count) floats is not \(count) x 3 x \(framesPlusOne) x \(height) x \(width)")
        }
        guard staticIndices.count == count, staticIndices.allSatisfy({ $0 >= 0 && $0 < t }) else {
            throw MediaError(.shapeMismatch, "need \(count) static indices in 0..<\(t), got \(staticIndices)")
        }
        let plane = height * width
        var v = [Float](repeating: 0, count: count * 3 * t * plane)
        var s = v
        var d = v
        // in:  [n, c, f, h, w] with f in 0...T; out: [n, c, f, h, w] with f in 0..<T.
        v.withUnsafeMutableBufferPointer { vp in
            s.withUnsafeMutableBufferPointer { sp in
                d.withUnsafeMutableBufferPointer { dp in
                    for n in 0..<count {
                        for c in 0..<3 {
                            let inBase = (n * 3 + c) * framesPlusOne * plane
                            let outBase = (n * 3 + c) * t * plane
                            let staticBase = inBase + staticIndices[n] * plane
                            for f in 0..<t {
                                let a = inBase + f * plane
                                let b = a + plane
                                let o = outBase + f * plane
                                for i in 0..<plane {
                                    vp[o + i] = clips[a + i]
                                    sp[o + i] = clips[staticBase + i]
                                    dp[o + i] = clips[b + i] - clips[a + i]
                                }
                            }
                        }
                    }
                }
            }
        }
        self.v = v
        self.s = s
        self.d = d
        self.count = count
        self.frames = t
        self.height = height
        self.width = width
    }

    /// Views of a batch.
    public init(batch: ClipBatch) throws {
        self = try batch.data.withUnsafeBufferPointer {
            try ClipViews(clips: $0, count: batch.count, framesPlusOne: batch.frames, height: batch.height,
                          width: batch.width, staticIndices: batch.staticIndices)
        }
    }

    /// Views of one clip (`count == 1`).
    public init(clip: Clip) throws {
        self = try clip.data.withUnsafeBufferPointer {
            try ClipViews(clips: $0, count: 1, framesPlusOne: clip.frames, height: clip.height, width: clip.width,
                          staticIndices: [clip.staticIndex])
        }
    }
}
