import Foundation
import Autograd
import TensorKernels

// The spec's losses, composed from Tensor ops (each op is gradient-checked in AutogradTests).

/// Swapped prediction: `mean_i[ −Σ_k ta·log softmax(qb/τ) − Σ_k tb·log softmax(qa/τ) ]`. Targets are constants.
public func swappedPredictionLoss(_ qa: Tensor, _ qb: Tensor, targetA ta: Tensor, targetB tb: Tensor, tau: Scalar) throws -> Tensor {
    let n = Scalar(qa.shape[0])
    let ab = try qb.scaled(by: 1 / tau).logSoftmax(axis: 1).mul(ta).sum()
    let ba = try qa.scaled(by: 1 / tau).logSoftmax(axis: 1).mul(tb).sum()
    return try ab.add(ba).scaled(by: -1 / n)
}

/// Diversity: `mean_i Σ_x |q_x|₁` over the given code matrices (each `N x K`).
public func diversityLoss(_ codes: [Tensor]) throws -> Tensor {
    let n = Scalar(codes[0].shape[0])
    var total = codes[0].abs().sum()
    for q in codes.dropFirst() { total = try total.add(q.abs().sum()) }
    return total.scaled(by: 1 / n)
}

/// Top-K concept masks: `valid[i,k] = k ∈ topK(a[i]) ∧ k ∈ topK(b[i])`. `a`, `b`: `N x K` → `N x K` of 0/1.
public func topKIntersection(_ a: Tensor, _ b: Tensor, k topK: Int) -> [UInt8] {
    let n = a.shape[0], k = a.shape[1]
    var mask = [UInt8](repeating: 0, count: n * k)
    func top(_ t: Tensor, _ i: Int) -> Set<Int> {
        let row = Array(UnsafeBufferPointer(start: t.storage.pointer + i * k, count: k))
        // Stable: larger value first, then the lower index (as torch.topk on distinct values).
        return Set((0..<k).sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }.prefix(topK))
    }
    for i in 0..<n {
        let common = top(a, i).intersection(top(b, i))
        for j in common { mask[i * k + j] = 1 }
    }
    return mask
}

/// Local contrast `l(A, B, valid)` on unit rows `a = normalize(A)`, `b = normalize(B)` (`N x K x d`): for each valid
/// `(i,k)`, `‖a_ik − b_ik‖² + Σ_{j≠i} max(margin − dist(a_ik, b_jk), 0)²`, `dist = sqrt(max(‖·‖², 1e-12))`;
/// summed over valid pairs and divided by `max(1, #valid)`.
///
/// With `replicas` (data parallel), `j` runs over every replica's batch (B's rows gathered), `#valid` counts every
/// replica's pairs, and the loss is multiplied by the number of replicas, so that the mean of the replicas' gradients
/// is the gradient of the loss over the whole batch.
public func localContrastLoss(_ A: Tensor, _ B: Tensor, valid: [UInt8], margin: Scalar, replicas: CrossReplica? = nil) throws -> Tensor {
    let n = A.shape[0], k = A.shape[1]
    let group = replicas.flatMap { $0.replicas > 1 ? $0 : nil }
    let copies = group?.replicas ?? 1, offset = (group?.replica ?? 0) * n
    var validCount = Scalar(valid.reduce(0) { $0 + Int($1) })
    if let group { group.sumScalars(&validCount, count: 1) }
    let a = try A.normalized(axis: 2), b = try B.normalized(axis: 2)
    let bAll = try group.map { try b.gatheredRows(across: $0) } ?? b
    let nAll = n * copies
    let validNK = try Tensor(valid.map(Scalar.init), shape: [n, k])
    let positive = try a.sub(b).square().sum(axis: 2).mul(validNK).sum()
    // Pairwise distances per concept: G[k,i,j] = a_ik · b_jk; for unit rows ‖a − b‖² = 2 − 2G.
    let g = try matmul(a.transposed(0, 1), bAll.transposed(0, 1), transposeB: true)
    let dist = g.scaled(by: -2).adding(2).sqrt(clampingTo: 1e-12)
    var negMask = [Scalar](repeating: 0, count: k * n * nAll)
    for kk in 0..<k {
        for i in 0..<n where valid[i * k + kk] != 0 { for j in 0..<nAll where j != offset + i { negMask[(kk * n + i) * nAll + j] = 1 } }
    }
    let negative = try dist.reluHinge(margin: margin).square().mul(Tensor(negMask, shape: [k, n, nAll])).sum()
    return try positive.add(negative).scaled(by: Scalar(copies) / Swift.max(1, validCount))
}

/// InfoNCE between `a` and `b` (`N x C`) with a queue of unit rows as extra negatives: logits of row i are
/// `[â_i·b̂_j]_j ++ [â_i·Q_m]_m`, divided by `tau`; the loss is the mean cross-entropy with target i. `extra`
/// (`N x C`) adds one negative per row, `â_i·ê_i` (the time-reversed difference view for `nce_reverse`).
/// With `replicas` (data parallel), `j` runs over every replica's `b` (gathered) and row i's target is its own row in
/// the gathered batch.
public func infoNCELoss(_ a: Tensor, _ b: Tensor, queue: Tensor, tau: Scalar, extra: Tensor? = nil,
                        replicas: CrossReplica? = nil) throws -> Tensor {
    let n = a.shape[0]
    let group = replicas.flatMap { $0.replicas > 1 ? $0 : nil }
    let offset = (group?.replica ?? 0) * n
    let bn = try b.normalized(axis: 1)
    let batchKeys = try group.map { try bn.gatheredRows(across: $0) } ?? bn
    let keys = queue.shape[0] > 0 ? try concat([batchKeys, queue], axis: 0) : batchKeys
    let an = try a.normalized(axis: 1)
    var logits = try matmul(an, keys, transposeB: true)
    if let extra {
        logits = try concat([logits, an.mul(extra.normalized(axis: 1)).sum(axis: 1).reshaped([n, 1])], axis: 1)
    }
    logits = logits.scaled(by: 1 / tau)
    let m = logits.shape[1]
    var eye = [Scalar](repeating: 0, count: n * m)
    for i in 0..<n { eye[i * m + offset + i] = 1 }
    return try logits.logSoftmax(axis: 1).mul(Tensor(eye, shape: [n, m])).sum().scaled(by: -1 / Scalar(n))
}
