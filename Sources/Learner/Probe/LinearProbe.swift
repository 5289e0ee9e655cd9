import Foundation

/// The linear probe: multinomial logistic regression on standardised features (mean and deviation from the train
/// rows), its L2 penalty chosen from a small grid by the mean cross-entropy on a held-out, stratified, deterministic
/// part of the train rows, then refitted on all train rows and scored by top-1 accuracy on the test rows.
public enum LinearProbe {
    /// Probe settings.
    public struct Options: Sendable, Equatable, Codable {
        /// Candidate penalties λ (on standardised features, mean loss), tried from the largest down with warm starts.
        public var penalties: [Double]
        /// Share of each class of the train rows held out to choose λ.
        public var validationFraction: Double
        /// Solver settings.
        public var solver: LBFGS.Options

        /// Defaults: λ ∈ {1, 10⁻¹, …, 10⁻⁴}, 25 % held out.
        public init(penalties: [Double] = [1, 1e-1, 1e-2, 1e-3, 1e-4], validationFraction: Double = 0.25,
                    solver: LBFGS.Options = LBFGS.Options()) {
            self.penalties = penalties
            self.validationFraction = validationFraction
            self.solver = solver
        }

        /// Throws `ProbeError.invalidOptions` for an empty grid, a non-positive penalty or a fraction outside (0, 1).
        public func validate() throws {
            guard !penalties.isEmpty, penalties.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw ProbeError.invalidOptions("penalties must be a non-empty list of positive numbers, got \(penalties)")
            }
            guard validationFraction > 0 && validationFraction < 1 else {
                throw ProbeError.invalidOptions("validation fraction must be in (0, 1), got \(validationFraction)")
            }
            guard solver.maxIterations >= 1, solver.memory >= 1 else {
                throw ProbeError.invalidOptions("solver needs at least one iteration and one correction pair")
            }
        }
    }

    /// What one probe found.
    public struct Outcome: Sendable, Equatable, Codable {
        /// Top-1 accuracy on the test rows.
        public var accuracy: Double
        /// The chosen penalty.
        public var penalty: Double
        /// Validation cross-entropy per candidate penalty (same order as `Options.penalties`).
        public var validationLoss: [Double]
        /// The final fit's solver report.
        public var report: LBFGS.Report
    }

    /// Standardisation from `train`: per column mean and `1 / deviation` (1 for a constant column).
    public static func standardisation(_ train: FeatureMatrix) -> (mean: [Double], scale: [Double]) {
        let mean = train.columnMeans()
        let scale = train.columnDeviations(means: mean).map { $0 > 1e-12 ? 1 / $0 : 1 }
        return (mean, scale)
    }

    /// Runs the probe. `trainKeys` order the train rows for the validation split (e.g. hashes of the video names;
    /// default: row order), so the held-out part does not depend on row order.
    public static func run(train: FeatureMatrix, trainLabels: [Int], test: FeatureMatrix, testLabels: [Int],
                           classes: Int, trainKeys: [UInt64]? = nil, options: Options = Options()) throws -> Outcome
    {
        try options.validate()
        guard train.columns == test.columns, trainLabels.count == train.rows, testLabels.count == test.rows else {
            throw ProbeError.invalidOptions("probe: \(train.rows)x\(train.columns) train and \(test.rows)x\(test.columns) test features with \(trainLabels.count) and \(testLabels.count) labels")
        }
        guard classes >= 2, (trainLabels + testLabels).allSatisfy({ (0..<classes).contains($0) }) else {
            throw ProbeError.invalidOptions("probe: labels must be in 0..<\(classes) with at least 2 classes")
        }
        guard train.isFinite, test.isFinite else { throw ProbeError.model("probe features are not finite") }
        let (mean, scale) = standardisation(train)
        let xTrain = train.affine(shift: mean, scale: scale), xTest = test.affine(shift: mean, scale: scale)

        // Choose λ on a held-out part of the train rows (when both parts still hold two classes).
        let keys = trainKeys ?? (0..<UInt64(train.rows)).map { StratifiedSplit.hash("\($0)") }
        let held = StratifiedSplit.select(groups: trainLabels, keys: keys, fraction: options.validationFraction)
        let fitRows = held.indices.filter { !held[$0] }, valRows = held.indices.filter { held[$0] }
        let penalties = options.penalties.sorted(by: >)
        var validationLoss = [Double](repeating: .nan, count: options.penalties.count)
        var chosen = penalties[0]
        if !valRows.isEmpty && Set(fitRows.map { trainLabels[$0] }).count >= 2 {
            let xFit = xTrain.selecting(rows: fitRows), yFit = fitRows.map { trainLabels[$0] }
            let xVal = xTrain.selecting(rows: valRows), yVal = valRows.map { trainLabels[$0] }
            var warm: LogisticRegression? = nil
            var best = Double.infinity
            for lambda in penalties {
                let (model, _) = LogisticRegression.fit(x: xFit, labels: yFit, classes: classes, penalty: lambda,
                                                        options: options.solver, start: warm)
                warm = model
                let loss = model.crossEntropy(xVal, labels: yVal)
                validationLoss[options.penalties.firstIndex(of: lambda)!] = loss
                // Strictly better only: on a tie the larger penalty (tried first) stays.
                if loss < best { best = loss; chosen = lambda }
            }
        }
        let (model, report) = LogisticRegression.fit(x: xTrain, labels: trainLabels, classes: classes, penalty: chosen,
                                                     options: options.solver)
        return Outcome(accuracy: model.accuracy(xTest, labels: testLabels), penalty: chosen,
                       validationLoss: validationLoss, report: report)
    }
}
