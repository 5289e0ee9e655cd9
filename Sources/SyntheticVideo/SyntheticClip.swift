import Foundation
import LibAV
import SeededRandom

/// One procedural clip: a `background` scene with foreground objects moving by `motion`. Everything else
/// (colours, texture placement, object count, shapes, sizes, speeds, positions) is drawn from `seed`,
/// independently of the two labels, so the same value always renders the same pixels.
public struct SyntheticClip: Sendable, Hashable, Codable {
    /// The static label.
    public let background: SyntheticBackground
    /// The dynamic label.
    public let motion: SyntheticMotion
    /// Frame width in pixels.
    public let width: Int
    /// Frame height in pixels.
    public let height: Int
    /// Number of frames.
    public let frames: Int
    /// What everything else is drawn from.
    public let seed: UInt64
    /// Camera nuisances over the rendered scene (none by default).
    public let nuisance: SyntheticNuisance

    /// Sizes this generator accepts per side (even, for yuv420p).
    public static let sideRange = 16...2048
    /// Frame counts this generator accepts.
    public static let frameRange = 2...10_000

    /// A clip of `frames` frames of `width x height`. Throws `.invalidOptions` for an odd or out-of-range
    /// size or frame count, or a nuisance out of its range.
    public init(background: SyntheticBackground, motion: SyntheticMotion, width: Int, height: Int, frames: Int,
                seed: UInt64, nuisance: SyntheticNuisance = .none) throws
    {
        try Self.validate(width: width, height: height, frames: frames)
        try nuisance.validate()
        self.background = background
        self.motion = motion
        self.width = width
        self.height = height
        self.frames = frames
        self.seed = seed
        self.nuisance = nuisance
    }

    private enum CodingKeys: String, CodingKey { case background, motion, width, height, frames, seed, nuisance }

    /// Decodes a clip; one written before nuisances existed has none.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(background: c.decode(SyntheticBackground.self, forKey: .background),
                      motion: c.decode(SyntheticMotion.self, forKey: .motion), width: c.decode(Int.self, forKey: .width),
                      height: c.decode(Int.self, forKey: .height), frames: c.decode(Int.self, forKey: .frames),
                      seed: c.decode(UInt64.self, forKey: .seed),
                      nuisance: c.decodeIfPresent(SyntheticNuisance.self, forKey: .nuisance) ?? .none)
    }

    /// Throws `.invalidOptions` unless the size is even and in `sideRange` and `frames` is in `frameRange`.
    public static func validate(width: Int, height: Int, frames: Int) throws {
        guard sideRange.contains(width), sideRange.contains(height) else {
            throw MediaError(.invalidOptions,
                             "size \(width)x\(height) out of range: each side must be in \(sideRange.lowerBound) ... \(sideRange.upperBound)")
        }
        guard width % 2 == 0, height % 2 == 0 else {
            throw MediaError(.invalidOptions, "size \(width)x\(height): both sides must be even (yuv420p)")
        }
        guard frameRange.contains(frames) else {
            throw MediaError(.invalidOptions,
                             "frames must be in \(frameRange.lowerBound) ... \(frameRange.upperBound), got \(frames)")
        }
    }

    /// Renders every frame.
    public func render() -> RGBVideo {
        var rng = SeededGenerator(seed: seed)
        let scene = Backdrop(background: background, width: width, height: height, rng: &rng)
        let objects = (0..<(1 + rng.integer(below: 2))).map { _ in
            SceneObject(size: Double(min(width, height)), rng: &rng)
        }
        let poses = motion.poses(extents: objects.map(\.extent), width: width, height: height, frames: frames,
                                 rng: &rng)
        var video = RGBVideo(width: width, height: height, frameCount: frames)
        let frameBytes = video.frameBytes
        // The nuisances draw from a stream of their own, so the scene is the same with and without them.
        var nuisanceRNG = SeededGenerator.derived(seed, 0x6e75_6973)
        let sway = SyntheticNuisance.Sway(shake: nuisance.shake, rng: &nuisanceRNG)
        video.pixels.withUnsafeMutableBufferPointer { out in
            for f in 0..<frames {
                let frame = UnsafeMutableBufferPointer(rebasing: out[(f * frameBytes)..<((f + 1) * frameBytes)])
                var canvas = scene.rgb
                for (object, pose) in zip(objects, poses[f]) {
                    object.draw(at: pose, into: &canvas, width: width, height: height)
                }
                if nuisance.isNone {
                    for i in 0..<frameBytes { frame[i] = UInt8((canvas[i] * 255).rounded()) }
                } else {
                    nuisance.apply(canvas, frame: f, sway: sway, width: width, height: height, rng: &nuisanceRNG, into: frame)
                }
            }
        }
        return video
    }

    /// Renders the background alone (one frame): what every frame shows where no object is.
    public func renderBackground() -> RGBVideo {
        var rng = SeededGenerator(seed: seed)
        let scene = Backdrop(background: background, width: width, height: height, rng: &rng)
        var video = RGBVideo(width: width, height: height, frameCount: 1)
        for i in scene.rgb.indices { video.pixels[i] = UInt8((scene.rgb[i] * 255).rounded()) }
        return video
    }

    /// Renders the clip and encodes it to `path` at `fps`. Returns the codec's short name.
    @discardableResult
    public func write(to path: String, fps: Double, options: VideoWriter.Options = VideoWriter.Options()) throws
        -> String
    {
        let writer = try VideoWriter(path: path, width: width, height: height, fps: fps, options: options)
        let video = render()
        for f in 0..<frames { try writer.write(rgb: video.frame(f)) }
        try writer.finish()
        return writer.codecName
    }

    /// Encodes the clip as `staging/name`, then renames it to `directory/name`, so a folder watcher never sees a
    /// half-written file (both folders must be on one file system, where a rename is atomic).
    public func deliver(named name: String, to directory: String, via staging: String, fps: Double) throws {
        try write(to: staging + "/" + name, fps: fps)
        try FileManager.default.moveItem(atPath: staging + "/" + name, toPath: directory + "/" + name)
    }
}

