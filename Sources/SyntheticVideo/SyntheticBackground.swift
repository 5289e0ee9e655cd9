import Foundation
import SeededRandom

/// A background scene class: the texture that makes a synthetic clip's static label. Each clip draws its
/// own colours and the texture's phase, scale and placement, so a class is a structure, not an image.
/// Cases are ordered so that the first few are the most different from each other (a dataset with `B`
/// backgrounds uses the first `B`).
public enum SyntheticBackground: Int, CaseIterable, Sendable, Hashable, Codable, CustomStringConvertible {
    /// Smooth multi-octave value noise.
    case noise
    /// A sinusoidal grating whose stripes run at 45 degrees (+- 8) on screen, like '/'.
    case grating45
    /// An axis-aligned checkerboard.
    case checkerboard
    /// A linear ramp in a random direction.
    case gradient
    /// A few soft round blobs.
    case blobs
    /// A sinusoidal grating whose stripes run at 135 degrees (+- 8) on screen, like '\\'.
    case grating135
    /// Concentric rings around a random centre.
    case rings
    /// Thin horizontal and vertical lines (a tartan grid).
    case grid
    /// A regular lattice of dots (rows offset by half a period).
    case dots
    /// A radial ramp around a random centre.
    case radial
    /// Fine-grained (1.5-2.5 px) noise.
    case speckle

    /// The label written to manifests.
    public var name: String {
        switch self {
        case .noise: "noise"
        case .grating45: "grating-45"
        case .checkerboard: "checkerboard"
        case .gradient: "gradient"
        case .blobs: "blobs"
        case .grating135: "grating-135"
        case .rings: "rings"
        case .grid: "grid"
        case .dots: "dots"
        case .radial: "radial"
        case .speckle: "speckle"
        }
    }

    /// The background called `name` (as in a manifest).
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    public var description: String { name }

