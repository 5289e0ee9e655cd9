import Foundation
import Autograd
import ConceptReports
import TensorKernels

/// Running usage statistics of one branch's concepts (a value state machine: `record` one step's codes, read
/// `stats`). Memory: 4 doubles and 2 integers per concept.
struct ConceptUsage: Sendable {
    /// Concepts in the branch.
    let count: Int
    /// Raw moving averages (divide by `weight` for the bias-corrected value).
    private(set) var frequency: [Double]
    private(set) var activation: [Double]
    private(set) var mass: [Double]
    private(set) var agreement: [Double]
    /// `1 − (1 − α)^updates`: the bias correction of the moving averages.
    private(set) var weight: Double = 0
    /// Top-K hits since the start, and the last step with one (−1: never).
    private(set) var hits: [Int]
    private(set) var lastActive: [Int]
    private(set) var firstStep: Int?
    private(set) var step = 0
    private(set) var steps = 0

    init(count: Int) {
        self.count = count
        frequency = [Double](repeating: 0, count: count)
        activation = frequency; mass = frequency; agreement = frequency
        hits = [Int](repeating: 0, count: count)
        lastActive = [Int](repeating: -1, count: count)
    }

    /// Folds in one step: `codes` and `targets` are `rows x count`, `valid` is `rows x count` 0/1 or empty.
    /// Rows holding a non-finite code are left out; a step without a finite row changes only `step`.
    mutating func record(step: Int, codes: UnsafePointer<Scalar>, targets: UnsafePointer<Scalar>?, valid: [UInt8],
                         rows: Int, topK: Int, rate: Double) {
        self.step = step
        if firstStep == nil { firstStep = step }
        steps += 1
        let k = Swift.min(topK, count)
        var hitCount = [Int](repeating: 0, count: count)
        var codeSum = [Double](repeating: 0, count: count)
        var massSum = [Double](repeating: 0, count: count)
        var validSum = [Int](repeating: 0, count: count)
        var used = 0, massRows = 0
        var top = [Int](repeating: 0, count: k), topValue = [Scalar](repeating: 0, count: k)
        for i in 0..<rows {
            let q = codes + i * count
            guard (0..<count).allSatisfy({ q[$0].isFinite }) else { continue }
            used += 1
            // Top-K by insertion into a short sorted list (ties keep the lower index first).
            var filled = 0
            for j in 0..<count {
                let v = q[j]
                codeSum[j] += Double(v)
                if filled == k && v <= topValue[k - 1] { continue }
                var p = Swift.min(filled, k - 1)
                while p > 0 && topValue[p - 1] < v { top[p] = top[p - 1]; topValue[p] = topValue[p - 1]; p -= 1 }
                top[p] = j; topValue[p] = v
                if filled < k { filled += 1 }
            }
            for j in top { hitCount[j] += 1 }
            if !valid.isEmpty { for j in 0..<count where valid[i * count + j] != 0 { validSum[j] += 1 } }
            if let targets {
                let t = targets + i * count
                if (0..<count).allSatisfy({ t[$0].isFinite }) {
                    massRows += 1
                    for j in 0..<count { massSum[j] += Double(t[j]) }
                }
            }
        }
        guard used > 0 else { return }
        weight += rate * (1 - weight)
        let n = Double(used)
        for j in 0..<count {
            frequency[j] += rate * (Double(hitCount[j]) / n - frequency[j])
            activation[j] += rate * (codeSum[j] / n - activation[j])
            agreement[j] += rate * (Double(validSum[j]) / n - agreement[j])
            if massRows > 0 { mass[j] += rate * (massSum[j] / Double(massRows) - mass[j]) }
            if hitCount[j] > 0 { hits[j] += hitCount[j]; lastActive[j] = step }
        }
    }

    /// Whether concept `j` had no top-K hit during the last `window` steps (only once `window` steps were seen).
    func isDead(_ j: Int, window: Int) -> Bool {
        guard let firstStep, step - firstStep + 1 >= window else { return false }
        return lastActive[j] < 0 || step - lastActive[j] >= window
    }

    /// Bias-corrected statistics of every concept.
    func stats(window: Int) -> [ConceptStats] {
        let w = weight > 0 ? weight : 1
        return (0..<count).map { j in
            ConceptStats(index: j, frequency: frequency[j] / w, meanActivation: activation[j] / w, targetMass: mass[j] / w,
                         agreement: agreement[j] / w, hits: hits[j], lastActiveStep: lastActive[j] >= 0 ? lastActive[j] : nil,
                         dead: isDead(j, window: window))
        }
    }

    /// The branch summary.
    func usage(_ branch: ConceptBranch, window: Int) -> BranchUsage {
        let s = stats(window: window)
        let h = Self.entropy(s.map(\.frequency)), ht = Self.entropy(s.map(\.targetMass))
        return BranchUsage(branch: branch, count: count, entropy: h ?? 0, perplexity: h.map { exp($0) } ?? 0,
                           targetPerplexity: ht.map { exp($0) } ?? 0, deadCount: s.filter(\.dead).count, concepts: s)
    }

    /// Entropy in nats of `weights / sum(weights)` (negative weights count as 0); nil when they sum to 0.
    static func entropy(_ weights: [Double]) -> Double? {
        let total = weights.reduce(0) { $0 + Swift.max($1, 0) }
        guard total > 0, total.isFinite else { return nil }
        var h = 0.0
        for w in weights where w > 0 { let p = w / total; h -= p * log(p) }
        return Swift.max(h, 0)
    }
}
