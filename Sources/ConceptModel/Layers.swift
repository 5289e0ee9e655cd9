import Foundation
import Autograd
import SeededRandom
import TensorKernels

/// Something with named parameters and buffers, in PyTorch `state_dict` order.
public protocol NamedState: AnyObject {
    /// Trainable tensors, names relative to this module.
    func namedParameters() -> [(String, Tensor)]
    /// Batch-norm statistics: running mean/var tensors and the batch counters.
    func namedBuffers() -> [(String, Tensor)]
    /// The batch-norm layers, with their relative names (for `num_batches_tracked`).
    func namedBatchNorms() -> [(String, BatchNormLayer)]
}

extension NamedState {
    public func namedBuffers() -> [(String, Tensor)] {
        namedBatchNorms().flatMap { name, bn in [(name + ".running_mean", bn.runningMean), (name + ".running_var", bn.runningVar)] }
    }
}

/// Prefixes relative names.
func prefixed<T>(_ prefix: String, _ items: [(String, T)]) -> [(String, T)] {
    items.map { (prefix + "." + $0.0, $0.1) }
}

/// A bias-free 3D convolution. Weight `Cout x Cin x kT x kH x kW`, initialised like torchvision's video ResNets:
/// Kaiming normal, fan-out, ReLU gain: `N(0, 2 / (Cout·kT·kH·kW))`.
public final class Conv3dLayer {
    /// `Cout x Cin x kT x kH x kW`.
    public let weight: Tensor
    /// Per-axis stride.
    public let stride: (Int, Int, Int)
    /// Per-axis zero padding.
    public let padding: (Int, Int, Int)

    /// A convolution from `inChannels` to `outChannels`.
    public init(inChannels: Int, outChannels: Int, kernel: (Int, Int, Int), stride: (Int, Int, Int) = (1, 1, 1),
                padding: (Int, Int, Int) = (0, 0, 0), rng: inout SeededGenerator) {
        let fanOut = Scalar(outChannels * kernel.0 * kernel.1 * kernel.2)
        weight = Tensor.normal([outChannels, inChannels, kernel.0, kernel.1, kernel.2], std: (2 / fanOut).squareRoot(), using: &rng)
        self.stride = stride
        self.padding = padding
    }

    /// Applies the convolution.
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try conv3d(x, weight: weight, stride: stride, padding: padding) }
}

/// Batch normalisation over channels (BatchNorm1d/3d): weight 1, bias 0, running mean 0, running var 1.
public final class BatchNormLayer {
    /// γ, `C`.
    public let weight: Tensor
    /// β, `C`.
    public let bias: Tensor
    /// Running mean, `C` (not trained).
    public let runningMean: Tensor
    /// Running variance, `C` (not trained).
    public let runningVar: Tensor
    /// Batches seen in training (PyTorch's `num_batches_tracked`).
    public var numBatchesTracked: Int64 = 0
    /// Momentum of the running statistics.
    public let momentum: Scalar
    /// ε added to the variance.
    public let eps: Scalar
    /// The replicas whose batches share training statistics (synchronised batch norm), or nil for this batch's own.
    public var replicas: CrossReplica?

    /// A batch norm over `channels`.
    public init(channels: Int, momentum: Scalar = 0.1, eps: Scalar = 1e-5) {
        weight = Tensor.filled([channels], 1)
        bias = Tensor(zeros: [channels])
        runningMean = Tensor(zeros: [channels])
        runningVar = Tensor.filled([channels], 1)
        self.momentum = momentum
        self.eps = eps
    }

    /// Normalises with batch statistics (`training`) or running ones. `updatingStatistics: false` leaves the running
    /// statistics and ``numBatchesTracked`` as they are (a second training pass over a batch already counted).
    public func callAsFunction(_ x: Tensor, training: Bool, updatingStatistics: Bool = true) throws -> Tensor {
        if training && updatingStatistics { numBatchesTracked += 1 }
        return try batchNorm(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                             training: training, momentum: momentum, eps: eps, across: replicas,
                             updatingRunningStatistics: updatingStatistics)
    }

    /// `relu(self(x) + residual)` (residual optional) as one fused operation (`batchNormReLU`).
    public func relu(_ x: Tensor, adding residual: Tensor? = nil, training: Bool) throws -> Tensor {
        if training { numBatchesTracked += 1 }
        return try batchNormReLU(x, adding: residual, weight: weight, bias: bias, runningMean: runningMean,
                                 runningVar: runningVar, training: training, momentum: momentum, eps: eps, across: replicas)
    }
}

/// A fully connected layer `y = x·Wᵀ + b`, weight `out x in`, PyTorch's default init `U(−1/√in, 1/√in)`.
public final class LinearLayer {
    /// `out x in`.
    public let weight: Tensor
    /// `out`, or nil.
    public let bias: Tensor?

    /// A layer from `inFeatures` to `outFeatures`.
    public init(inFeatures: Int, outFeatures: Int, bias: Bool = true, rng: inout SeededGenerator) {
        let bound = 1 / Scalar(inFeatures).squareRoot()
        weight = Tensor.uniform([outFeatures, inFeatures], in: -bound...bound, using: &rng)
        self.bias = bias ? Tensor.uniform([outFeatures], in: -bound...bound, using: &rng) : nil
    }

    /// Applies the layer to the last dimension.
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try linear(x, weight: weight, bias: bias) }

    /// Sets the weight to the identity (`out == in`) and the bias to zero, so the layer starts as `y = x`.
    public func setIdentity() {
        let n = weight.shape[0]
        precondition(weight.shape == [n, n], "an identity needs a square weight, got \(weight.shape)")
        let w = weight.storage.pointer
        for i in 0..<n { for j in 0..<n { w[i * n + j] = i == j ? 1 : 0 } }
        if let bias { bias.storage.pointer.update(repeating: 0, count: n) }
    }

    /// `weight` and `bias` with their names.
    public func namedParameters() -> [(String, Tensor)] { [("weight", weight)] + (bias.map { [("bias", $0)] } ?? []) }
}
