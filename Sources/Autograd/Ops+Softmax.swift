import Foundation
import TensorKernels

// Softmax, log-softmax and L2 normalisation along an axis, viewed as [outer x n x inner].



extension Tensor {
    private func softmaxLike(axis: Int, log: Bool) throws -> Tensor {
        let a = try self.axis(axis)
        let (outer, n, inner) = around(a)
        let x = self
        let out = Tensor.result(shape, inputs: [x]) { out in
            softmax_backward(x.gradPointer(), out.gradStorage!.pointer, out.storage.pointer, outer, n, inner, log: log)
        }
        softmax_forward(out.storage.pointer, storage.pointer, outer, n, inner, log: log)
        return out
    }
    /// Softmax along `axis`.
    public func softmax(axis: Int) throws -> Tensor { try softmaxLike(axis: axis, log: false) }
    /// Log-softmax along `axis` (stable: shifts by the maximum).
    public func logSoftmax(axis: Int) throws -> Tensor { try softmaxLike(axis: axis, log: true) }

    /// Divides by the L2 norm along `axis`, clamped below by `eps` (PyTorch's `F.normalize`).
    public func normalized(axis: Int, eps: Scalar = 1e-12) throws -> Tensor {
        let a = try self.axis(axis)
        let (outer, n, inner) = around(a)
        let norms = TensorStorage(count: outer * inner)
        let x = self
        let out = Tensor.result(shape, inputs: [x]) { out in
            normalize_backward(x.gradPointer(), out.gradStorage!.pointer, out.storage.pointer, norms.pointer, outer, n, inner, eps)
        }
        normalize_forward(out.storage.pointer, norms.pointer, storage.pointer, outer, n, inner, eps)
        return out
    }
}

/// Softmax along `axis`.
public func softmax(_ x: Tensor, axis: Int) throws -> Tensor { try x.softmax(axis: axis) }
/// Log-softmax along `axis`.
public func logSoftmax(_ x: Tensor, axis: Int) throws -> Tensor { try x.logSoftmax(axis: axis) }
/// L2-normalises along `axis`.
public func normalize(_ x: Tensor, axis: Int, eps: Scalar = 1e-12) throws -> Tensor { try x.normalized(axis: axis, eps: eps) }
