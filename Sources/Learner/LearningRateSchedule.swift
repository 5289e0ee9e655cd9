import ConceptModel
import Autograd
import TensorKernels

/// How the SGD learning rate changes over an endless stream, as a function of the step alone (so a resumed run
/// continues on the same curve).
public enum LearningRateSchedule: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The configured rate at every step (the paper's SGD).
    case constant
    /// The configured rate for the first `hold` steps, then `rate · √(hold / step)`: it keeps falling as the stream
    /// goes on but never reaches zero, so the learner still follows a scene that changes.
    case inverseSquareRoot(hold: Int)

    /// The rate for step `step` (1-based: the step about to be taken) from the configured `base`.
    public func rate(base: Scalar, step: Int) -> Scalar {
        switch self {
        case .constant:
            return base
        case .inverseSquareRoot(let hold):
            guard step > hold, hold > 0 else { return base }
            return base * Scalar((Double(hold) / Double(step)).squareRoot())
        }
    }

    /// Throws unless the hold is at least one step.
    public func validate() throws {
        if case .inverseSquareRoot(let hold) = self, hold < 1 {
            throw TrainerError.invalidData("the learning-rate hold must be at least one step, got \(hold)")
        }
    }

    public var description: String {
        switch self {
        case .constant: "constant"
        case .inverseSquareRoot(let hold): "1/√step after \(hold) steps"
        }
    }
}
