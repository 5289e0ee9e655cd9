import Foundation
import TensorKernels

// Batch normalisation over axis 1 of [N x C x L...] (BatchNorm1d/3d). Training uses the biased batch variance to
// normalise and updates running_var with the unbiased one, as PyTorch does.





/// Batch normalisation over the channel axis (1) of `N x C x ...`.
///
/// In training, normalises with the batch mean and biased variance and updates the running statistics in place:
/// `running = (1 − momentum)·running + momentum·batch` (unbiased variance). In evaluation, uses the running ones.
/// With `replicas` (synchronised batch norm), training statistics are those of every replica's batch together: the
/// per-channel sums are summed across replicas in the forward pass, and so are the backward pass's.
/// `updatingRunningStatistics: false` normalises a training pass with the batch statistics and leaves the running
/// ones as they are (a second pass over a batch whose statistics were taken already).
public func batchNorm(_ x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                      training: Bool, momentum: Scalar = 0.1, eps: Scalar = 1e-5, across replicas: CrossReplica? = nil,
                      updatingRunningStatistics: Bool = true) throws -> Tensor {
    guard x.rank >= 2 else { throw TensorError.shapeMismatch("batchNorm needs N x C x ..., got \(x.shape)") }
    let n = x.shape[0], c = x.shape[1], l = x.count / Swift.max(n * c, 1)
    for (name, t) in [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar)] where t.shape != [c] {
        throw TensorError.shapeMismatch("batchNorm \(name) \(t.shape) for \(c) channels")
    }
    if training && n * l < 2 { throw TensorError.invalidArgument("batchNorm in training needs more than one value per channel, got \(x.shape)") }
    if training, let replicas, replicas.replicas > 1 {
        return synchronizedBatchNorm(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                     momentum: momentum, eps: eps, across: replicas, updatingRunningStatistics: updatingRunningStatistics)
    }
    let mean = TensorStorage(count: c), invstd = TensorStorage(count: c)
    let out = Tensor.result(x.shape, inputs: [x, weight, bias]) { out in
        let dx = x.requiresGrad ? x.gradDestination() : nil
        batchnorm_backward(dx?.pointer, weight.requiresGrad ? weight.gradPointer() : nil,
                           bias.requiresGrad ? bias.gradPointer() : nil, out.gradStorage!.pointer, x.storage.pointer,
                           weight.storage.pointer, mean.pointer, invstd.pointer, n, c, l, training: training,
                           accumulate: dx?.accumulate ?? true)
    }
    if training {
        let unbiased = TensorStorage(count: c)
        batchnorm_forward_train(out.storage.pointer, mean.pointer, invstd.pointer, unbiased.pointer, x.storage.pointer,
                                weight.storage.pointer, bias.storage.pointer, n, c, l, eps)
        if updatingRunningStatistics {
            batchnorm_update_running(runningMean.storage.pointer, runningVar.storage.pointer, mean.pointer, unbiased.pointer, c, momentum)
        }
    } else {
        batchnorm_eval_statistics(mean.pointer, invstd.pointer, runningMean.storage.pointer, runningVar.storage.pointer, c, eps)
        batchnorm_forward_eval(out.storage.pointer, x.storage.pointer, weight.storage.pointer, bias.storage.pointer,
                               runningMean.storage.pointer, runningVar.storage.pointer, n, c, l, eps)
    }
    return out
}

/// `count` per-channel sums written by `fill`, this replica's and every replica's together.
func crossReplicaSums(_ count: Int, across replicas: CrossReplica,
                      _ fill: (UnsafeMutablePointer<Double>) -> Void) -> (local: [Double], global: [Double]) {
    var local = [Double](repeating: 0, count: count)
    local.withUnsafeMutableBufferPointer { fill($0.baseAddress!) }
    var global = local
    global.withUnsafeMutableBufferPointer { replicas.sum($0.baseAddress!, count: count) }
    return (local, global)
}

/// Training batch norm over every replica's batch (see `batchNorm`): the statistics of `replicas · N · L` values per
/// channel, the running statistics updated with them, and dx from the backward sums of every replica.
func synchronizedBatchNorm(_ x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                           momentum: Scalar, eps: Scalar, across replicas: CrossReplica,
                           updatingRunningStatistics: Bool) -> Tensor {
    let n = x.shape[0], c = x.shape[1], l = x.count / Swift.max(n * c, 1)
    let m = n * l * replicas.replicas
    let mean = TensorStorage(count: c), invstd = TensorStorage(count: c), unbiased = TensorStorage(count: c)
    let out = Tensor.result(x.shape, inputs: [x, weight, bias]) { out in
        let dy = out.gradStorage!.pointer
        let (local, global) = crossReplicaSums(2 * c, across: replicas) { batchnorm_sums_backward($0, dy, x.storage.pointer, n, c, l) }
        let dx = x.requiresGrad ? x.gradDestination() : nil
        batchnorm_backward_from_sums(dx?.pointer, weight.requiresGrad ? weight.gradPointer() : nil,
                                     bias.requiresGrad ? bias.gradPointer() : nil, global, local, m, dy, x.storage.pointer,
                                     weight.storage.pointer, mean.pointer, invstd.pointer, n, c, l,
                                     accumulate: dx?.accumulate ?? true)
    }
    let sums = crossReplicaSums(2 * c, across: replicas) { batchnorm_sums_forward($0, x.storage.pointer, n, c, l) }.global
    batchnorm_forward_from_sums(out.storage.pointer, mean.pointer, invstd.pointer, unbiased.pointer, sums, m, x.storage.pointer,
                                weight.storage.pointer, bias.storage.pointer, n, c, l, eps)
    if updatingRunningStatistics {
        batchnorm_update_running(runningMean.storage.pointer, runningVar.storage.pointer, mean.pointer, unbiased.pointer, c, momentum)
    }
    return out
}

