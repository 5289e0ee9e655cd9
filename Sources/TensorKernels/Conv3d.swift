// 3D convolution (no dilation, no groups) in PyTorch layout, llm.c style: a `_forward` / `_backward` pair of
// fast kernels (OpenBLAS sgemm with im2col/col2im or shifted GEMMs, Conv3d+Fast.swift) next to a naive
// reference pair (Conv3d+Naive.swift).
//
//   inp    N x Cin  x T  x H  x W
//   weight Cout x Cin x kT x kH x kW
//   bias   Cout
//   out    N x Cout x To x Ho x Wo,   To = (T + 2 pT - kT) / sT + 1 (likewise Ho, Wo)

/// Geometry of a 3D convolution: input N x Cin x T x H x W (row-major, contiguous, PyTorch layout),
/// weight Cout x Cin x kT x kH x kW, output N x Cout x To x Ho x Wo. No dilation, no groups.
public struct Conv3dGeometry: Sendable, Hashable {
    /// Batch size, input channels and input extent (frames, height, width).
    public var n, cin, t, h, w: Int
    /// Output channels and kernel extent (frames, height, width).
    public var cout, kt, kh, kw: Int
    /// Strides along T, H, W.
    public var st, sh, sw: Int
    /// Zero padding along T, H, W (applied on both sides).
    public var pt, ph, pw: Int

    /// A geometry from the input shape, the number of output channels, the kernel, stride and padding as (T, H, W).
    public init(n: Int, cin: Int, t: Int, h: Int, w: Int, cout: Int,
                kernel: (Int, Int, Int), stride: (Int, Int, Int) = (1, 1, 1), padding: (Int, Int, Int) = (0, 0, 0)) {
        self.n = n; self.cin = cin; self.t = t; self.h = h; self.w = w
        self.cout = cout; (kt, kh, kw) = kernel
        (st, sh, sw) = stride
        (pt, ph, pw) = padding
    }

    /// Output frames; 0 when the geometry is invalid (see `validate()`).
    public var to: Int { Self.outputExtent(t, kt, st, pt) }
    /// Output height; 0 when the geometry is invalid.
    public var ho: Int { Self.outputExtent(h, kh, sh, ph) }
    /// Output width; 0 when the geometry is invalid.
    public var wo: Int { Self.outputExtent(w, kw, sw, pw) }

    /// Forward floating-point operations: 2 * N*Cout*To*Ho*Wo * Cin*kT*kH*kW (backward costs twice that).
    public var flops: Double {
        2 * Double(n) * Double(cout) * Double(to) * Double(ho) * Double(wo) * Double(cin) * Double(kt) * Double(kh) * Double(kw)
    }

    /// Elements of the input, N*Cin*T*H*W.
    public var inputCount: Int { n &* cin &* t &* h &* w }
    /// Elements of the weight, Cout*Cin*kT*kH*kW.
    public var weightCount: Int { cout &* cin &* kt &* kh &* kw }
    /// Elements of the output, N*Cout*To*Ho*Wo.
    public var outputCount: Int { n &* cout &* to &* ho &* wo }

