import TensorKernels

/// A recorded operation: its inputs and the closure that, given the output (whose gradient is complete),
/// accumulates into the inputs' gradients.

struct BackwardNode {
    let inputs: [Tensor]
    let backward: (Tensor) -> Void
}

/// Whether operations record a graph. Off inside `withNoGrad` (evaluation, Sinkhorn targets, statistics).
public enum GradMode {
    @TaskLocal static var isEnabled = true

    /// Runs `body` without recording a graph.
    public static func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
        try $isEnabled.withValue(false) { try body() }
    }
}

extension Tensor {
    /// Creates an op's output and, when any input needs gradients, records `backward` for it.
    /// `backward` receives the output; it reads `out.gradStorage` and accumulates into the inputs.
    static func result(_ shape: [Int], inputs: [Tensor], backward: @escaping (Tensor) -> Void) -> Tensor {
        let needs = GradMode.isEnabled && inputs.contains { $0.requiresGrad }
        let out = Tensor(uninitialized: shape, requiresGrad: needs)
        if needs { out.node = BackwardNode(inputs: inputs, backward: backward) }
        return out
    }

    /// Back-propagates from this tensor: seeds d(self)/d(self) = 1 (or `seed`, same shape) and accumulates
    /// gradients into every tensor that requires them. The recorded graph is released afterwards.
    public func backward(seed: Tensor? = nil) throws {
        guard requiresGrad else { throw TensorError.invalidArgument("backward() on a tensor that does not require gradients") }
        if let seed {
            guard seed.shape == shape else { throw TensorError.shapeMismatch("seed \(seed.shape) for output \(shape)") }
            let g = gradPointer()
            for i in 0..<count { g[i] += seed.storage.pointer[i] }
        } else {
            guard count == 1 else { throw TensorError.invalidArgument("backward() without a seed needs a scalar, got \(shape)") }
            gradPointer()[0] += 1
        }
        // Iterative post-order DFS: a node comes after everything it depends on.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            if !visited.insert(ObjectIdentifier(t)).inserted { continue }
            stack.append((t, true))
            if let node = t.node {
                for input in node.inputs where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
                    stack.append((input, false))
                }
            }
        }
        for t in order.reversed() {
            guard let node = t.node else { continue }
            if t.gradStorage != nil { node.backward(t) }
            t.node = nil
            // Intermediate gradients are no longer needed once passed on.
            t.gradStorage = nil
        }
    }
}
