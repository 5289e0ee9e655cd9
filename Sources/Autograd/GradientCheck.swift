import TensorKernels
import SeededRandom

/// Finite-difference check of the gradients of `f` with respect to each of `inputs`.
///
/// Contracts the output with a fixed random tensor `R` (so every output element matters), back-propagates
/// `Σ f(x)·R`, and compares each input's gradient with central differences `(L(x+h) − L(x−h)) / 2h` on up to
/// `maxElements` elements per input. Returns, per input, `‖numeric − analytic‖ / max(‖numeric‖, ‖analytic‖, 1e-6)`.

public func gradientCheck(_ inputs: [Tensor], step h: Scalar = 1e-2, maxElements: Int = 48, seed: UInt64 = 1,
                          _ f: ([Tensor]) throws -> Tensor) throws -> [Double] {
    var rng = SeededGenerator(seed: seed)
    for x in inputs { x.requiresGrad = true; x.gradStorage = nil }
    let out = try f(inputs)
    let r = Tensor.uniform(out.shape, in: -1...1, using: &rng)
    let loss = try out.mul(r).sum()
    try loss.backward()
    func evaluate() throws -> Double {
        try GradMode.withNoGrad {
            let y = try f(inputs)
            var s: Double = 0
            for i in 0..<y.count { s += Double(y.storage.pointer[i]) * Double(r.storage.pointer[i]) }
            return s
        }
    }
    var errors: [Double] = []
    for x in inputs {
        let analytic = x.gradValues
        var picks = Array(0..<x.count)
        if picks.count > maxElements {
            picks.shuffle(using: &rng)
            picks = Array(picks.prefix(maxElements))
        }
        var diff: Double = 0, nn: Double = 0, na: Double = 0
        let p = x.storage.pointer
        for i in picks {
            let saved = p[i]
            p[i] = saved + h
            let plus = try evaluate()
            p[i] = saved - h
            let minus = try evaluate()
            p[i] = saved
            let numeric = (plus - minus) / (2 * Double(h))
            let a = Double(analytic[i])
            diff += (numeric - a) * (numeric - a); nn += numeric * numeric; na += a * a
        }
        errors.append(diff.squareRoot() / Swift.max(nn.squareRoot(), na.squareRoot(), 1e-6))
    }
    return errors
}
