import Foundation
import LibAV
import SeededRandom

/// Camera nuisances laid over a rendered clip, as real cameras add them: per-frame brightness flicker (a gain and an
/// offset drawn for every frame, as auto exposure and mains-powered light give), sensor noise, and a little camera
/// shake (a mounted camera swaying in the wind: the whole frame shifted along a slow sinusoid per axis). They change
/// no label: the background and the motion of the objects stay what they were. Their draws come from a stream of
/// the clip's seed of their own, so the same clip with and without nuisances shows the same scene.
public struct SyntheticNuisance: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Largest relative gain change per frame: each frame's pixels are multiplied by a gain uniform in
    /// `1 ± flicker`.
    public var flicker: Double
    /// Largest brightness offset per frame (in [0, 1] intensity units), uniform in `± offset`.
    public var offset: Double
    /// Standard deviation of the Gaussian sensor noise, per pixel and channel, in [0, 1] intensity units.
    public var noise: Double
    /// Largest camera displacement in pixels. Each axis sways as `A sin(2π ν f + φ)` over frame `f`, with amplitude
    /// `A` uniform in `[shake / 2, shake]`, frequency `ν` uniform in 0.01 ... 0.04 cycles per frame (0.16 ... 0.64 Hz
    /// at 16 fps) and a random phase, so consecutive frames move by at most `0.25 · shake`.
    public var shake: Double

    /// Nuisances with these strengths; each must be finite and in its range (`validate`).
    public init(flicker: Double = 0, offset: Double = 0, noise: Double = 0, shake: Double = 0) {
        self.flicker = flicker
        self.offset = offset
        self.noise = noise
        self.shake = shake
    }

    /// A clean render.
    public static let none = SyntheticNuisance()
    /// What the learning benchmark uses: ±4 % gain, ±2 % offset flicker, noise σ 0.01 (2.5 of 255 levels) and a
    /// camera sway of up to 1 px.
    public static let camera = SyntheticNuisance(flicker: 0.04, offset: 0.02, noise: 0.01, shake: 1)

    /// Allowed strengths.
    public static let flickerRange = 0.0...0.5, offsetRange = 0.0...0.5, noiseRange = 0.0...0.5, shakeRange = 0.0...8.0

    /// Whether every strength is zero.
    public var isNone: Bool { self == .none }

    /// Named settings: `none` or `camera`.
    public init(named name: String) throws {
        switch name {
        case "none": self = .none
        case "camera": self = .camera
        default: throw MediaError(.invalidOptions, "nuisances '\(name)' is not one of none, camera")
        }
    }

    /// Throws `.invalidOptions` naming the first strength that is not finite or out of its range.
    public func validate() throws {
        for (name, value, range) in [("flicker", flicker, Self.flickerRange), ("offset", offset, Self.offsetRange),
                                     ("noise", noise, Self.noiseRange), ("shake", shake, Self.shakeRange)]
        where !(value.isFinite && range.contains(value)) {
            throw MediaError(.invalidOptions, "nuisance \(name) must be in \(range.lowerBound) ... \(range.upperBound), got \(value)")
        }
    }

    public var description: String {
        isNone ? "none" : "flicker ±\(flicker), offset ±\(offset), noise σ \(noise), shake ≤ \(shake) px"
    }

    /// The camera's sway of one clip: per axis an amplitude, a frequency in cycles per frame and a phase.
    package struct Sway {
        package let x: (amplitude: Double, frequency: Double, phase: Double)
        package let y: (amplitude: Double, frequency: Double, phase: Double)

        package init(shake: Double, rng: inout SeededGenerator) {
            func axis() -> (Double, Double, Double) {
                (shake * rng.uniform(0.5, 1), rng.uniform(0.01, 0.04), rng.uniform(0, 2 * Double.pi))
            }
            x = axis()
            y = axis()
        }

        /// The displacement in frame `f`.
        package func offset(frame f: Int) -> (dx: Double, dy: Double) {
            (x.amplitude * sin(2 * Double.pi * x.frequency * Double(f) + x.phase),
             y.amplitude * sin(2 * Double.pi * y.frequency * Double(f) + y.phase))
        }
    }

    /// Applies the nuisances of frame `frame` to a clean canvas (`height x width x 3`, values in [0, 1]) and writes
    /// the frame's bytes. `rng` is the clip's nuisance stream, advanced by one frame's draws.
    package func apply(_ canvas: [Float], frame: Int, sway: Sway, width: Int, height: Int, rng: inout SeededGenerator,
               into out: UnsafeMutableBufferPointer<UInt8>)
    {
        let (dx, dy) = sway.offset(frame: frame)
        let gain = Float(1 + (flicker > 0 ? rng.uniform(-flicker, flicker) : 0))
        let shift = Float(offset > 0 ? rng.uniform(-offset, offset) : 0)
        let sigma = Float(noise)
        for y in 0..<height {
            // The camera moved by (dx, dy): pixel (x, y) shows the scene at (x - dx, y - dy), bilinear, edges clamped.
            let sy = min(Double(height - 1), max(0, Double(y) - dy))
            let y0 = Int(sy), y1 = min(height - 1, y0 + 1)
            let fy = Float(sy - Double(y0))
            for x in 0..<width {
                let sx = min(Double(width - 1), max(0, Double(x) - dx))
                let x0 = Int(sx), x1 = min(width - 1, x0 + 1)
                let fx = Float(sx - Double(x0))
                for c in 0..<3 {
                    let a = canvas[3 * (y0 * width + x0) + c], b = canvas[3 * (y0 * width + x1) + c]
                    let p = canvas[3 * (y1 * width + x0) + c], q = canvas[3 * (y1 * width + x1) + c]
                    let top = a + (b - a) * fx, bottom = p + (q - p) * fx
                    var value = (top + (bottom - top) * fy) * gain + shift
                    if sigma > 0 { value += sigma * Float(rng.gaussian()) }
                    out[3 * (y * width + x) + c] = UInt8((min(1, max(0, value)) * 255).rounded())
                }
            }
        }
    }
}
