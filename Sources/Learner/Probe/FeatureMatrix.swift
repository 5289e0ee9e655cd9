import CBLAS

/// A dense row-major matrix of `Double` features, `rows x columns` (one row per clip).
public struct FeatureMatrix: Sendable, Equatable, Codable {
    /// Rows (clips).
    public let rows: Int
    /// Columns (feature dimensions).
    public let columns: Int
    /// `rows * columns` values, row-major.
    public var values: [Double]

    /// A matrix over `values` (`rows * columns` of them).
    public init(rows: Int, columns: Int, values: [Double]) {
        precondition(rows >= 0 && columns >= 0 && values.count == rows * columns, "FeatureMatrix: \(values.count) values for \(rows) x \(columns)")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    /// A `rows x columns` matrix of zeros.
    public init(zeros rows: Int, _ columns: Int) {
        self.init(rows: rows, columns: columns, values: [Double](repeating: 0, count: rows * columns))
    }

    /// A matrix from equally long rows (at least one).
    public init(_ rowArrays: [[Double]]) {
        let columns = rowArrays.first?.count ?? 0
        precondition(rowArrays.allSatisfy { $0.count == columns }, "FeatureMatrix: rows of different lengths")
        self.init(rows: rowArrays.count, columns: columns, values: rowArrays.flatMap { $0 })
    }

    /// Row `i`.
    public subscript(row i: Int) -> ArraySlice<Double> { values[(i * columns)..<((i + 1) * columns)] }

    /// Element `(i, j)`.
    public subscript(i: Int, j: Int) -> Double {
        get { values[i * columns + j] }
        set { values[i * columns + j] = newValue }
    }

    /// The rows at `indices`, in that order.
    public func selecting(rows indices: [Int]) -> FeatureMatrix {
        var out = [Double]()
        out.reserveCapacity(indices.count * columns)
        for i in indices { out.append(contentsOf: self[row: i]) }
        return FeatureMatrix(rows: indices.count, columns: columns, values: out)
    }

    /// The columns in `range`, every row.
    public func selecting(columns range: Range<Int>) -> FeatureMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= columns, "column range \(range) outside 0..<\(columns)")
        var out = [Double]()
        out.reserveCapacity(rows * range.count)
        for i in 0..<rows { out.append(contentsOf: values[(i * columns + range.lowerBound)..<(i * columns + range.upperBound)]) }
        return FeatureMatrix(rows: rows, columns: range.count, values: out)
    }

    /// Mean of every column.
    public func columnMeans() -> [Double] {
        var m = [Double](repeating: 0, count: columns)
        guard rows > 0 else { return m }
        for i in 0..<rows { for j in 0..<columns { m[j] += values[i * columns + j] } }
        let inv = 1 / Double(rows)
        for j in 0..<columns { m[j] *= inv }
        return m
    }

    /// Population standard deviation of every column around `means`.
    public func columnDeviations(means: [Double]) -> [Double] {
        var s = [Double](repeating: 0, count: columns)
        guard rows > 0 else { return s }
        for i in 0..<rows { for j in 0..<columns { let d = values[i * columns + j] - means[j]; s[j] += d * d } }
        return s.map { ($0 / Double(rows)).squareRoot() }
    }

    /// `(x - shift) * scale` column-wise.
    public func affine(shift: [Double], scale: [Double]) -> FeatureMatrix {
        precondition(shift.count == columns && scale.count == columns, "affine: one shift and scale per column")
        var out = values
        for i in 0..<rows { for j in 0..<columns { out[i * columns + j] = (out[i * columns + j] - shift[j]) * scale[j] } }
        return FeatureMatrix(rows: rows, columns: columns, values: out)
    }

    /// Whether every value is finite.
    public var isFinite: Bool { values.allSatisfy(\.isFinite) }
}

/// Row-major double-precision GEMM through OpenBLAS: `C = alpha op(A) op(B) + beta C`, `op(A)`: `m x k`,
/// `op(B)`: `k x n`.
@inline(__always)
func dgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Double,
           _ a: UnsafePointer<Double>, _ lda: Int, _ b: UnsafePointer<Double>, _ ldb: Int,
           _ beta: Double, _ c: UnsafeMutablePointer<Double>, _ ldc: Int) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
        return
    }
    cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Naive reference of `dgemm` (same conventions), for tests.
func dgemm_naive(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Double,
                 _ a: UnsafePointer<Double>, _ lda: Int, _ b: UnsafePointer<Double>, _ ldb: Int,
                 _ beta: Double, _ c: UnsafeMutablePointer<Double>, _ ldc: Int) {
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k { s += (transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]) }
            c[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j])
        }
    }
}
