import Foundation
import Testing
@testable import Autograd
import SafeTensors
import ConceptTestSupport
import TensorKernels

/// conv3d and batch norm, forward and backward, against PyTorch (`bench/make_fixtures.py`: computed in float64,
/// stored as float32): odd sizes, strides 2, padding, batch 1, with and without bias, training and evaluation.
@Suite struct PyTorchFixtureTests {
    static let fixtures: SafeTensorsFile? = {
        guard let url = Bundle.module.url(forResource: "fixtures/ops", withExtension: "safetensors") else { return nil }
        return try? SafeTensorsFile(contentsOf: url)
    }()

    static func triple(_ s: String?) throws -> (Int, Int, Int) {
        let v = (s ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "[] ")).split(separator: ",")
            .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard v.count == 3 else { throw TensorError.invalidArgument("bad triple \(s ?? "nil")") }
        return (v[0], v[1], v[2])
    }

    func tensor(_ f: SafeTensorsFile, _ key: String, grad: Bool = false) throws -> Tensor {
        try Tensor(floats: f.floats(key), shape: f.shape(key), requiresGrad: grad)
    }

    @Test func conv3dMatchesPyTorch() throws {
        let f = try #require(Self.fixtures, "fixtures/ops.safetensors missing from the test bundle")
        let count = try #require(Int(f.metadata["conv.count"] ?? ""))
        #expect(count >= 5)
        for i in 0..<count {
            let p = "conv\(i)."
            let x = try tensor(f, p + "input", grad: true), w = try tensor(f, p + "weight", grad: true)
            let b = f.metadata[p + "has_bias"] == "true" ? try tensor(f, p + "bias", grad: true) : nil
            let y = try conv3d(x, weight: w, bias: b, stride: Self.triple(f.metadata[p + "stride"]), padding: Self.triple(f.metadata[p + "padding"]))
            #expect(y.shape == (try f.shape(p + "output")), "conv\(i) output shape")
            #expect(relativeError(y.values, try f.floats(p + "output"), floor: 1e-6) < 1e-5, "conv\(i) output")
            try y.backward(seed: tensor(f, p + "grad_output"))
            #expect(relativeError(x.gradValues, try f.floats(p + "grad_input"), floor: 1e-6) < 1e-5, "conv\(i) grad_input")
            #expect(relativeError(w.gradValues, try f.floats(p + "grad_weight"), floor: 1e-6) < 1e-5, "conv\(i) grad_weight")
            if let b { #expect(relativeError(b.gradValues, try f.floats(p + "grad_bias"), floor: 1e-6) < 1e-5, "conv\(i) grad_bias") }
        }
    }

    @Test func batchNormMatchesPyTorch() throws {
        let f = try #require(Self.fixtures, "fixtures/ops.safetensors missing from the test bundle")
        let count = try #require(Int(f.metadata["bn.count"] ?? ""))
        #expect(count >= 3)
        for i in 0..<count {
            let p = "bn\(i)."
            let training = f.metadata[p + "training"] == "true"
            let x = try tensor(f, p + "input", grad: true), w = try tensor(f, p + "weight", grad: true), b = try tensor(f, p + "bias", grad: true)
            let rm = try tensor(f, p + "running_mean"), rv = try tensor(f, p + "running_var")
            let momentum = Scalar(f.metadata[p + "momentum"] ?? "") ?? 0.1, eps = Scalar(f.metadata[p + "eps"] ?? "") ?? 1e-5
            let y = try batchNorm(x, weight: w, bias: b, runningMean: rm, runningVar: rv, training: training, momentum: momentum, eps: eps)
            #expect(relativeError(y.values, try f.floats(p + "output"), floor: 1e-6) < 1e-5, "bn\(i) output")
            #expect(relativeError(rm.values, try f.floats(p + "running_mean_after"), floor: 1e-6) < 1e-6, "bn\(i) running_mean")
            #expect(relativeError(rv.values, try f.floats(p + "running_var_after"), floor: 1e-6) < 1e-6, "bn\(i) running_var")
            try y.backward(seed: tensor(f, p + "grad_output"))
            #expect(relativeError(x.gradValues, try f.floats(p + "grad_input"), floor: 1e-6) < 1e-4, "bn\(i) grad_input")
            #expect(relativeError(w.gradValues, try f.floats(p + "grad_weight"), floor: 1e-6) < 1e-5, "bn\(i) grad_weight")
            #expect(relativeError(b.gradValues, try f.floats(p + "grad_bias"), floor: 1e-6) < 1e-5, "bn\(i) grad_bias")
        }
    }
}
