import ConceptModel
import ConceptReports
import Foundation
import Autograd

/// Every representation of a set of clips, one row per clip.
public struct ProbeFeatures: Sendable, Equatable, Codable {
    /// One matrix per representation.
    public var matrices: [ProbeRepresentation: FeatureMatrix]
    /// Clips (rows of every matrix).
    public var count: Int { matrices[.v]?.rows ?? 0 }

    /// Features from `matrices` (all with the same row count).
    public init(matrices: [ProbeRepresentation: FeatureMatrix]) {
        precondition(Set(matrices.values.map(\.rows)).count <= 1, "every representation needs one row per clip")
        self.matrices = matrices
    }

    /// The matrix of one representation.
    public subscript(_ r: ProbeRepresentation) -> FeatureMatrix { matrices[r]! }

    /// The rows at `indices` of every representation.
    public func selecting(rows indices: [Int]) -> ProbeFeatures {
        ProbeFeatures(matrices: matrices.mapValues { $0.selecting(rows: indices) })
    }

    /// These rows followed by `other`'s (same representations and widths).
    public func appending(_ other: ProbeFeatures) -> ProbeFeatures {
        guard count > 0 else { return other }
        guard other.count > 0 else { return self }
        return ProbeFeatures(matrices: matrices.merging(other.matrices) { a, b in
            precondition(a.columns == b.columns, "appending features of another width")
            return FeatureMatrix(rows: a.rows + b.rows, columns: a.columns, values: a.values + b.values)
        })
    }

    /// Reads every representation from the `v` entries of a pass's outputs (`ConceptLearner.encode(frames:)`, or a
    /// `forward` whose local branch ran, as it does with `useLocal: true` and in `training: false` passes).
    /// `fraction` is the share of concepts whose local features are averaged (the paper's 10 %).
    public init(outputs o: ForwardOutputs, ks: Int, kd: Int, fraction: Double = 0.1) throws {
        guard let feat = o.feat[.v], let codes = o.codes[.v], let local = o.local[.v] else {
            throw ProbeError.model("the forward pass lacks feat[v], codes[v] or local[v]")
        }
        let n = feat.shape[0], k = ks + kd
        guard codes.shape == [n, k], local.rank == 3, local.shape[0] == n, local.shape[1] == k else {
            throw ProbeError.model("codes \(codes.shape) and local features \(local.shape) do not fit \(n) clips and \(ks)+\(kd) concepts")
        }
        let d = local.shape[2]
        let f = FeatureMatrix(rows: n, columns: feat.shape[1], values: feat.values.map { Double($0) })
        let q = FeatureMatrix(rows: n, columns: k, values: codes.values.map { Double($0) })
        let l = local.values.map { Double($0) }
        self.init(matrices: [
            .v: f,
            .qV: q,
            .qVs: q.selecting(columns: 0..<ks),
            .qVd: q.selecting(columns: ks..<k),
            .fV: Self.topConceptAverage(codes: q, local: l, dimension: d, columns: 0..<k, fraction: fraction),
            .fVs: Self.topConceptAverage(codes: q, local: l, dimension: d, columns: 0..<ks, fraction: fraction),
            .fVd: Self.topConceptAverage(codes: q, local: l, dimension: d, columns: ks..<k, fraction: fraction),
        ])
    }

    /// The static frame's representations (`s`, `q_s`) from a pass over the static view
    /// (`ConceptLearner.encodeStatic(frames:)`).
    public static func staticFrame(outputs o: ForwardOutputs, ks: Int) throws -> [ProbeRepresentation: FeatureMatrix] {
        guard let feat = o.feat[.s], let codes = o.codes[.s] else { throw ProbeError.model("the static pass lacks feat[s] or codes[s]") }
        let n = feat.shape[0]
        guard codes.shape == [n, ks] else { throw ProbeError.model("static codes \(codes.shape) do not fit \(n) clips and \(ks) concepts") }
        return [.s: FeatureMatrix(rows: n, columns: feat.shape[1], values: feat.values.map { Double($0) }),
                .qS: FeatureMatrix(rows: n, columns: ks, values: codes.values.map { Double($0) })]
    }

    /// Per clip `i`: the `max(1, ⌈fraction · |columns|⌉)` concepts among `columns` with the largest `codes[i, ·]`
    /// (ties: the lower index), and the mean of their local features `local[i, concept, 0..<dimension]`
    /// (`local` is `N x K x dimension`, `K = codes.columns`). Returns `N x dimension`.
    public static func topConceptAverage(codes: FeatureMatrix, local: [Double], dimension d: Int, columns: Range<Int>,
                                         fraction: Double = 0.1) -> FeatureMatrix
    {
        let n = codes.rows, k = codes.columns
        precondition(local.count == n * k * d, "local features must be N x K x d")
        precondition(columns.lowerBound >= 0 && columns.upperBound <= k && !columns.isEmpty, "concept columns \(columns) outside 0..<\(k)")
        // ⌈fraction · count⌉, guarded against 0.1 · 30 = 3.0000000000000004 rounding up to 4.
        let take = Swift.min(columns.count, Swift.max(1, Int((fraction * Double(columns.count) - 1e-9).rounded(.up))))
        var out = [Double](repeating: 0, count: n * d)
        for i in 0..<n {
            let row = codes[row: i]
            let chosen = columns.sorted { a, b in
                let va = row[row.startIndex + a], vb = row[row.startIndex + b]
                return va != vb ? va > vb : a < b
            }.prefix(take)
            let inv = 1 / Double(chosen.count)
            for c in chosen {
                let base = (i * k + c) * d
                for j in 0..<d { out[i * d + j] += local[base + j] * inv }
            }
        }
        return FeatureMatrix(rows: n, columns: d, values: out)
    }
}
