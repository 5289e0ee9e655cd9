import Foundation
import Testing
import SeededRandom
import ConceptTestSupport
@testable import Learner

/// Gaussian classes: class `c` has mean `separation * e_c` (first `classes` axes), unit variance everywhere.
func gaussianClasses(rows: Int, dims: Int, classes: Int, separation: Double, rng: inout SeededGenerator) -> (FeatureMatrix, [Int]) {
    var values: [Double] = [], labels: [Int] = []
    for i in 0..<rows {
        let c = i % classes
        labels.append(c)
        for j in 0..<dims { values.append(rng.gaussian() + (j == c ? separation : 0)) }
    }
    return (FeatureMatrix(rows: rows, columns: dims, values: values), labels)
}

@Suite struct LogisticRegressionTests {
    @Test func gradientMatchesFiniteDifferences() {
        var rng = SeededGenerator(seed: 3)
        let (x, y) = gaussianClasses(rows: 30, dims: 5, classes: 4, separation: 1, rng: &rng)
        var objective = LogisticObjective(x: x, labels: y, classes: 4, penalty: 0.3)
        let theta = (0..<objective.dimension).map { _ in rng.gaussian() * 0.5 }
        var gradient = [Double](repeating: 0, count: theta.count)
        let loss = objective.evaluate(theta, gradient: &gradient)
        #expect(abs(loss - objective.lossNaive(theta)) < 1e-12 * max(1, abs(loss)), "BLAS loss \(loss) vs naive \(objective.lossNaive(theta))")
        var worst = 0.0
        var scratch = gradient
        for j in theta.indices {
            let h = 1e-5
            var plus = theta, minus = theta
            plus[j] += h; minus[j] -= h
            let numeric = (objective.evaluate(plus, gradient: &scratch) - objective.evaluate(minus, gradient: &scratch)) / (2 * h)
            worst = max(worst, abs(numeric - gradient[j]) / max(1e-3, abs(numeric) + abs(gradient[j])))
        }
        #expect(worst < 1e-6, "worst relative gradient error \(worst)")
        // A wrong gradient (penalty term left out) is caught by the same comparison.
        var unpenalised = LogisticObjective(x: x, labels: y, classes: 4, penalty: 0)
        var wrong = gradient
        _ = unpenalised.evaluate(theta, gradient: &wrong)
        let j = (0..<(5 * 4)).max { abs(theta[$0]) < abs(theta[$1]) }!    // a weight, where the penalty term is largest
        var plus = theta, minus = theta
        plus[j] += 1e-5; minus[j] -= 1e-5
        let numeric = (objective.evaluate(plus, gradient: &scratch) - objective.evaluate(minus, gradient: &scratch)) / 2e-5
        #expect(abs(numeric - wrong[j]) > 1e-2, "λ θ_j = \(0.3 * theta[j])")
    }