/// A clip's background: the texture field coloured by a two-colour palette drawn per clip, in [0, 1] RGB.
package struct Backdrop {
    package let rgb: [Float]

    package init(background: SyntheticBackground, width: Int, height: Int, rng: inout SeededGenerator) {
        let hue = rng.unit()
        let dark = RGBColor(hue: hue, saturation: rng.uniform(0.3, 0.7), value: rng.uniform(0.35, 0.45))
        let light = RGBColor(hue: hue + rng.uniform(0.25, 0.75), saturation: rng.uniform(0.3, 0.7),
                             value: rng.uniform(0.6, 0.7))
        let (a, b) = rng.next() & 1 == 0 ? (dark, light) : (light, dark)
        let field = background.field(width: width, height: height, rng: &rng)
        var rgb = [Float](repeating: 0, count: width * height * 3)
        for (i, t) in field.enumerated() {
            let c = a.mix(b, Double(t))
            rgb[3 * i] = Float(c.r)
            rgb[3 * i + 1] = Float(c.g)
            rgb[3 * i + 2] = Float(c.b)
        }
        self.rgb = rgb
    }
}

/// A foreground object: a rotation-asymmetric shape with a fill and a contrasting one-pixel outline.
/// Fills are either near white or near black, and background colours have HSV values in 0.35 ... 0.7, so
/// some channel differs by at least 0.27 between an object and any background pixel.
package struct SceneObject {
    package enum Shape: CaseIterable { case ellipse, box, triangle }

    package let shape: Shape
    /// Half the longest extent at scale 1, in pixels.
    package let radius: Double
    /// Short side over long side (ellipse, box).
    package let aspect: Double
    package let fill: RGBColor
    package let outline: RGBColor

    package init(size: Double, rng: inout SeededGenerator) {
        shape = Shape.allCases[rng.integer(below: Shape.allCases.count)]
        radius = size * rng.uniform(0.13, 0.2)
        aspect = rng.uniform(0.45, 0.6)
        let hue = rng.unit()
        if rng.next() & 1 == 0 {
            fill = RGBColor(hue: hue, saturation: rng.uniform(0, 0.3), value: rng.uniform(0.97, 1))
            outline = RGBColor(r: 0.05, g: 0.05, b: 0.05)
        } else {
            fill = RGBColor(hue: hue, saturation: rng.uniform(0, 0.6), value: rng.uniform(0.02, 0.06))
            outline = RGBColor(r: 0.97, g: 0.97, b: 0.97)
        }
    }

    /// The farthest a drawn pixel reaches from the centre at scale 1 (shape plus soft edge).
    package var extent: Double { radius + 1.5 }

    /// Signed distance in pixels from local point (u, v) to the outline at `scale` (negative inside).
    package func distance(_ u: Double, _ v: Double, scale: Double) -> Double {
        let r = radius * scale
        switch shape {
        case .ellipse:
            // Inigo Quilez's first-order ellipse distance.
            let a = r, b = r * aspect
            let k0 = ((u / a) * (u / a) + (v / b) * (v / b)).squareRoot()
            let k1 = ((u / (a * a)) * (u / (a * a)) + (v / (b * b)) * (v / (b * b))).squareRoot()
            return k1 > 0 ? k0 * (k0 - 1) / k1 : -b
        case .box:
            let hx = r / (1 + aspect * aspect).squareRoot(), hy = hx * aspect
            let qx = abs(u) - hx, qy = abs(v) - hy
            let outside = (max(qx, 0) * max(qx, 0) + max(qy, 0) * max(qy, 0)).squareRoot()
            return outside + min(max(qx, qy), 0)
        case .triangle:
            // Equilateral, circumradius r, centred on its centroid (Inigo Quilez's exact distance).
            let k = 3.0.squareRoot()
            let half = r * k / 2
            var px = abs(u) - half, py = v + half / k
            if px + k * py > 0 { (px, py) = ((px - k * py) / 2, (-k * px - py) / 2) }
            px -= min(max(px, -2 * half), 0)
            let length = (px * px + py * py).squareRoot()
            return py < 0 ? length : -length
        }
    }

    /// Composites the object at `pose` over `canvas` (RGB in [0, 1], `height x width x 3`).
    package func draw(at pose: Pose, into canvas: inout [Float], width: Int, height: Int) {
        let reach = radius * pose.scale + 1.5
        let x0 = max(0, Int((pose.x - reach).rounded(.down))), x1 = min(width - 1, Int((pose.x + reach).rounded(.up)))
        let y0 = max(0, Int((pose.y - reach).rounded(.down))), y1 = min(height - 1, Int((pose.y + reach).rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return }
        let (c, s) = (cos(pose.angle), sin(pose.angle))
        for y in y0...y1 {
            for x in x0...x1 {
                let dx = Double(x) + 0.5 - pose.x, dy = Double(y) + 0.5 - pose.y
                let d = distance(c * dx + s * dy, -s * dx + c * dy, scale: pose.scale)
                let alpha = min(1, max(0, 0.5 - d))
                guard alpha > 0 else { continue }
                let colour = outline.mix(fill, min(1, max(0, -d - 1)))
                let i = 3 * (y * width + x)
                let a = Float(alpha)
                canvas[i] += (Float(colour.r) - canvas[i]) * a
                canvas[i + 1] += (Float(colour.g) - canvas[i + 1]) * a
                canvas[i + 2] += (Float(colour.b) - canvas[i + 2]) * a
            }
        }
    }
}
