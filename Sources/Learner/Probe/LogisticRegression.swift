import CBLAS
import Foundation

/// Multinomial (softmax) logistic regression with an L2 penalty on the weights (not on the bias), in `Double`:
///
///     minimise  L(W, b) = (1/n) Σ_i −log softmax(x_i W + b)[y_i]  +  (λ/2) ‖W‖²
///
/// fitted by L-BFGS (`LBFGS`). `W` is `features x classes` row-major; the parameter vector the solver sees is
/// `W` flattened, then `b`.
public struct LogisticRegression: Sendable, Equatable, Codable {
    /// Input dimension.
    public let features: Int
    /// Number of classes.
    public let classes: Int
    /// `features x classes`, row-major.
    public var weights: [Double]
    /// One per class.
    public var bias: [Double]

    /// A model with all weights and biases zero (predicts uniform probabilities).
    public init(features: Int, classes: Int) {
        self.features = features
        self.classes = classes
        weights = [Double](repeating: 0, count: features * classes)
        bias = [Double](repeating: 0, count: classes)
    }

    /// The parameters as one vector: `W` row-major, then `b`.
    public var parameters: [Double] {
        get { weights + bias }
        set {
            precondition(newValue.count == features * classes + classes, "parameter vector has the wrong length")
            weights = Array(newValue[0..<(features * classes)])
            bias = Array(newValue[(features * classes)...])
        }
    }

    /// Class scores `x W + b` (`rows x classes`).
    public func scores(_ x: FeatureMatrix) -> FeatureMatrix {
        precondition(x.columns == features, "scores: \(x.columns) columns for \(features) features")
        var z = [Double](repeating: 0, count: x.rows * classes)
        x.values.withUnsafeBufferPointer { xp in
            weights.withUnsafeBufferPointer { wp in
                z.withUnsafeMutableBufferPointer { zp in
                    dgemm(false, false, x.rows, classes, features, 1, xp.baseAddress!, features, wp.baseAddress!, classes, 0, zp.baseAddress!, classes)
                }
            }
        }
        for i in 0..<x.rows { for c in 0..<classes { z[i * classes + c] += bias[c] } }
        return FeatureMatrix(rows: x.rows, columns: classes, values: z)
    }

    /// The most likely class of every row (ties: the lowest class index).
    public func predict(_ x: FeatureMatrix) -> [Int] {
        let z = scores(x)
        return (0..<x.rows).map { i in
            var best = 0
            for c in 1..<classes where z[i, c] > z[i, best] { best = c }
            return best
        }
    }

    /// Share of rows whose predicted class is `labels[i]`.
    public func accuracy(_ x: FeatureMatrix, labels: [Int]) -> Double {
        guard x.rows > 0 else { return 0 }
        return Double(zip(predict(x), labels).count { $0 == $1 }) / Double(x.rows)
    }

    /// Mean cross-entropy `−log p(y_i | x_i)` over the rows (no penalty).
    public func crossEntropy(_ x: FeatureMatrix, labels: [Int]) -> Double {
        guard x.rows > 0 else { return 0 }
        let z = scores(x)
        var total = 0.0
        for i in 0..<x.rows {
            let row = z[row: i]
            let m = row.max()!
            let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
            total += lse - z[i, labels[i]]
        }
        return total / Double(x.rows)
    }

    /// Fits a model to `x` (`n x features`) and `labels` (each in `0..<classes`) with penalty `λ = penalty`,
    /// starting from `start` (warm start; default zeros).
    public static func fit(x: FeatureMatrix, labels: [Int], classes: Int, penalty: Double,
                           options: LBFGS.Options = LBFGS.Options(), start: LogisticRegression? = nil)
        -> (model: LogisticRegression, report: LBFGS.Report)
    {
        precondition(labels.count == x.rows && labels.allSatisfy { (0..<classes).contains($0) }, "fit: labels must be one per row, in 0..<\(classes)")
        var objective = LogisticObjective(x: x, labels: labels, classes: classes, penalty: penalty)
        var model = start ?? LogisticRegression(features: x.columns, classes: classes)
        precondition(model.features == x.columns && model.classes == classes, "fit: the start model has another shape")
        let (theta, report) = LBFGS.minimize(start: model.parameters, options: options) { theta, gradient in
            objective.evaluate(theta, gradient: &gradient)
        }
        model.parameters = theta
        return (model, report)
    }
}

/// The penalised mean cross-entropy and its gradient, with scratch buffers kept across evaluations.
struct LogisticObjective {
    let x: FeatureMatrix
    let labels: [Int]
    let classes: Int
    let penalty: Double
    private var z: [Double]

