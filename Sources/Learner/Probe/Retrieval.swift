import Foundation

/// Recall at k of the retrieval protocol (the paper's Table 2): a query is a hit at `k` when any of its `k` nearest
/// gallery rows by cosine similarity shares its label. Features are centred by a mean (the gallery's, i.e. the train
/// clips', unless given) and scaled to unit length first.
public enum Retrieval {
    /// The `k` of the paper: 1, 5, 10, 20.
    public static let standardKs = [1, 5, 10, 20]

    /// R@k for every `k` in `ks` (each capped at the gallery size): test rows query the train rows.
    /// `exclude(q, g)` removes gallery row `g` from query `q`'s candidates (e.g. the query itself).
    public static func recall(queries: FeatureMatrix, queryLabels: [Int], gallery: FeatureMatrix, galleryLabels: [Int],
                              ks: [Int] = standardKs, centre: [Double]? = nil,
                              exclude: ((Int, Int) -> Bool)? = nil) -> [Double]
    {
        precondition(queries.columns == gallery.columns && queryLabels.count == queries.rows && galleryLabels.count == gallery.rows,
                     "retrieval: shapes or label counts do not match")
        guard queries.rows > 0, gallery.rows > 0, !ks.isEmpty else { return ks.map { _ in 0 } }
        let mean = centre ?? gallery.columnMeans()
        let q = unitRows(queries, centre: mean), g = unitRows(gallery, centre: mean)
        let nq = q.rows, ng = g.rows, d = q.columns
        var similarity = [Double](repeating: 0, count: nq * ng)
        q.values.withUnsafeBufferPointer { qp in
            g.values.withUnsafeBufferPointer { gp in
                similarity.withUnsafeMutableBufferPointer { sp in
                    dgemm(false, true, nq, ng, d, 1, qp.baseAddress!, d, gp.baseAddress!, d, 0, sp.baseAddress!, ng)
                }
            }
        }
        let kMax = Swift.min(ks.max()!, ng)
        var hits = [Int](repeating: 0, count: ks.count)
        for i in 0..<nq {
            let ranked = topIndices(similarity[(i * ng)..<((i + 1) * ng)], count: kMax, skip: exclude.map { e in { e(i, $0) } })
            // First rank (1-based) whose label matches, if any within kMax.
            guard let first = ranked.firstIndex(where: { galleryLabels[$0] == queryLabels[i] }) else { continue }
            for (j, k) in ks.enumerated() where first < Swift.min(k, ng) { hits[j] += 1 }
        }
        return hits.map { Double($0) / Double(nq) }
    }

    /// Every row queries all the others (leave one out): R@k over `features` with `labels` (e.g. the source video),
    /// centred by the mean of all rows.
    public static func recallLeaveOneOut(_ features: FeatureMatrix, labels: [Int], ks: [Int] = standardKs) -> [Double] {
        recall(queries: features, queryLabels: labels, gallery: features, galleryLabels: labels, ks: ks,
               exclude: { $0 == $1 })
    }

    /// Rows centred by `centre` and scaled to unit L2 length (a zero row stays zero).
    static func unitRows(_ x: FeatureMatrix, centre: [Double]) -> FeatureMatrix {
        var out = x.values
        for i in 0..<x.rows {
            var norm = 0.0
            for j in 0..<x.columns { let v = out[i * x.columns + j] - centre[j]; out[i * x.columns + j] = v; norm += v * v }
            let inv = norm > 0 ? 1 / norm.squareRoot() : 0
            for j in 0..<x.columns { out[i * x.columns + j] *= inv }
        }
        return FeatureMatrix(rows: x.rows, columns: x.columns, values: out)
    }

    /// Indices of the `count` largest values, largest first; ties go to the lower index. `skip` removes candidates.
    static func topIndices(_ values: ArraySlice<Double>, count: Int, skip: ((Int) -> Bool)? = nil) -> [Int] {
        let base = values.startIndex
        var top: [Int] = []
        top.reserveCapacity(count + 1)
        for j in 0..<values.count {
            if let skip, skip(j) { continue }
            let v = values[base + j]
            if top.count == count, let last = top.last, !(v > values[base + last]) { continue }
            // Insert after every element at least as large (stable: earlier index wins a tie).
            var pos = top.count
            while pos > 0 && v > values[base + top[pos - 1]] { pos -= 1 }
            top.insert(j, at: pos)
            if top.count > count { top.removeLast() }
        }
        return top
    }
}