    @Test func dgemmMatchesNaive() {
        var rng = SeededGenerator(seed: 11)
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let m = 7, n = 5, k = 9
            let a = (0..<(m * k)).map { _ in rng.gaussian() }, b = (0..<(k * n)).map { _ in rng.gaussian() }
            var c1 = (0..<(m * n)).map { _ in rng.gaussian() }
            var c2 = c1
            dgemm(ta, tb, m, n, k, 0.7, a, ta ? m : k, b, tb ? k : n, 0.3, &c1, n)
            dgemm_naive(ta, tb, m, n, k, 0.7, a, ta ? m : k, b, tb ? k : n, 0.3, &c2, n)
            #expect(zip(c1, c2).allSatisfy { abs($0 - $1) < 1e-12 }, "transA \(ta) transB \(tb)")
        }
    }

    @Test func separableDataIsLearnedAndTheSolverConverges() {
        var rng = SeededGenerator(seed: 5)
        let (x, y) = gaussianClasses(rows: 300, dims: 20, classes: 3, separation: 8, rng: &rng)
        let (xt, yt) = gaussianClasses(rows: 300, dims: 20, classes: 3, separation: 8, rng: &rng)
        let (model, report) = LogisticRegression.fit(x: x, labels: y, classes: 3, penalty: 1e-3)
        #expect(report.converged, "\(report)")
        #expect(model.accuracy(x, labels: y) == 1)
        #expect(model.accuracy(xt, labels: yt) > 0.99)
        // At the optimum the penalised objective is lower than at any nearby point.
        var objective = LogisticObjective(x: x, labels: y, classes: 3, penalty: 1e-3)
        var g = model.parameters
        let best = objective.evaluate(model.parameters, gradient: &g)
        for _ in 0..<10 {
            let nearby = model.parameters.map { $0 + rng.gaussian() * 0.01 }
            #expect(objective.evaluate(nearby, gradient: &g) > best)
        }
    }

    @Test func overlappingClassesReachTheBayesRate() {
        // Two unit-variance Gaussians at ±0.5 on the first axis (19 more noise axes): the Bayes rate is Φ(0.5) = 0.691.
        var rng = SeededGenerator(seed: 8)
        func draw(_ n: Int) -> (FeatureMatrix, [Int]) {
            var v: [Double] = [], l: [Int] = []
            for i in 0..<n {
                let c = i % 2
                l.append(c)
                for j in 0..<20 { v.append(rng.gaussian() + (j == 0 ? (c == 0 ? -0.5 : 0.5) : 0)) }
            }
            return (FeatureMatrix(rows: n, columns: 20, values: v), l)
        }
        let (x, y) = draw(2000), (xt, yt) = draw(4000)
        let outcome = try! LinearProbe.run(train: x, trainLabels: y, test: xt, testLabels: yt, classes: 2)
        // 4000 test rows: the standard error of an accuracy near 0.69 is 0.0073.
        #expect(abs(outcome.accuracy - 0.6915) < 0.03, "accuracy \(outcome.accuracy)")
        #expect(outcome.report.converged)
    }

    @Test func penaltyChoiceFollowsTheData() throws {
        var rng = SeededGenerator(seed: 21)
        // Clean: well separated classes, many rows, few dimensions → the smallest penalties fit best.
        let (xc, yc) = gaussianClasses(rows: 300, dims: 10, classes: 3, separation: 6, rng: &rng)
        let (xct, yct) = gaussianClasses(rows: 90, dims: 10, classes: 3, separation: 6, rng: &rng)
        let clean = try LinearProbe.run(train: xc, trainLabels: yc, test: xct, testLabels: yct, classes: 3)
        // Noisy and small: a weak signal in 1 of 200 dimensions, 40 rows → strong shrinkage wins.
        let (xn, yn) = gaussianClasses(rows: 40, dims: 200, classes: 2, separation: 1, rng: &rng)
        let (xnt, ynt) = gaussianClasses(rows: 40, dims: 200, classes: 2, separation: 1, rng: &rng)
        let noisy = try LinearProbe.run(train: xn, trainLabels: yn, test: xnt, testLabels: ynt, classes: 2)
        #expect(clean.penalty <= 1e-2, "clean data chose λ = \(clean.penalty), validation losses \(clean.validationLoss)")
        #expect(noisy.penalty >= 1e-1, "noisy data chose λ = \(noisy.penalty), validation losses \(noisy.validationLoss)")
        #expect(noisy.penalty > clean.penalty)
        #expect(clean.accuracy > 0.95)
    }

    @Test func badProbeInputsAreErrors() {
        let x = FeatureMatrix(rows: 2, columns: 1, values: [0, 1])
        #expect(throws: ProbeError.self) { try LinearProbe.run(train: x, trainLabels: [0, 1], test: x, testLabels: [0, 2], classes: 2) }
        #expect(throws: ProbeError.self) { try LinearProbe.run(train: x, trainLabels: [0], test: x, testLabels: [0, 1], classes: 2) }
        #expect(throws: ProbeError.self) {
            try LinearProbe.run(train: x, trainLabels: [0, 1], test: x, testLabels: [0, 1], classes: 2, options: .init(penalties: []))
        }
        let bad = FeatureMatrix(rows: 2, columns: 1, values: [0, .nan])
        #expect(throws: ProbeError.self) { try LinearProbe.run(train: bad, trainLabels: [0, 1], test: x, testLabels: [0, 1], classes: 2) }
    }

    @Test func fitIsFastOnProbeSizedData() throws {
        var rng = SeededGenerator(seed: 2)
        let (x, y) = gaussianClasses(rows: 400, dims: 256, classes: 8, separation: 1.5, rng: &rng)
        let (xt, yt) = gaussianClasses(rows: 150, dims: 256, classes: 8, separation: 1.5, rng: &rng)
        let start = Date()
        let outcome = try LinearProbe.run(train: x, trainLabels: y, test: xt, testLabels: yt, classes: 8)
        let seconds = Date().timeIntervalSince(start)
        print("probe of 400 x 256, 8 classes, \(LinearProbe.Options().penalties.count) penalties + refit: \(String(format: "%.3f", seconds)) s, accuracy \(outcome.accuracy), λ \(outcome.penalty)")
        #expect(seconds < 2.0, "a whole probe (grid of 5 fits and a refit) took \(seconds) s")
    }
}

