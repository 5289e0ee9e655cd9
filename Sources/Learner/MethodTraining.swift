import ConceptModel

/// The training settings that belong to a method besides its model options: batch size, warm-up, clip sampling rate
/// and learning-rate schedule (each can still be set on its own in the daemon's `[training]` and `[[source]]`).
public struct MethodTraining: Sendable, Equatable {
    /// Clips per step.
    public var batchSize: Int
    /// Steps without `L_loc`.
    public var warmupSteps: Int
    /// Frames per second clips are sampled at.
    public var clipFps: Double
    /// How the learning rate changes with the step.
    public var schedule: LearningRateSchedule
}

extension ModelConfig.Method {
    /// The method's training settings.
    public var training: MethodTraining {
        switch self {
        case .paper: MethodTraining(batchSize: 8, warmupSteps: 200, clipFps: 16, schedule: .constant)
        case .conceptd: MethodTraining(batchSize: 8, warmupSteps: 200, clipFps: 8, schedule: .inverseSquareRoot(hold: 1000))
        }
    }
}
