import TensorKernels

/// The trainable parameters of a model in one flat value buffer and one flat gradient buffer.
///
/// Each parameter tensor is rebound to view its slice of both buffers, so zeroing gradients and the optimiser
/// update are single loops over `values` and `grads`. Order is the order given (the model's name order).

public final class ParameterSet {
    /// Parameter names, in buffer order.
    public let names: [String]
    /// The parameter tensors (their storage views `values`).
    public let tensors: [Tensor]
    /// Offset of each parameter in the flat buffers.
    public let offsets: [Int]
    /// All parameter values.
    public let values: TensorStorage
    /// All gradients.
    public let grads: TensorStorage

    /// Moves `parameters` into flat buffers (copying their current values) and marks them as requiring gradients.
    public init(_ parameters: [(String, Tensor)]) {
        names = parameters.map(\.0)
        tensors = parameters.map(\.1)
        var offs: [Int] = []
        var total = 0
        for (_, t) in parameters { offs.append(total); total += t.count }
        offsets = offs
        values = TensorStorage(count: total)
        grads = TensorStorage(count: total)
        for (i, t) in tensors.enumerated() {
            let v = TensorStorage(viewing: values, offset: offs[i], count: t.count)
            v.pointer.update(from: t.storage.pointer, count: t.count)
            t.storage = v
            t.gradStorage = TensorStorage(viewing: grads, offset: offs[i], count: t.count)
            t.requiresGrad = true
        }
    }

    /// Total number of scalars.
    public var count: Int { values.count }
    /// Zeroes every gradient (one memset).
    public func zeroGrad() { grads.zero() }
    /// The parameter called `name`.
    public subscript(name: String) -> Tensor? { names.firstIndex(of: name).map { tensors[$0] } }
    /// The global L2 norm of the gradients, `‖grads‖` (summed in Double, split over the cores).
    public var gradientNorm: Scalar { Scalar(sum_of_squares(grads.pointer, grads.count).squareRoot()) }

    /// Whether every gradient is finite.
    public var gradientsAreFinite: Bool { all_finite(grads.pointer, grads.count) }
}

/// Stochastic gradient descent with momentum and weight decay, PyTorch's rule, over a flat buffer:
/// `g' = g + wd·p;  buf = momentum·buf + g'` (first step: `buf = g'`);  `p −= lr·buf`.
public struct SGD {
    /// Learning rate.
    public var learningRate: Scalar
    /// Momentum factor.
    public var momentum: Scalar
    /// L2 weight decay, applied to every parameter.
    public var weightDecay: Scalar
    /// The momentum buffer, one entry per parameter scalar (empty until the first step).
    public private(set) var momentumBuffer: [Scalar]
    /// Number of steps taken.
    public private(set) var steps: Int = 0

    /// An optimiser with the given hyper-parameters (spec defaults: 0.01, 0.9, 1e-4).
    public init(learningRate: Scalar = 0.01, momentum: Scalar = 0.9, weightDecay: Scalar = 1e-4) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.momentumBuffer = []
    }

    /// Applies one update to `parameters` from their gradients. Parameters named in `frozen` are left untouched
    /// (no decay, no momentum), as PyTorch skips parameters whose gradient is `None`. A momentum entry that was
    /// never updated is zero, so its first update gives `buf = g'` as PyTorch's lazily created buffer does.
    public mutating func step(_ parameters: ParameterSet, frozen: Set<String> = []) {
        let n = parameters.count
        if momentumBuffer.count != n { momentumBuffer = [Scalar](repeating: 0, count: n) }
        let active = parameters.names.indices.filter { !frozen.contains(parameters.names[$0]) }
            .map { parameters.offsets[$0] ..< parameters.offsets[$0] + parameters.tensors[$0].count }
        momentumBuffer.withUnsafeMutableBufferPointer { buf in
            sgd_update(parameters.values.pointer, parameters.grads.pointer, buf.baseAddress!, n, active: active,
                       lr: learningRate, momentum: momentum, weightDecay: weightDecay)
        }
        steps += 1
    }

    /// Restores the momentum buffer and step count (from a snapshot).
    public mutating func restore(momentumBuffer: [Scalar], steps: Int) {
        self.momentumBuffer = momentumBuffer
        self.steps = steps
    }
}
