import ArgumentParser
import LibAV
import SyntheticVideo

/// The options of generated videos that `conceptctl make-dataset`, `conceptctl feed` and `concept-bench learn`
/// share: which background and motion classes, frame size, length and rate, and the camera nuisances.
public struct GeneratedVideoOptions: ParsableArguments {
    @Option(help: "Background classes, the first B of \(SyntheticBackground.allCases.map(\.name).joined(separator: ", ")).")
    public var backgrounds = 6

    @Option(help: "Motion classes, the first M of \(SyntheticMotion.allCases.map(\.name).joined(separator: ", ")).")
    public var motions = 6

    @Option(help: "Frame size of the generated videos: WxH (even sides, at least 16) or N for a square (default: 64x64; in concept-bench learn, the model's clip side).")
    public var size: String?

    @Option(help: "Frames per generated video.")
    public var frames = 32

    @Option(help: "Frame rate of the generated videos.")
    public var fps: Double = 16

    @OptionGroup(title: "Camera nuisances")
    public var camera: NuisanceOptions

    public init() {}

    public func validate() throws {
        guard (1...SyntheticBackground.allCases.count).contains(backgrounds) else {
            throw ValidationError("--backgrounds must be in 1 ... \(SyntheticBackground.allCases.count), got \(backgrounds)")
        }
        guard (1...SyntheticMotion.allCases.count).contains(motions) else {
            throw ValidationError("--motions must be in 1 ... \(SyntheticMotion.allCases.count), got \(motions)")
        }
        guard SyntheticDataset.fpsRange.contains(fps) else {
            throw ValidationError("--fps must be in \(SyntheticDataset.fpsRange.lowerBound) ... \(SyntheticDataset.fpsRange.upperBound), got \(fps)")
        }
        do {
            let s = try resolvedSize()
            try SyntheticClip.validate(width: s.width, height: s.height, frames: frames)
        } catch let error as MediaError {
            throw ValidationError(error.message)
        }
        _ = try camera.resolved()
    }

    /// `--size`, or `fallback` when it is absent.
    public func resolvedSize(default fallback: SyntheticDataset.Size = .init(width: 64, height: 64)) throws -> SyntheticDataset.Size {
        do {
            return try size.map { try SyntheticDataset.Size(parsing: $0) } ?? fallback
        } catch let error as MediaError {
            throw ValidationError(error.message)
        }
    }

    /// The chosen backgrounds, in the generator's order.
    public var backgroundClasses: [SyntheticBackground] { Array(SyntheticBackground.allCases.prefix(backgrounds)) }
    /// The chosen motions, in the generator's order.
    public var motionClasses: [SyntheticMotion] { Array(SyntheticMotion.allCases.prefix(motions)) }
}
