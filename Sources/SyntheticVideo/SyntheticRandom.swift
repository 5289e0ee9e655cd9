import Foundation
import SeededRandom

// Random draws for the synthetic scenes, defined here (not through the standard library's
// `random(in:using:)`, whose algorithm may change) so a seed renders the same pixels on every toolchain.
extension SplitMixGenerator {
    /// Uniform in [a, b).
    package mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * unit() }

    /// Uniform integer in 0 ..< n (n > 0; modulo bias below 2^-40 for the small n used here).
    package mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    /// Standard normal (Box-Muller).
    package mutating func gaussian() -> Double {
        let u = max(unit(), 0x1p-60)
        return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Double.pi * unit())
    }

    /// -1 or +1.
    package mutating func sign() -> Double { next() & 1 == 0 ? -1 : 1 }
}

/// A linear RGB colour with components in [0, 1].
package struct RGBColor: Sendable, Hashable {
    package var r: Double, g: Double, b: Double

    /// From hue (turns), saturation and value.
    package init(hue: Double, saturation s: Double, value v: Double) {
        let h = (hue - hue.rounded(.down)) * 6
        let i = Int(h) % 6
        let f = h - Double(Int(h))
        let p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f))
        switch i {
        case 0: (r, g, b) = (v, t, p)
        case 1: (r, g, b) = (q, v, p)
        case 2: (r, g, b) = (p, v, t)
        case 3: (r, g, b) = (p, q, v)
        case 4: (r, g, b) = (t, p, v)
        default: (r, g, b) = (v, p, q)
        }
    }

    package init(r: Double, g: Double, b: Double) {
        self.r = r
        self.g = g
        self.b = b
    }

    /// `self` moved towards `other` by `t`.
    package func mix(_ other: RGBColor, _ t: Double) -> RGBColor {
        RGBColor(r: r + (other.r - r) * t, g: g + (other.g - g) * t, b: b + (other.b - b) * t)
    }
}