/// `batchNormReLU` in training over every replica's batch: the fused kernels with the per-channel sums of the forward
/// and the backward pass summed across replicas.
func synchronizedBatchNormReLU(_ x: Tensor, adding residual: Tensor?, weight: Tensor, bias: Tensor, runningMean: Tensor,
                               runningVar: Tensor, momentum: Scalar, eps: Scalar, across replicas: CrossReplica) throws -> Tensor {
    guard x.rank >= 2 else { throw TensorError.shapeMismatch("batchNormReLU needs N x C x ..., got \(x.shape)") }
    let n = x.shape[0], c = x.shape[1], l = x.count / Swift.max(n * c, 1)
    for (name, t) in [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar)] where t.shape != [c] {
        throw TensorError.shapeMismatch("batchNormReLU \(name) \(t.shape) for \(c) channels")
    }
    let m = n * l * replicas.replicas
    let mean = TensorStorage(uninitializedCount: c), invstd = TensorStorage(uninitializedCount: c)
    let scale = TensorStorage(uninitializedCount: c), shift = TensorStorage(uninitializedCount: c)
    let out = Tensor.result(x.shape, inputs: [x, weight, bias] + (residual.map { [$0] } ?? [])) { out in
        let dz = out.gradStorage!.pointer, z = out.storage.pointer
        let (local, global) = crossReplicaSums(2 * c, across: replicas) { batchnorm_relu_sums_backward($0, dz, z, x.storage.pointer, n, c, l) }
        let dx = x.requiresGrad ? x.gradDestination() : nil
        let dr = (residual?.requiresGrad ?? false) ? residual!.gradDestination() : nil
        batchnorm_relu_backward_from_sums(dx?.pointer, accumulateX: dx?.accumulate ?? true, dr?.pointer,
                                          accumulateR: dr?.accumulate ?? true, weight.requiresGrad ? weight.gradPointer() : nil,
                                          bias.requiresGrad ? bias.gradPointer() : nil, global, local, m, dz, z,
                                          x.storage.pointer, weight.storage.pointer, mean.pointer, invstd.pointer, n, c, l)
    }
    let sums = crossReplicaSums(2 * c, across: replicas) { batchnorm_sums_forward($0, x.storage.pointer, n, c, l) }.global
    let unbiased = TensorStorage(uninitializedCount: c)
    batchnorm_relu_forward_from_sums(out.storage.pointer, scale.pointer, shift.pointer, mean.pointer, invstd.pointer,
                                     unbiased.pointer, sums, m, x.storage.pointer, residual?.storage.pointer,
                                     weight.storage.pointer, bias.storage.pointer, n, c, l, eps)
    batchnorm_update_running(runningMean.storage.pointer, runningVar.storage.pointer, mean.pointer, unbiased.pointer, c, momentum)
    return out
}

// MARK: - batch norm, residual sum and ReLU fused: z = max(bn(x) (+ r), 0)
//
// One pass each way instead of three: neither the batch-norm output nor the sum is stored, and the ReLU's
// gradient dz·(z > 0) is formed on the fly. The reference is the unfused composition (batchnorm_forward_* and
// relu_forward, binary_forward; relu_backward, binary_backward and batchnorm_backward), with which the fused
// kernels agree to rounding (tests: KernelTests).






