import Foundation

/// Retrieval recall at 1, 5, 10 and 20 (shares of test queries in [0, 1]).
public struct ProbeRecall: Sendable, Equatable, Codable {
    /// R@1.
    public var r1: Double
    /// R@5.
    public var r5: Double
    /// R@10.
    public var r10: Double
    /// R@20.
    public var r20: Double

    /// Recall values.
    public init(r1: Double, r5: Double, r10: Double, r20: Double) {
        self.r1 = r1
        self.r5 = r5
        self.r10 = r10
        self.r20 = r20
    }

    /// From `Retrieval.recall` at `Retrieval.standardKs`.
    package init(_ values: [Double]) {
        precondition(values.count == 4, "R@1, R@5, R@10, R@20")
        self.init(r1: values[0], r5: values[1], r10: values[2], r20: values[3])
    }

    /// `self − other`, component-wise.
    public func minus(_ other: ProbeRecall) -> ProbeRecall {
        ProbeRecall(r1: r1 - other.r1, r5: r5 - other.r5, r10: r10 - other.r10, r20: r20 - other.r20)
    }

    /// The value at `k` (1, 5, 10 or 20).
    public func at(_ k: Int) -> Double? {
        switch k {
        case 1: r1
        case 5: r5
        case 10: r10
        case 20: r20
        default: nil
        }
    }
}

/// A result's improvement over the random-initialised encoder: differences of accuracy and recall (positive:
/// better than random init).
public struct ProbeGain: Sendable, Equatable, Codable {
    /// Accuracy minus the baseline's.
    public var accuracy: Double
    /// Recall minus the baseline's.
    public var recall: ProbeRecall

    /// A value with every field given.
    package init(accuracy: Double, recall: ProbeRecall) {
        self.accuracy = accuracy
        self.recall = recall
    }
}

/// One label column probed with one representation.
public struct ProbeRow: Sendable, Equatable, Codable {
    /// The label column.
    public var label: String
    /// The representation.
    public var representation: ProbeRepresentation
    /// Feature width.
    public var dimension: Int
    /// Linear-probe top-1 accuracy on the test clips.
    public var accuracy: Double
    /// Accuracy of always answering the most frequent train class (the floor a probe should beat).
    public var chance: Double
    /// The L2 penalty the validation split chose.
    public var penalty: Double
    /// Retrieval: test clips query the train clips.
    public var recall: ProbeRecall
    /// This row minus the baseline's same row (nil in the baseline itself, or when it has no such row).
    public var gain: ProbeGain?

    /// A value with every field given.
    package init(label: String, representation: ProbeRepresentation, dimension: Int, accuracy: Double, chance: Double, penalty: Double, recall: ProbeRecall, gain: ProbeGain? = nil) {
        self.label = label
        self.representation = representation
        self.dimension = dimension
        self.accuracy = accuracy
        self.chance = chance
        self.penalty = penalty
        self.recall = recall
        self.gain = gain
    }
}

/// What one evaluation found: every label column probed with every representation (the paper's Table 3 on our
/// data), with the gain over the random-initialised encoder.
///
/// JSON (one line of the history file): `step` (absent for the baseline), `time` (ISO-8601 wall time when it
/// finished), `duration` (seconds), `fingerprint`, `trainClips`, `testClips`, `labels`, and `rows`, each with
/// `label`, `representation` (`v`, `q_v`, `q_v^s`, `q_v^d`, `F_v`, `F_v^s`, `F_v^d`), `dimension`, `accuracy`,
/// `chance`, `penalty`, `recall` (`r1 r5 r10 r20`) and `gain` (`accuracy`, `recall`).
public struct ProbeResult: Sendable, Equatable, Codable {
    /// The training step of the weights probed; nil for the random-initialised baseline.
    public var step: Int?
    /// When the evaluation finished.
    public var time: Date
    /// Seconds it took (features and probes; decoding the set the first time included).
    public var duration: Double
    /// Identifies the probe set, model configuration, seed and options (results with another one do not compare).
    public var fingerprint: String
    /// Clips on the train side.
    public var trainClips: Int
    /// Clips on the test side.
    public var testClips: Int
    /// The label columns, in set order.
    public var labels: [String]
    /// One row per label per representation probed (label-major, representations in `ProbeRepresentation.allCases` order).
    public var rows: [ProbeRow]

