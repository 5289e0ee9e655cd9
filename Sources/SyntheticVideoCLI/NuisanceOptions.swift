import ArgumentParser
import LibAV
import SyntheticVideo

/// `--nuisances none|camera` and per-strength overrides for generated videos.
public struct NuisanceOptions: ParsableArguments {
    @Option(help: "Camera nuisances over every generated frame: none, or camera (±4 % gain and ±2 % offset flicker per frame, sensor noise σ 0.01, camera sway up to 1 px). Default: camera in concept-bench learn, none elsewhere.")
    public var nuisances: String?
    @Option(help: "Override the per-frame gain flicker (relative, e.g. 0.04).") public var flicker: Double?
    @Option(help: "Override the per-frame brightness offset flicker ([0, 1] units).") public var offset: Double?
    @Option(help: "Override the sensor noise σ ([0, 1] units).") public var noise: Double?
    @Option(help: "Override the largest camera sway in pixels.") public var shake: Double?

    public init() {}

    /// The named setting (`fallback` when `--nuisances` is absent) with the overrides applied; a validation error
    /// names what is out of range.
    public func resolved(default fallback: String = "none") throws -> SyntheticNuisance {
        do {
            var n = try SyntheticNuisance(named: nuisances ?? fallback)
            if let flicker { n.flicker = flicker }
            if let offset { n.offset = offset }
            if let noise { n.noise = noise }
            if let shake { n.shake = shake }
            try n.validate()
            return n
        } catch let error as MediaError {
            throw ValidationError(error.message)
        }
    }
}