/// `relu(batchNorm(x) + residual)` (residual optional) as one operation: the same values and gradients as the three
/// operations apart, with one pass over the activations each way instead of three and no intermediate tensors.
/// Arguments and running-statistics updates as in `batchNorm`; `residual` must have x's shape.
/// With `replicas` in training it is the composition over synchronised batch norm.
public func batchNormReLU(_ x: Tensor, adding residual: Tensor? = nil, weight: Tensor, bias: Tensor, runningMean: Tensor,
                          runningVar: Tensor, training: Bool, momentum: Scalar = 0.1, eps: Scalar = 1e-5,
                          across replicas: CrossReplica? = nil) throws -> Tensor {
    if let residual, residual.shape != x.shape {
        throw TensorError.shapeMismatch("batchNormReLU: residual \(residual.shape) for input \(x.shape)")
    }
    if let residual, residual === x {
        // One gradient buffer for both inputs: the composition keeps the accumulation order simple.
        let y = try batchNorm(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                              training: training, momentum: momentum, eps: eps, across: replicas)
        return try y.add(residual).relu()
    }
    if training, let replicas, replicas.replicas > 1 {
        if ReLUTieProbe.current != nil {
            // Verification only (never in a data-parallel job): the composition, whose ReLU the probe watches.
            let y = try batchNorm(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                  training: true, momentum: momentum, eps: eps, across: replicas)
            return try (residual.map { try y.add($0) } ?? y).relu()
        }
        return try synchronizedBatchNormReLU(x, adding: residual, weight: weight, bias: bias, runningMean: runningMean,
                                             runningVar: runningVar, momentum: momentum, eps: eps, across: replicas)
    }
    guard x.rank >= 2 else { throw TensorError.shapeMismatch("batchNormReLU needs N x C x ..., got \(x.shape)") }
    let n = x.shape[0], c = x.shape[1], l = x.count / Swift.max(n * c, 1)
    for (name, t) in [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar)] where t.shape != [c] {
        throw TensorError.shapeMismatch("batchNormReLU \(name) \(t.shape) for \(c) channels")
    }
    if training && n * l < 2 { throw TensorError.invalidArgument("batchNormReLU in training needs more than one value per channel, got \(x.shape)") }
    let mean = TensorStorage(uninitializedCount: c), invstd = TensorStorage(uninitializedCount: c)
    let scale = TensorStorage(uninitializedCount: c), shift = TensorStorage(uninitializedCount: c)
    var flips: [Int] = []
    let out = Tensor.result(x.shape, inputs: [x, weight, bias] + (residual.map { [$0] } ?? [])) { out in
        let dz = out.gradStorage!.pointer, z = out.storage.pointer
        let dx = x.requiresGrad ? x.gradDestination() : nil
        let dr = (residual?.requiresGrad ?? false) ? residual!.gradDestination() : nil
        let dw = weight.requiresGrad ? weight.gradPointer() : nil, db = bias.requiresGrad ? bias.gradPointer() : nil
        if flips.isEmpty {
            batchnorm_relu_backward(dx?.pointer, accumulateX: dx?.accumulate ?? true, dr?.pointer, accumulateR: dr?.accumulate ?? true,
                                    dw, db, dz, z, x.storage.pointer, weight.storage.pointer, mean.pointer, invstd.pointer,
                                    n, c, l, training: training)
        } else {
            // ReLUTieProbe flips (verification only): the ReLU's gradient formed explicitly, with the flipped elements'
            // mask inverted as `relu()` does, then passed through an all-ones mask.
            let g = TensorStorage(uninitializedCount: x.count), ones = TensorStorage(uninitializedCount: x.count)
            relu_backward(g.pointer, dz, z, x.count, accumulate: false)
            for i in flips { g.pointer[i] = z[i] > 0 ? 0 : dz[i] }
            ones.pointer.update(repeating: 1, count: x.count)
            batchnorm_relu_backward(dx?.pointer, accumulateX: dx?.accumulate ?? true, dr?.pointer, accumulateR: dr?.accumulate ?? true,
                                    dw, db, g.pointer, ones.pointer, x.storage.pointer, weight.storage.pointer, mean.pointer,
                                    invstd.pointer, n, c, l, training: training)
            withExtendedLifetime((g, ones)) {}
        }
    }
    let r = residual?.storage.pointer
    if training {
        let unbiased = TensorStorage(uninitializedCount: c)
        batchnorm_relu_forward_train(out.storage.pointer, scale.pointer, shift.pointer, mean.pointer, invstd.pointer, unbiased.pointer,
                                     x.storage.pointer, r, weight.storage.pointer, bias.storage.pointer, n, c, l, eps)
        batchnorm_update_running(runningMean.storage.pointer, runningVar.storage.pointer, mean.pointer, unbiased.pointer, c, momentum)
    } else {
        batchnorm_eval_statistics(mean.pointer, invstd.pointer, runningMean.storage.pointer, runningVar.storage.pointer, c, eps)
        batchnorm_relu_forward_eval(out.storage.pointer, scale.pointer, shift.pointer, x.storage.pointer, r, weight.storage.pointer,
                                    bias.storage.pointer, runningMean.storage.pointer, runningVar.storage.pointer, n, c, l, eps)
    }
    if let probe = ReLUTieProbe.current {
        // The probe sees the ReLU's input, as `relu()` shows it: recomputed here with the same rounding.
        let pre = Tensor(uninitialized: x.shape)
        for ch in 0..<c {
            for i in 0..<n {
                let o = (i * c + ch) * l
                vaffine(pre.storage.pointer + o, x.storage.pointer + o, l, scale.pointer[ch], shift.pointer[ch])
                if let r { for j in 0..<l { pre.storage.pointer[o + j] += r[o + j] } }
            }
        }
        flips = probe.observe(pre)
    }
    return out
}