    init(x: FeatureMatrix, labels: [Int], classes: Int, penalty: Double) {
        self.x = x
        self.labels = labels
        self.classes = classes
        self.penalty = penalty
        z = [Double](repeating: 0, count: x.rows * classes)
    }

    /// Parameters: `features * classes + classes`.
    var dimension: Int { x.columns * classes + classes }

    /// Loss at `theta` (`W` row-major, then `b`); writes the gradient into `gradient` (overwritten, not accumulated).
    ///
    /// forward:  Z = X W + 1 bᵀ (n x C);  ℓ_i = logsumexp(Z_i) − Z_i[y_i];  L = mean ℓ + (λ/2)‖W‖²
    /// backward: G = (softmax(Z) − onehot(y)) / n;  ∂W = Xᵀ G + λ W;  ∂b = Σ_i G_i
    mutating func evaluate(_ theta: [Double], gradient: inout [Double]) -> Double {
        let n = x.rows, d = x.columns, c = classes
        precondition(theta.count == dimension && gradient.count == dimension, "objective: parameter vector has the wrong length")
        guard n > 0 else {
            var reg = 0.0
            for j in 0..<(d * c) { reg += theta[j] * theta[j]; gradient[j] = penalty * theta[j] }
            for j in (d * c)..<dimension { gradient[j] = 0 }
            return 0.5 * penalty * reg
        }
        var loss = 0.0
        x.values.withUnsafeBufferPointer { xp in
            theta.withUnsafeBufferPointer { tp in
                z.withUnsafeMutableBufferPointer { zp in
                    let zb = zp.baseAddress!
                    dgemm(false, false, n, c, d, 1, xp.baseAddress!, d, tp.baseAddress!, c, 0, zb, c)
                    let b = tp.baseAddress! + d * c
                    let invN = 1 / Double(n)
                    for i in 0..<n {
                        let row = zb + i * c
                        var m = -Double.infinity
                        for k in 0..<c { row[k] += b[k]; m = Swift.max(m, row[k]) }
                        let y = labels[i]
                        let zy = row[y]
                        var s = 0.0
                        for k in 0..<c { let e = exp(row[k] - m); row[k] = e; s += e }
                        loss += m + log(s) - zy
                        let inv = invN / s
                        for k in 0..<c { row[k] *= inv }          // softmax / n
                        row[y] -= invN                             // − onehot / n
                    }
                    gradient.withUnsafeMutableBufferPointer { gp in
                        let g = gp.baseAddress!
                        // ∂W = Xᵀ G + λ W
                        for j in 0..<(d * c) { g[j] = penalty * tp[j] }
                        dgemm(true, false, d, c, n, 1, xp.baseAddress!, d, zb, c, 1, g, c)
                        for k in 0..<c { g[d * c + k] = 0 }
                        for i in 0..<n { for k in 0..<c { g[d * c + k] += zb[i * c + k] } }
                    }
                }
            }
        }
        var reg = 0.0
        for j in 0..<(d * c) { reg += theta[j] * theta[j] }
        return loss / Double(n) + 0.5 * penalty * reg
    }

    /// Naive reference of the loss alone (per row, per class, no BLAS), for tests.
    func lossNaive(_ theta: [Double]) -> Double {
        let n = x.rows, d = x.columns, c = classes
        var loss = 0.0
        for i in 0..<n {
            var zi = [Double](repeating: 0, count: c)
            for k in 0..<c {
                var s = theta[d * c + k]
                for j in 0..<d { s += x[i, j] * theta[j * c + k] }
                zi[k] = s
            }
            let m = zi.max()!
            loss += m + log(zi.reduce(0) { $0 + exp($1 - m) }) - zi[labels[i]]
        }
        var reg = 0.0
        for j in 0..<(d * c) { reg += theta[j] * theta[j] }
        return (n > 0 ? loss / Double(n) : 0) + 0.5 * penalty * reg
    }
}

/// Limited-memory BFGS (Nocedal & Wright, Algorithm 7.4 and 7.5) with a backtracking Armijo line search, for smooth
/// convex objectives in `Double`.
public enum LBFGS {
    /// When to stop.
    public struct Options: Sendable, Equatable, Codable {
        /// Most iterations.
        public var maxIterations: Int
        /// Converged when the gradient's largest component is at most this.
        public var gradientTolerance: Double
        /// Converged when an iteration lowers the objective by less than this, relative to `max(1, |f|)`.
        public var relativeTolerance: Double
        /// Correction pairs kept.
        public var memory: Int

