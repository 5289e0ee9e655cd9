import Foundation
import SeededRandom

/// A movement pattern of a clip's foreground objects: the synthetic clip's dynamic label. Speeds, phases
/// and positions are drawn per clip; motions are defined over the clip's length (a translation crosses the
/// same share of the frame whatever the frame count). Cases are ordered so that the first few are the most
/// different from each other (a dataset with `M` motions uses the first `M`).
public enum SyntheticMotion: Int, CaseIterable, Sendable, Hashable, Codable, CustomStringConvertible {
    /// Objects do not move.
    case still
    /// Objects move right in a straight line, 35-50% of the free width over the clip.
    case translateRight
    /// Objects orbit a point clockwise (on screen), 0.7-1 turn over the clip.
    case circle
    /// Objects grow from 0.55 to 1.45 times their size.
    case zoomIn
    /// Objects spin in place, 0.5-0.9 turn over the clip, either way.
    case rotate
    /// Objects swing left and right, 1.5-2.5 cycles over the clip.
    case oscillate
    /// Objects move left in a straight line.
    case translateLeft
    /// Objects move up in a straight line.
    case translateUp
    /// Objects move down in a straight line.
    case translateDown
    /// Objects shrink from 1.45 to 0.55 times their size.
    case zoomOut
    /// Objects wander: constant speed, heading turning randomly every frame, bouncing off the edges.
    case randomWalk

    /// The label written to manifests.
    public var name: String {
        switch self {
        case .still: "still"
        case .translateRight: "translate-right"
        case .circle: "circle"
        case .zoomIn: "zoom-in"
        case .rotate: "rotate"
        case .oscillate: "oscillate"
        case .translateLeft: "translate-left"
        case .translateUp: "translate-up"
        case .translateDown: "translate-down"
        case .zoomOut: "zoom-out"
        case .randomWalk: "random-walk"
        }
    }

    /// The motion called `name` (as in a manifest).
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    public var description: String { name }

    /// The largest scale an object reaches under this motion (for keeping it inside the frame).
    package var maxScale: Double {
        switch self {
        case .zoomIn, .zoomOut: Self.zoomRange.upperBound
        default: 1
        }
    }

    package static let zoomRange = 0.55...1.45

    /// Where each object is in each frame: `[frame][object]`. `extents` are the objects' radii at scale 1
    /// (plus their soft edge), in pixels.
    package func poses(extents: [Double], width: Int, height: Int, frames: Int, rng: inout SeededGenerator) -> [[Pose]] {
        let w = Double(width), h = Double(height)
        let t = (0..<frames).map { frames > 1 ? Double($0) / Double(frames - 1) : 0 }
        let reach = extents.map { $0 * maxScale }
        /// A uniform position in [e, limit - e - travel] (the whole free range when it is too short).
        func place(_ e: Double, _ limit: Double, travel: Double = 0) -> Double {
            let lo = e, hi = limit - e - travel
            return hi > lo ? rng.uniform(lo, hi) : (limit - travel) / 2
        }
        // Shared by every object of the clip: they move together.
        let share = rng.uniform(0.35, 0.5)
        let turns = rng.uniform(0.7, 1.0)
        let spin = rng.uniform(0.5, 0.9) * rng.sign()
        let cycles = rng.uniform(1.5, 2.5)
        var tracks: [[Pose]] = []  // [object][frame]
        for e in reach {
            let angle0 = rng.uniform(0, 2 * Double.pi)
            var track: [Pose]
            switch self {
            case .still:
                let (x, y) = (place(e, w), place(e, h))
                track = t.map { _ in Pose(x: x, y: y, angle: angle0, scale: 1) }
            case .translateRight, .translateLeft:
                let travel = share * max(0, w - 2 * e)
                let x0 = place(e, w, travel: travel), y = place(e, h)
                let sign: Double = self == .translateRight ? 1 : -1
                let start = sign > 0 ? x0 : x0 + travel
                track = t.map { Pose(x: start + sign * travel * $0, y: y, angle: angle0, scale: 1) }
            case .translateUp, .translateDown:
                let travel = share * max(0, h - 2 * e)
                let x = place(e, w), y0 = place(e, h, travel: travel)
                let sign: Double = self == .translateDown ? 1 : -1
                let start = sign > 0 ? y0 : y0 + travel
                track = t.map { Pose(x: x, y: start + sign * travel * $0, angle: angle0, scale: 1) }
            case .circle:
                let room = max(0, min(w, h) / 2 - e)
                let r = min(rng.uniform(0.15, 0.25) * min(w, h), 0.95 * room)
                let cx = place(e + r, w), cy = place(e + r, h)
                let phi0 = rng.uniform(0, 2 * Double.pi)
                // Image y points down, so an increasing angle turns clockwise on screen.
                track = t.map {
                    let phi = phi0 + 2 * Double.pi * turns * $0
                    return Pose(x: cx + r * cos(phi), y: cy + r * sin(phi), angle: angle0, scale: 1)
                }
            case .zoomIn, .zoomOut:
                let (x, y) = (place(e, w), place(e, h))
                let (lo, hi) = (Self.zoomRange.lowerBound, Self.zoomRange.upperBound)
                track = t.map {
                    let f = self == .zoomIn ? $0 : 1 - $0
                    return Pose(x: x, y: y, angle: angle0, scale: lo * pow(hi / lo, f))
                }
            case .rotate:
                let (x, y) = (place(e, w), place(e, h))
                track = t.map { Pose(x: x, y: y, angle: angle0 + 2 * Double.pi * spin * $0, scale: 1) }
            case .oscillate:
                let room = max(0, w / 2 - e)
                let amplitude = min(rng.uniform(0.15, 0.22) * min(w, h), room)
                let xc = place(e + amplitude, w), y = place(e, h)
                let phase = rng.uniform(0, 2 * Double.pi)
                track = t.map {
                    Pose(x: xc + amplitude * sin(2 * Double.pi * cycles * $0 + phase), y: y, angle: angle0, scale: 1)
                }
            case .randomWalk:
                let step = share * max(0, min(w, h) - 2 * e) / Double(max(1, frames - 1))
                var (x, y) = (place(e, w), place(e, h))
                var heading = rng.uniform(0, 2 * Double.pi)
                track = []
                for f in 0..<frames {
                    if f > 0 {
                        heading += 0.8 * rng.gaussian()
                        var dx = step * cos(heading), dy = step * sin(heading)
                        if x + dx < e || x + dx > w - e { dx = -dx; heading = Double.pi - heading }
                        if y + dy < e || y + dy > h - e { dy = -dy; heading = -heading }
                        x = min(max(x + dx, min(e, w / 2)), max(w - e, w / 2))
                        y = min(max(y + dy, min(e, h / 2)), max(h - e, h / 2))
                    }
                    track.append(Pose(x: x, y: y, angle: angle0, scale: 1))
                }
            }
            tracks.append(track)
        }
        return (0..<frames).map { f in tracks.map { $0[f] } }
    }
}

/// An object's placement in one frame: centre in pixels, rotation in radians, scale.
package struct Pose: Sendable, Hashable {
    package var x: Double
    package var y: Double
    package var angle: Double
    package var scale: Double
}