@Suite struct RetrievalTests {
    @Test func handMadeNeighbours() {
        // Gallery on the unit circle; with the centre at the origin the cosine order is known.
        let gallery = FeatureMatrix([[1, 0], [0, 1], [-1, 0], [0.7, 0.7]])
        let galleryLabels = [0, 1, 2, 1]
        // q0 (label 1): order g0, g3, g1, g2 → first label-1 hit at rank 2.
        // q1 (label 2): nearest g2 → hit at rank 1.   q2 (label 0): nearest g0 → hit at rank 1.
        // q3 (label 3): no gallery row has it → never a hit.
        let queries = FeatureMatrix([[1, 0.1], [-1, -0.2], [0.1, -1], [0, 1]])
        let r = Retrieval.recall(queries: queries, queryLabels: [1, 2, 0, 3], gallery: gallery, galleryLabels: galleryLabels,
                                 ks: [1, 2, 3, 20], centre: [0, 0])
        #expect(r == [0.5, 0.75, 0.75, 0.75])
        // Centred by the gallery mean (0.175, 0.425) the order changes: q0 = (0.825, -0.325) is nearest g0 only.
        let centred = Retrieval.recall(queries: queries, queryLabels: [1, 2, 0, 3], gallery: gallery, galleryLabels: galleryLabels, ks: [1])
        #expect(centred == [0.5])
    }

    @Test func leaveOneOutSkipsTheQueryItself() {
        // Two clips from each of two videos; each clip's nearest other clip is its sibling.
        let x = FeatureMatrix([[1, 0, 0], [0.9, 0.1, 0], [0, 0, 1], [0, 0.1, 0.9]])
        #expect(Retrieval.recallLeaveOneOut(x, labels: [0, 0, 1, 1], ks: [1]) == [1])
        // Swap the labels so each sibling belongs to the other video: R@1 drops to 0, R@3 (all others) is 1.
        #expect(Retrieval.recallLeaveOneOut(x, labels: [0, 1, 1, 0], ks: [1, 3]) == [0, 1])
    }

    @Test func topIndicesAreStableOnTies() {
        let v: [Double] = [0.5, 0.9, 0.5, 0.9, 0.1]
        #expect(Retrieval.topIndices(v[...], count: 3) == [1, 3, 0])
        #expect(Retrieval.topIndices(v[...], count: 10) == [1, 3, 0, 2, 4])
        #expect(Retrieval.topIndices(v[...], count: 2, skip: { $0 == 1 }) == [3, 0])
    }
}

@Suite struct LocalAveragingTests {
    @Test func topTenPercentConceptsAreAveraged() {
        // 2 clips, Ks = Kd = 10, d = 3; local[i, k] = (k, 10 k, i).
        let n = 2, ks = 10, kd = 10, k = ks + kd, d = 3
        var codes = FeatureMatrix(zeros: n, k)
        for c in 0..<k { codes[0, c] = Double(c) * 0.01; codes[1, c] = -Double(c) * 0.01 }
        codes[0, 3] = 0.9; codes[0, 15] = 0.8          // clip 0: top 2 of all 20 are 3 and 15
        codes[1, 12] = 0.5; codes[1, 7] = 0.4          // clip 1: top 2 are 12 and 7
        var local = [Double](repeating: 0, count: n * k * d)
        for i in 0..<n { for c in 0..<k { local[(i * k + c) * d] = Double(c); local[(i * k + c) * d + 1] = Double(10 * c); local[(i * k + c) * d + 2] = Double(i) } }
        let all = ProbeFeatures.topConceptAverage(codes: codes, local: local, dimension: d, columns: 0..<k)
        #expect(all.values == [9, 90, 0, 9.5, 95, 1])
        // Static columns 0..<10: ⌈0.1 · 10⌉ = 1 concept: clip 0 → 3, clip 1 → 7.
        let s = ProbeFeatures.topConceptAverage(codes: codes, local: local, dimension: d, columns: 0..<ks)
        #expect(s.values == [3, 30, 0, 7, 70, 1])
        // Dynamic columns 10..<20: clip 0 → 15, clip 1 → 12.
        let dyn = ProbeFeatures.topConceptAverage(codes: codes, local: local, dimension: d, columns: ks..<k)
        #expect(dyn.values == [15, 150, 0, 12, 120, 1])
    }

    @Test func countIsTheCeilingOfTenPercentAndAtLeastOne() {
        // 30 columns: ⌈0.1 · 30⌉ = 3 (0.1 · 30 is 3.0000000000000004 in floating point); 5 columns: 1.
        for (k, expected) in [(30, 3), (5, 1), (11, 2), (100, 10)] {
            var codes = FeatureMatrix(zeros: 1, k)
            for c in 0..<k { codes[0, c] = Double(k - c) }       // column c ranks c-th
            let local = (0..<k).map { Double($0) }               // d = 1: the concept index itself
            let f = ProbeFeatures.topConceptAverage(codes: codes, local: local, dimension: 1, columns: 0..<k)
            let mean = Double((0..<expected).reduce(0, +)) / Double(expected)
            #expect(abs(f.values[0] - mean) < 1e-12, "K = \(k): expected the mean of the first \(expected) concepts, got \(f.values)")
        }
    }
}