    /// The texture as a field of values in [0, 1], row-major `height x width`, drawn from `rng`.
    package func field(width: Int, height: Int, rng: inout SeededGenerator) -> [Float] {
        let s = Double(min(width, height))
        var out = [Float](repeating: 0, count: width * height)
        func fill(_ f: (Double, Double) -> Double) {
            for y in 0..<height {
                for x in 0..<width {
                    out[y * width + x] = Float(min(1, max(0, f(Double(x) + 0.5, Double(y) + 0.5))))
                }
            }
        }
        switch self {
        case .noise:
            let cell = s / rng.uniform(3.5, 5)
            let octaves = [ValueNoise(cell: cell, width: width, height: height, rng: &rng),
                           ValueNoise(cell: cell / 2, width: width, height: height, rng: &rng),
                           ValueNoise(cell: cell / 4, width: width, height: height, rng: &rng)]
            fill { x, y in octaves[0].at(x, y) + 0.5 * octaves[1].at(x, y) + 0.25 * octaves[2].at(x, y) }
            Self.stretch(&out)
        case .speckle:
            let n = ValueNoise(cell: rng.uniform(1.5, 2.5), width: width, height: height, rng: &rng)
            fill { x, y in n.at(x, y) }
            Self.stretch(&out)
        case .grating45, .grating135:
            // Stripes along (cos a, -sin a) in image coordinates (y down): `a` counter-clockwise from the
            // horizontal as seen on screen, so 45 degrees looks like '/'. The wave runs along the normal.
            let a = ((self == .grating45 ? 45.0 : 135.0) + rng.uniform(-8, 8)) * Double.pi / 180
            let period = s / rng.uniform(4, 6)
            let phase = rng.uniform(0, 2 * Double.pi)
            let (nx, ny) = (sin(a), cos(a))
            fill { x, y in 0.5 + 0.5 * sin(2 * Double.pi * (x * nx + y * ny) / period + phase) }
        case .checkerboard:
            let cell = s / rng.uniform(5, 7)
            let (ox, oy) = (rng.uniform(0, 2 * cell), rng.uniform(0, 2 * cell))
            // The sign of a product of sines, with a one-pixel soft edge.
            let k = cell / Double.pi
            fill { x, y in
                let a = sin(Double.pi * (x + ox) / cell), b = sin(Double.pi * (y + oy) / cell)
                return 0.5 + 0.5 * max(-1, min(1, k * a * b * 1.5))
            }
        case .gradient:
            let theta = rng.uniform(0, 2 * Double.pi)
            let (c, sn) = (cos(theta), sin(theta))
            let w = Double(width), h = Double(height)
            let corners = [0.0, w * c, h * sn, w * c + h * sn]
            let (lo, hi) = (corners.min()!, corners.max()!)
            fill { x, y in (x * c + y * sn - lo) / (hi - lo) }
        case .blobs:
            let count = 4 + rng.integer(below: 4)
            let blobs = (0..<count).map { _ in
                (x: rng.uniform(0, Double(width)), y: rng.uniform(0, Double(height)), sigma: s * rng.uniform(0.07, 0.13))
            }
            fill { x, y in
                blobs.reduce(0) { acc, b in
                    let d2 = (x - b.x) * (x - b.x) + (y - b.y) * (y - b.y)
                    return acc + exp(-d2 / (2 * b.sigma * b.sigma))
                }
            }
        case .rings:
            let (cx, cy) = (rng.uniform(0, Double(width)), rng.uniform(0, Double(height)))
            let period = s / rng.uniform(5, 7)
            let phase = rng.uniform(0, 2 * Double.pi)
            fill { x, y in
                let r = ((x - cx) * (x - cx) + (y - cy) * (y - cy)).squareRoot()
                return 0.5 + 0.5 * cos(2 * Double.pi * r / period + phase)
            }
        case .grid:
            let (px, py) = (s / rng.uniform(3.5, 5), s / rng.uniform(3.5, 5))
            let (ox, oy) = (rng.uniform(0, px), rng.uniform(0, py))
            let half = rng.uniform(0.9, 1.4)  // line half-width in pixels
            func line(_ v: Double, _ period: Double) -> Double {
                let m = v - period * (v / period).rounded()  // distance to the nearest line, signed
                return max(0, min(1, half + 0.5 - abs(m)))
            }
            fill { x, y in max(line(x + ox, px), line(y + oy, py)) }
        case .dots:
            let period = s / rng.uniform(5, 6.5)
            let radius = period * rng.uniform(0.25, 0.32)
            let (ox, oy) = (rng.uniform(0, period), rng.uniform(0, period))
            fill { x, y in
                let row = ((y + oy) / period).rounded(.down)
                let shift = row.truncatingRemainder(dividingBy: 2) == 0 ? 0 : period / 2
                let u = x + ox + shift
                let dx = u - period * ((u / period).rounded(.down) + 0.5)
                let dy = y + oy - period * (row + 0.5)
                return radius + 0.5 - (dx * dx + dy * dy).squareRoot()
            }
        case .radial:
            let (cx, cy) = (rng.uniform(0, Double(width)), rng.uniform(0, Double(height)))
            let reach = s * rng.uniform(0.5, 0.8)
            fill { x, y in ((x - cx) * (x - cx) + (y - cy) * (y - cy)).squareRoot() / reach }
        }
        return out
    }

    /// Stretches `values` linearly onto [0, 1].
    private static func stretch(_ values: inout [Float]) {
        guard let lo = values.min(), let hi = values.max(), hi > lo else { return }
        let scale = 1 / (hi - lo)
        for i in values.indices { values[i] = (values[i] - lo) * scale }
    }
}

/// Value noise: random values on a lattice of `cell` pixels, smoothly interpolated.
package struct ValueNoise {
    private let cell: Double
    private let columns: Int
    private var lattice: [Double]

    package init(cell: Double, width: Int, height: Int, rng: inout SeededGenerator) {
        self.cell = cell
        columns = Int((Double(width) / cell).rounded(.up)) + 2
        let rows = Int((Double(height) / cell).rounded(.up)) + 2
        var values = [Double](repeating: 0, count: columns * rows)
        for i in values.indices { values[i] = rng.unit() }
        lattice = values
    }

    /// The noise at pixel position (x, y), in [0, 1].
    package func at(_ x: Double, _ y: Double) -> Double {
        let u = x / cell, v = y / cell
        let i = Int(u), j = Int(v)
        let fu = u - Double(i), fv = v - Double(j)
        let su = fu * fu * (3 - 2 * fu), sv = fv * fv * (3 - 2 * fv)
        let a = lattice[j * columns + i], b = lattice[j * columns + i + 1]
        let c = lattice[(j + 1) * columns + i], d = lattice[(j + 1) * columns + i + 1]
        let top = a + (b - a) * su, bottom = c + (d - c) * su
        return top + (bottom - top) * sv
    }
}
