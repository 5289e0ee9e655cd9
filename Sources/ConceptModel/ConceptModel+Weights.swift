import Foundation
import Autograd
import SafeTensors
import TensorKernels

/// Weights in and out as safetensors with the spec's (torchvision's) names.
extension ConceptModel {
    /// Every parameter and batch-norm buffer (`running_mean`, `running_var`, `num_batches_tracked` as I64),
    /// named as in PyTorch's `state_dict`, each name prefixed with `prefix`.
    public func stateDict(prefix: String = "") throws -> SafeTensorsFile {
        var file = SafeTensorsFile()
        for (name, t) in namedParameters() + namedBuffers() {
            try file.set(prefix + name, floats: t.floatValues, shape: t.shape)
        }
        for (name, bn) in namedBatchNorms() {
            try file.set(prefix + name + ".num_batches_tracked", int64s: [bn.numBatchesTracked], shape: [])
        }
        return file
    }

    /// Loads tensors named `prefix + name` from `file`.
    ///
    /// - Parameters:
    ///   - only: load just the names starting with this (e.g. `"encoder."` to take a torchvision backbone).
    ///   - strict: every expected name must be present (missing → error listing them).
    ///   - renaming: maps a model name to the file's name before the prefix is applied (e.g. strip `encoder.`).
    /// Shapes and dtypes are checked before anything is copied, so a failed load leaves the model unchanged.
    public func load(from file: SafeTensorsFile, prefix: String = "", only: String = "", strict: Bool = true,
                     renaming: (String) -> String = { $0 }) throws {
        var plan: [(Tensor, [Scalar])] = []
        var counters: [(BatchNormLayer, Int64)] = []
        var missing: [String] = []
        for (name, t) in namedParameters() + namedBuffers() where name.hasPrefix(only) {
            let key = prefix + renaming(name)
            guard file[key] != nil else { missing.append(key); continue }
            let shape = try file.shape(key)
            guard shape == t.shape else { throw ModelError.weights("\(key) has shape \(shape), the model expects \(t.shape)") }
            do { let floats: [Float] = try file.floats(key); plan.append((t, floats.map { Scalar($0) })) } catch { throw ModelError.weights("cannot read \(key)", cause: error) }
        }
        for (name, bn) in namedBatchNorms() where name.hasPrefix(only) {
            let key = prefix + renaming(name) + ".num_batches_tracked"
            if file[key] == nil { if strict { missing.append(key) }; continue }
            do { counters.append((bn, try file.int64s(key).first ?? 0)) } catch { throw ModelError.weights("cannot read \(key)", cause: error) }
        }
        if strict && !missing.isEmpty {
            throw ModelError.weights("missing \(missing.count) tensors: \(missing.prefix(8).joined(separator: ", "))\(missing.count > 8 ? ", ..." : "")")
        }
        for (t, values) in plan { values.withUnsafeBufferPointer { t.storage.pointer.update(from: $0.baseAddress!, count: values.count) } }
        for (bn, n) in counters { bn.numBatchesTracked = n }
    }

    /// Loads torchvision's `r2plus1d_18` state dict (converted to safetensors: keys `stem.0.weight`, `layer1.0...`,
    /// `fc.*` ignored) into the encoder. The backbone knobs must match (the `paper` preset does).
    public func loadTorchvisionEncoder(from file: SafeTensorsFile) throws {
        try load(from: file, only: "encoder.", renaming: { String($0.dropFirst("encoder.".count)) })
    }
}