    /// Checks that the kernels can run on this geometry: positive sizes and strides, non-negative padding,
    /// a kernel no larger than the padded input, and element counts that fit in an `Int32` GEMM dimension.
    public func validate() throws(Conv3dGeometryError) {
        let sizes = [("n", n), ("cin", cin), ("t", t), ("h", h), ("w", w), ("cout", cout),
                     ("kt", kt), ("kh", kh), ("kw", kw)]
        for (name, v) in sizes where v <= 0 {
            throw .nonPositiveSize("conv3d: \(name) must be positive, got \(v) (\(self))")
        }
        for (name, v) in [("st", st), ("sh", sh), ("sw", sw)] where v <= 0 {
            throw .nonPositiveStride("conv3d: stride \(name) must be positive, got \(v) (\(self))")
        }
        for (name, v) in [("pt", pt), ("ph", ph), ("pw", pw)] where v < 0 {
            throw .negativePadding("conv3d: padding \(name) must be non-negative, got \(v) (\(self))")
        }
        for (axis, i, k, p) in [("T", t, kt, pt), ("H", h, kh, ph), ("W", w, kw, pw)] {
            let (padded, o1) = i.addingReportingOverflow(2 &* p)
            if o1 || p > Int.max / 4 { throw .tooLarge("conv3d: padding along \(axis) overflows (\(self))") }
            if k > padded {
                throw .kernelLargerThanPaddedInput(
                    "conv3d: kernel \(k) along \(axis) is larger than the padded input \(i) + 2*\(p) = \(padded) (\(self))")
            }
        }
        // Every matrix the kernels hand to sgemm has dimensions and leading dimensions bounded by these counts.
        var counts: [Int] = []
        for dims in [[n, cin, t, h, w], [cout, cin, kt, kh, kw], [n, cout, to, ho, wo], [cin, kt, kh, kw, n, to, ho, wo]] {
            var c = 1
            for d in dims {
                let (r, o) = c.multipliedReportingOverflow(by: d)
                if o { throw .tooLarge("conv3d: element count overflows (\(self))") }
                c = r
            }
            counts.append(c)
        }
        if counts[0] > Int(Int32.max) || counts[2] > Int(Int32.max) || cin * kt * kh * kw > Int(Int32.max) {
            throw .tooLarge("conv3d: tensors larger than \(Int32.max) elements are not supported (\(self))")
        }
    }

    private static func outputExtent(_ i: Int, _ k: Int, _ s: Int, _ p: Int) -> Int {
        guard s > 0, k > 0, i > 0, p >= 0, p <= Int.max / 4, i <= Int.max / 2, i + 2 * p >= k else { return 0 }
        return (i + 2 * p - k) / s + 1
    }
}

extension Conv3dGeometry: CustomStringConvertible {
    /// E.g. `conv3d(8x3x8x64x64 -> 11, k 1x7x7, s 1x2x2, p 0x3x3)`.
    public var description: String {
        "conv3d(\(n)x\(cin)x\(t)x\(h)x\(w) -> \(cout), k \(kt)x\(kh)x\(kw), s \(st)x\(sh)x\(sw), p \(pt)x\(ph)x\(pw))"
    }
}

/// A geometry that the conv3d kernels cannot run on; thrown by `Conv3dGeometry.validate()`.
/// Compare with the static members (`error == .kernelLargerThanPaddedInput`) to tell the kinds apart.
public struct Conv3dGeometryError: Error, Hashable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case nonPositiveSize, nonPositiveStride, negativePadding, kernelLargerThanPaddedInput, tooLarge
    }

    private let code: Code
    /// What is wrong, with the offending geometry.
    public let message: String

    private init(_ code: Code, _ message: String) { self.code = code; self.message = message }

    /// A batch, channel, input or kernel size is zero or negative.
    public static let nonPositiveSize = Self(.nonPositiveSize, "non-positive size")
    /// A stride is zero or negative.
    public static let nonPositiveStride = Self(.nonPositiveStride, "non-positive stride")
    /// A padding is negative.
    public static let negativePadding = Self(.negativePadding, "negative padding")
    /// The kernel does not fit in the zero-padded input along some axis.
    public static let kernelLargerThanPaddedInput = Self(.kernelLargerThanPaddedInput, "kernel larger than padded input")
    /// The tensors are too large for the kernels' index arithmetic or for sgemm's 32-bit dimensions.
    public static let tooLarge = Self(.tooLarge, "too large")

    static func nonPositiveSize(_ m: String) -> Self { Self(.nonPositiveSize, m) }
    static func nonPositiveStride(_ m: String) -> Self { Self(.nonPositiveStride, m) }
    static func negativePadding(_ m: String) -> Self { Self(.negativePadding, m) }
    static func kernelLargerThanPaddedInput(_ m: String) -> Self { Self(.kernelLargerThanPaddedInput, m) }
    static func tooLarge(_ m: String) -> Self { Self(.tooLarge, m) }

    /// Errors of the same kind are equal, whatever their message.
    public static func == (a: Self, b: Self) -> Bool { a.code == b.code }
    /// Hashes the kind only, consistent with `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
    /// The message.
    public var description: String { message }
}
