import Foundation
import Synchronization
import TensorKernels

/// Contiguous Float32 memory, 64-byte aligned. Owns its allocation, or views a range of another storage
/// (parameters view one flat buffer so that zero-grad and SGD are single loops).
public final class TensorStorage: @unchecked Sendable {
    /// First element.
    public let pointer: UnsafeMutablePointer<Scalar>
    /// Number of elements.
    public let count: Int
    private let owner: TensorStorage?

    /// Allocates `count` zero-initialised elements.
    public convenience init(count: Int) {
        self.init(uninitializedCount: count)
        memset(pointer, 0, Swift.max(count, 1) * MemoryLayout<Scalar>.stride)
    }

    /// Allocates `count` elements whose values are unspecified (for outputs a kernel overwrites entirely).
    /// Allocations are recycled through `StoragePool`, so a training step does not page-fault its way through
    /// fresh memory every time.
    public init(uninitializedCount count: Int) {
        precondition(count >= 0, "negative storage size")
        self.pointer = StoragePool.shared.take(count: Swift.max(count, 1))
        self.count = count
        self.owner = nil
    }

    /// A view of `count` elements of `parent` starting at `offset`; keeps the parent alive.
    public init(viewing parent: TensorStorage, offset: Int, count: Int) {
        precondition(offset >= 0 && offset + count <= parent.count, "storage view out of range")
        self.pointer = parent.pointer + offset
        self.count = count
        self.owner = parent
    }

    deinit { if owner == nil { StoragePool.shared.give(pointer, count: Swift.max(count, 1)) } }

    /// The elements as a buffer.
    @inline(__always) public var buffer: UnsafeMutableBufferPointer<Scalar> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }
    /// Sets every element to zero.
    public func zero() { memset(pointer, 0, count * MemoryLayout<Scalar>.stride) }
}

/// A row-major, contiguous Float32 array of any rank, with reverse-mode autograd.
///
/// Video layout is `N x C x T x H x W`, as in PyTorch, so weights map one to one. Operations are free functions
/// (`relu(x)`) mirrored as methods (`x.relu()`); each records a backward closure when gradients are needed.
public final class Tensor: CustomStringConvertible {
    /// The dimensions, outermost first. `[]` is a scalar.
    public let shape: [Int]
    /// The values.
    public internal(set) var storage: TensorStorage
    /// The accumulated gradient, allocated on first use (or bound to a flat gradient buffer for parameters).
    public internal(set) var gradStorage: TensorStorage?
    /// Whether gradients flow to (and through) this tensor.
    public internal(set) var requiresGrad: Bool
    /// The recorded operation that produced this tensor, if any.
    var node: BackwardNode?

    /// A zero-filled tensor.
    public init(zeros shape: [Int], requiresGrad: Bool = false) {
        self.shape = shape
        self.storage = TensorStorage(count: Tensor.elementCount(shape))
        self.requiresGrad = requiresGrad
    }

    /// A tensor whose values are unspecified until written (op outputs).
    init(uninitialized shape: [Int], requiresGrad: Bool = false) {
        self.shape = shape
        self.storage = TensorStorage(uninitializedCount: Tensor.elementCount(shape))
        self.requiresGrad = requiresGrad
    }

    /// A tensor viewing existing storage (shape must match its count).
    public init(storage: TensorStorage, shape: [Int], requiresGrad: Bool = false) {
        precondition(Tensor.elementCount(shape) == storage.count, "shape \(shape) does not match storage of \(storage.count)")
        self.shape = shape
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    /// A tensor holding `values` (count must equal the product of `shape`).
    public convenience init(_ values: [Scalar], shape: [Int], requiresGrad: Bool = false) throws {
        guard values.count == Tensor.elementCount(shape) else {
            throw TensorError.shapeMismatch("\(values.count) values for shape \(shape) (\(Tensor.elementCount(shape)) elements)")
        }
        self.init(zeros: shape, requiresGrad: requiresGrad)
        values.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A tensor from Float32 values (files and media hand over Float32 in both builds).
    public convenience init(floats: [Float], shape: [Int], requiresGrad: Bool = false) throws {
        #if CONCEPT_FLOAT64
        try self.init(floats.map(Scalar.init), shape: shape, requiresGrad: requiresGrad)
        #else
        try self.init(floats, shape: shape, requiresGrad: requiresGrad)
        #endif
    }

    /// The values as Float32 (for files).
    public var floatValues: [Float] {
        #if CONCEPT_FLOAT64
        return values.map(Float.init)
        #else
        return values
        #endif
    }

    /// A scalar tensor.
    public convenience init(scalar: Scalar) {
        self.init(zeros: [])
        storage.pointer[0] = scalar
    }

    /// Number of elements.
    @inline(__always) public var count: Int { storage.count }
    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Values as an array (a copy).
    public var values: [Scalar] { Array(storage.buffer) }
    /// The single value of a one-element tensor.
    public var item: Scalar { storage.pointer[0] }
    /// The gradient as an array (zeros if none was accumulated).
    public var gradValues: [Scalar] { gradStorage.map { Array($0.buffer) } ?? [Scalar](repeating: 0, count: count) }

    /// Product of dimensions.
    public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// Resolves a possibly negative axis.
    func axis(_ a: Int) throws -> Int {
        let r = a < 0 ? a + rank : a
        guard r >= 0 && r < rank else { throw TensorError.invalidArgument("axis \(a) out of range for shape \(shape)") }
        return r
    }

    /// The gradient buffer, allocated zeroed on first use. Backward closures accumulate into it.
    func gradPointer() -> UnsafeMutablePointer<Scalar> {
        if let g = gradStorage { return g.pointer }
        let g = TensorStorage(count: count)
        gradStorage = g
        return g.pointer
    }

    /// The gradient buffer for a backward kernel that covers every element: `accumulate` is true when a gradient
    /// already exists (the kernel must add to it), false when this is the first contribution (the buffer is new and
    /// uninitialised, and the kernel must overwrite all of it). Either way the result equals accumulating into a
    /// zeroed buffer, so backward keeps its accumulate semantics without a zero-fill pass for fresh gradients.
    func gradDestination() -> (pointer: UnsafeMutablePointer<Scalar>, accumulate: Bool) {
        if let g = gradStorage { return (g.pointer, true) }
        let g = TensorStorage(uninitializedCount: count)
        gradStorage = g
        return (g.pointer, false)
    }

    /// Drops any accumulated gradient (parameters bound to a flat buffer are zeroed instead).
    public func zeroGrad() { gradStorage?.zero() }

    /// A copy of the values that is cut off from the graph (PyTorch's `detach().clone()`).
    public func detached() -> Tensor {
        let t = Tensor(zeros: shape)
        t.storage.pointer.update(from: storage.pointer, count: count)
        return t
    }

    /// Marks a leaf tensor as needing gradients.
    public func requiringGrad() -> Tensor { requiresGrad = true; return self }

    public var description: String {
        let head = values.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(count > 8 ? ", ..." : "")])"
    }
}