        /// Defaults suited to probe fits (hundreds of rows, hundreds of features).
        public init(maxIterations: Int = 300, gradientTolerance: Double = 1e-6, relativeTolerance: Double = 1e-10, memory: Int = 10) {
            self.maxIterations = maxIterations
            self.gradientTolerance = gradientTolerance
            self.relativeTolerance = relativeTolerance
            self.memory = memory
        }
    }

    /// How a minimisation ended.
    public struct Report: Sendable, Equatable, Codable {
        /// Iterations run.
        public var iterations: Int
        /// Objective evaluations.
        public var evaluations: Int
        /// Final objective value.
        public var value: Double
        /// Final gradient's largest component.
        public var gradientNorm: Double
        /// Whether a tolerance was met (false: the iteration limit, or the line search could not improve).
        public var converged: Bool
    }

    /// Minimises `f` from `start`; `f(x, &g)` returns the value at `x` and writes the gradient into `g`.
    public static func minimize(start: [Double], options: Options = Options(),
                                _ f: (_ x: [Double], _ gradient: inout [Double]) -> Double) -> (x: [Double], report: Report)
    {
        let n = start.count
        var x = start
        var g = [Double](repeating: 0, count: n)
        var fx = f(x, &g)
        var evaluations = 1
        var s: [[Double]] = [], y: [[Double]] = [], rho: [Double] = []
        var direction = [Double](repeating: 0, count: n)
        var alpha = [Double](repeating: 0, count: Swift.max(1, options.memory))
        var xNew = x, gNew = g
        var iterations = 0
        var converged = false
        var flat = 0
        func maxAbs(_ v: [Double]) -> Double { v.reduce(0) { Swift.max($0, Swift.abs($1)) } }
        // The vector operations of the inner loops go to BLAS (ddot, daxpy, dscal).
        func dot(_ a: [Double], _ b: [Double]) -> Double { cblas_ddot(Int32(n), a, 1, b, 1) }
        func axpy(_ alpha: Double, _ a: [Double], _ b: inout [Double]) { cblas_daxpy(Int32(n), alpha, a, 1, &b, 1) }
        while iterations < options.maxIterations {
            if !fx.isFinite { break }
            if maxAbs(g) <= options.gradientTolerance { converged = true; break }
            // Two-loop recursion: direction = −H g.
            for i in 0..<n { direction[i] = -g[i] }
            let m = s.count
            if m > 0 {
                for j in stride(from: m - 1, through: 0, by: -1) {
                    alpha[j] = rho[j] * dot(s[j], direction)
                    axpy(-alpha[j], y[j], &direction)
                }
                let gamma = dot(s[m - 1], y[m - 1]) / dot(y[m - 1], y[m - 1])
                cblas_dscal(Int32(n), gamma, &direction, 1)
                for j in 0..<m {
                    let beta = rho[j] * dot(y[j], direction)
                    axpy(alpha[j] - beta, s[j], &direction)
                }
            }
            var slope = dot(g, direction)
            if !(slope < 0) {
                // Not a descent direction (numerical trouble): restart from steepest descent.
                s.removeAll(); y.removeAll(); rho.removeAll()
                for i in 0..<n { direction[i] = -g[i] }
                slope = dot(g, direction)
            }
            // First step of a fresh history: unit length; afterwards the quasi-Newton step 1.
            var t = s.isEmpty ? Swift.min(1, 1 / Swift.max(dot(g, g).squareRoot(), 1e-300)) : 1
            var fNew = Double.infinity
            var accepted = false
            for _ in 0..<50 {
                xNew = x
                axpy(t, direction, &xNew)
                fNew = f(xNew, &gNew)
                evaluations += 1
                if fNew.isFinite && fNew <= fx + 1e-4 * t * slope { accepted = true; break }
                t *= 0.5
            }
            iterations += 1
            guard accepted else { break }
            var sk = [Double](repeating: 0, count: n), yk = [Double](repeating: 0, count: n)
            for i in 0..<n { sk[i] = xNew[i] - x[i]; yk[i] = gNew[i] - g[i] }
            let sy = dot(sk, yk)
            if sy > 1e-12 * dot(yk, yk) && sy > 0 {
                if s.count == options.memory { s.removeFirst(); y.removeFirst(); rho.removeFirst() }
                s.append(sk); y.append(yk); rho.append(1 / sy)
            }
            let decrease = fx - fNew
            swap(&x, &xNew)
            swap(&g, &gNew)
            fx = fNew
            // Two iterations in a row that barely lower the objective: done.
            flat = decrease <= options.relativeTolerance * Swift.max(1, Swift.abs(fx)) ? flat + 1 : 0
            if flat >= 2 { converged = true; break }
        }
        return (x, Report(iterations: iterations, evaluations: evaluations, value: fx, gradientNorm: maxAbs(g), converged: converged))
    }
}