    /// A result.
    public init(step: Int?, time: Date, duration: Double, fingerprint: String, trainClips: Int, testClips: Int,
                labels: [String], rows: [ProbeRow]) {
        self.step = step
        self.time = time
        self.duration = duration
        self.fingerprint = fingerprint
        self.trainClips = trainClips
        self.testClips = testClips
        self.labels = labels
        self.rows = rows
    }

    /// Whether this is the random-initialised encoder's result.
    public var isBaseline: Bool { step == nil }

    /// The row of `label` and `representation`.
    public func row(_ label: String, _ representation: ProbeRepresentation) -> ProbeRow? {
        rows.first { $0.label == label && $0.representation == representation }
    }

    /// Sets every row's gain over `baseline`'s same row.
    public mutating func attachGains(baseline: ProbeResult) {
        for i in rows.indices {
            guard let b = baseline.row(rows[i].label, rows[i].representation) else { rows[i].gain = nil; continue }
            rows[i].gain = ProbeGain(accuracy: rows[i].accuracy - b.accuracy, recall: rows[i].recall.minus(b.recall))
        }
    }

    /// A number of a row that a table can show.
    public enum Metric: String, Sendable, CaseIterable, Codable {
        /// Linear-probe top-1 accuracy.
        case accuracy
        /// Retrieval recall at 1, 5, 10, 20.
        case r1, r5, r10, r20

        package func value(_ row: ProbeRow) -> Double {
            switch self {
            case .accuracy: row.accuracy
            case .r1: row.recall.r1
            case .r5: row.recall.r5
            case .r10: row.recall.r10
            case .r20: row.recall.r20
            }
        }

        package var title: String {
            switch self {
            case .accuracy: "linear probe top-1 %"
            case .r1: "retrieval R@1 %"
            case .r5: "retrieval R@5 %"
            case .r10: "retrieval R@10 %"
            case .r20: "retrieval R@20 %"
            }
        }
    }

    /// The paper's Table 3 layout as Markdown: one row per label column, one column per representation, values in
    /// percent; with `baseline`, each cell is `this / baseline`.
    public func table(_ metric: Metric = .accuracy, baseline: ProbeResult? = nil) -> String {
        let reps = ProbeRepresentation.allCases.filter { r in rows.contains { $0.representation == r } }
        var lines = ["| \(metric.title) | " + reps.map(\.rawValue).joined(separator: " | ") + " |",
                     "|---|" + reps.map { _ in "---:|" }.joined()]
        for label in labels {
            var cells: [String] = []
            for r in reps {
                guard let row = row(label, r) else { cells.append("–"); continue }
                var cell = String(format: "%.1f", 100 * metric.value(row))
                if let b = baseline?.row(label, r) { cell += String(format: " / %.1f", 100 * metric.value(b)) }
                cells.append(cell)
            }
            lines.append("| \(label) | " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }

    private enum CodingKeys: String, CodingKey {
        case step, time, duration, fingerprint, trainClips, testClips, labels, rows
    }

    /// Decodes `time` from ISO-8601 text (with or without fractional seconds).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        step = try c.decodeIfPresent(Int.self, forKey: .step)
        let text = try c.decode(String.self, forKey: .time)
        guard let date = Self.parseTime(text) else {
            throw DecodingError.dataCorruptedError(forKey: .time, in: c, debugDescription: "'\(text)' is not an ISO-8601 time")
        }
        time = date
        duration = try c.decode(Double.self, forKey: .duration)
        fingerprint = try c.decode(String.self, forKey: .fingerprint)
        trainClips = try c.decode(Int.self, forKey: .trainClips)
        testClips = try c.decode(Int.self, forKey: .testClips)
        labels = try c.decode([String].self, forKey: .labels)
        rows = try c.decode([ProbeRow].self, forKey: .rows)
    }

    /// Encodes `time` as ISO-8601 text with milliseconds, whatever the encoder's date strategy.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(step, forKey: .step)
        try c.encode(Self.formatTime(time), forKey: .time)
        try c.encode(duration, forKey: .duration)
        try c.encode(fingerprint, forKey: .fingerprint)
        try c.encode(trainClips, forKey: .trainClips)
        try c.encode(testClips, forKey: .testClips)
        try c.encode(labels, forKey: .labels)
        try c.encode(rows, forKey: .rows)
    }

    /// `2025-01-02T03:04:05.678Z`.
    public static func formatTime(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }

    public static func parseTime(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: text)
    }
}
