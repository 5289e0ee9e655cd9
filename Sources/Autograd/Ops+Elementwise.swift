import Foundation
import TensorKernels

// Element-wise operations. Each forward sits next to its backward; backward accumulates (+=).

// MARK: - unary kernels


extension Tensor {
    /// Applies `f` element-wise; backward multiplies the incoming gradient by `df(x, y)`.
    fileprivate func unary(_ f: (Scalar) -> Scalar, _ df: @escaping (Scalar, Scalar) -> Scalar) -> Tensor {
        let x = self
        let out = Tensor.result(shape, inputs: [x]) { out in
            let dy = out.gradStorage!.pointer, xp = x.storage.pointer, yp = out.storage.pointer, dx = x.gradPointer()
            for i in 0..<x.count { dx[i] += dy[i] * df(xp[i], yp[i]) }
        }
        let xp = storage.pointer, yp = out.storage.pointer
        for i in 0..<count { yp[i] = f(xp[i]) }
        return out
    }

    /// max(x, 0).
    public func relu() -> Tensor {
        let x = self
        let flips = ReLUTieProbe.current?.observe(x) ?? []
        let out = Tensor.result(shape, inputs: [x]) { out in
            let (dx, accumulate) = x.gradDestination()
            let dy = out.gradStorage!.pointer, y = out.storage.pointer
            relu_backward(dx, dy, y, x.count, accumulate: accumulate)
            for i in flips { dx[i] += y[i] > 0 ? -dy[i] : dy[i] }
        }
        relu_forward(out.storage.pointer, storage.pointer, count)
        return out
    }
    /// |x| (subgradient 0 at 0).
    public func abs() -> Tensor { unary({ Swift.abs($0) }, { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) }) }
    /// x².
    public func square() -> Tensor { unary({ $0 * $0 }, { x, _ in 2 * x }) }
    /// sqrt(max(x, minimum)); the gradient is zero where x < minimum.
    public func sqrt(clampingTo minimum: Scalar) -> Tensor {
        unary({ Foundation.sqrt(Swift.max($0, minimum)) }, { x, y in x >= minimum ? 0.5 / y : 0 })
    }
    /// eˣ.
    public func exp() -> Tensor { unary({ Foundation.exp($0) }, { _, y in y }) }
    /// ln x.
    public func log() -> Tensor { unary({ Foundation.log($0) }, { x, _ in 1 / x }) }
    /// c·x.
    public func scaled(by c: Scalar) -> Tensor { unary({ $0 * c }, { _, _ in c }) }
    /// x + c.
    public func adding(_ c: Scalar) -> Tensor { unary({ $0 + c }, { _, _ in 1 }) }
    /// max(margin − x, 0): the hinge used by margin losses.
    public func reluHinge(margin: Scalar) -> Tensor {
        unary({ Swift.max(margin - $0, 0) }, { x, _ in margin - x > 0 ? -1 : 0 })
    }
}

/// max(x, 0).
public func relu(_ x: Tensor) -> Tensor { x.relu() }
/// |x|.
public func abs(_ x: Tensor) -> Tensor { x.abs() }
/// x².
public func square(_ x: Tensor) -> Tensor { x.square() }
/// eˣ.
public func exp(_ x: Tensor) -> Tensor { x.exp() }
/// ln x.
public func log(_ x: Tensor) -> Tensor { x.log() }

// MARK: - binary, with the second operand broadcast over leading dimensions

/// Checks that `b`'s shape is a suffix of `a`'s and returns how many times `b` repeats.
func broadcastRepeats(_ a: [Int], _ b: [Int], _ op: String) throws -> Int {
    guard b.count <= a.count, Array(a.suffix(b.count)) == b else {
        throw TensorError.shapeMismatch("\(op): \(b) does not broadcast to \(a) (it must be a trailing part of it)")
    }
    return Tensor.elementCount(Array(a.prefix(a.count - b.count)))
}



extension Tensor {
    fileprivate func binary(_ other: Tensor, _ kind: BinaryKind, _ name: String) throws -> Tensor {
        let a = self, b = other
        let reps = try broadcastRepeats(a.shape, b.shape, name)
        let m = b.count
        let out = Tensor.result(shape, inputs: [a, b]) { out in
            let da = a.requiresGrad ? a.gradDestination() : nil
            binary_backward(da?.pointer, b.requiresGrad ? b.gradPointer() : nil,
                            out.gradStorage!.pointer, a.storage.pointer, b.storage.pointer, reps, m, kind,
                            accumulateA: da?.accumulate ?? true)
        }
        binary_forward(out.storage.pointer, a.storage.pointer, b.storage.pointer, reps, m, kind)
        return out
    }
    /// self + other; `other` may have a trailing part of this shape and is then repeated.
    public func add(_ other: Tensor) throws -> Tensor { try binary(other, .add, "add") }
    /// self − other (broadcast as in `add`).
    public func sub(_ other: Tensor) throws -> Tensor { try binary(other, .sub, "sub") }
    /// self · other element-wise (broadcast as in `add`). With a constant 0/1 `other` this is the mask multiply.
    public func mul(_ other: Tensor) throws -> Tensor { try binary(other, .mul, "mul") }
}

/// a + b (b broadcast over a's leading dimensions).
public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor { try a.add(b) }
/// a − b.
public func sub(_ a: Tensor, _ b: Tensor) throws -> Tensor { try a.sub(b) }
/// a · b element-wise.
public func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor { try a.mul(b) }

/// A verification hook for comparing with a reference computed from unrounded inputs: records ReLU inputs within
/// `threshold` of the kink (where the reference's own input rounding decides the side) and flips the gradient mask
/// of chosen ones. Active only inside `ReLUTieProbe.$current.withValue(probe) { ... }`; nil in production.
public final class ReLUTieProbe: @unchecked Sendable {
    /// One ReLU input element: the ReLU call in execution order and the element's index.
    public struct Tie: Hashable, Sendable, CustomStringConvertible {
        public let call: Int
        public let element: Int
        public let input: Scalar
        public init(call: Int, element: Int, input: Scalar) { self.call = call; self.element = element; self.input = input }
        public func hash(into h: inout Hasher) { h.combine(call); h.combine(element) }
        public static func == (a: Tie, b: Tie) -> Bool { a.call == b.call && a.element == b.element }
        public var description: String { "relu #\(call)[\(element)] = \(input)" }
    }
    /// The probe in effect for the current task.
    @TaskLocal public static var current: ReLUTieProbe?
    /// |x| below which an input counts as a tie.
    public let threshold: Scalar
    /// Elements whose gradient mask is inverted.
    public let flips: Set<Tie>
    /// Ties seen so far.
    public private(set) var ties: [Tie] = []
    private var calls = 0

    /// A probe recording ties below `threshold` and flipping `flips`.
    public init(threshold: Scalar, flips: Set<Tie> = []) { self.threshold = threshold; self.flips = flips }

    func observe(_ x: Tensor) -> [Int] {
        let call = calls
        calls += 1
        let p = x.storage.pointer
        for i in 0..<x.count where Swift.abs(p[i]) < threshold { ties.append(Tie(call: call, element: i, input: p[i])) }
        return flips.filter { $0.call == call }.map(\.element)
    }
}
