// 3D convolution as an autograd op over the kernels in Kernels/Conv3d.swift (sgemm fast path, naive reference).

import TensorKernels

/// 3D convolution of `x` (`N x Cin x T x H x W`) with `weight` (`Cout x Cin x kT x kH x kW`), optional `bias`
/// (`Cout`), per-axis `stride` and zero `padding` (PyTorch's `F.conv3d` without dilation or groups).
public func conv3d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil,
                   stride: (Int, Int, Int) = (1, 1, 1), padding: (Int, Int, Int) = (0, 0, 0)) throws -> Tensor {
    guard x.rank == 5, weight.rank == 5 else {
        throw TensorError.shapeMismatch("conv3d needs 5-d input and weight, got \(x.shape) and \(weight.shape)")
    }
    guard x.shape[1] == weight.shape[1] else {
        throw TensorError.shapeMismatch("conv3d: input has \(x.shape[1]) channels, weight \(weight.shape) expects \(weight.shape[1])")
    }
    if let bias, bias.shape != [weight.shape[0]] {
        throw TensorError.shapeMismatch("conv3d: bias \(bias.shape) for \(weight.shape[0]) output channels")
    }
    let g = Conv3dGeometry(n: x.shape[0], cin: x.shape[1], t: x.shape[2], h: x.shape[3], w: x.shape[4],
                           cout: weight.shape[0], kernel: (weight.shape[2], weight.shape[3], weight.shape[4]),
                           stride: stride, padding: padding)
    do { try g.validate() } catch { throw TensorError.invalidArgument("conv3d: \(error)") }
    let inputs = [x, weight] + (bias.map { [$0] } ?? [])
    let out = Tensor.result([g.n, g.cout, g.to, g.ho, g.wo], inputs: inputs) { out in
        // A fresh input gradient is overwritten by the kernel (unless x is also the weight: one buffer, so add).
        let dinp = !x.requiresGrad ? nil : x === weight ? (pointer: x.gradPointer(), accumulate: true) : x.gradDestination()
        conv3d_backward(dinp: dinp?.pointer,
                        dweight: weight.requiresGrad ? weight.gradPointer() : nil,
                        dbias: (bias?.requiresGrad ?? false) ? bias!.gradPointer() : nil,
                        dout: out.gradStorage!.pointer, inp: x.storage.pointer, weight: weight.storage.pointer, g,
                        accumulateDinp: dinp?.accumulate ?? true)
    }
    conv3d_forward(out.storage.pointer, x.storage.pointer, weight.storage.pointer, bias?.storage.pointer, g)
    return out
}

extension Tensor {
    /// `conv3d(self, weight:bias:stride:padding:)`.
    public func conv3d(weight: Tensor, bias: Tensor? = nil, stride: (Int, Int, Int) = (1, 1, 1),
                       padding: (Int, Int, Int) = (0, 0, 0)) throws -> Tensor {
        try Autograd.conv3d(self, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}
