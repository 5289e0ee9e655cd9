import ArgumentParser
import CBLAS
import Foundation
import Autograd
import TensorKernels

/// `concept-bench conv`: forward and backward GFLOP/s of every distinct conv3d shape of the R(2+1)D backbone,
/// against the sgemm peak measured in the same run.
struct ConvBench: ParsableCommand {
    enum Preset: String, ExpressibleByArgument, CaseIterable { case tiny, paper, all }
    enum Grads: String, ExpressibleByArgument, CaseIterable { case all, dinp, dweight }

    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Time the conv3d kernels on every distinct conv shape of the tiny and paper presets.")

    @Option(help: "Tiny preset batch (the backbone sees 3 views, so 3 x batch clips).")
    var tinyBatch = 8
    @Option(help: "Paper preset batch (3 x batch clips of 16 x 112 x 112).")
    var paperBatch = 2
    @Option(help: "Presets to run: tiny, paper or all.")
    var preset: Preset = .all
    @Option(help: "Minimum seconds spent timing each kernel call (best time is reported).")
    var seconds = 0.25
    @Flag(help: "Also time the naive kernels (tiny preset, on one clip, scaled by the clip count) for speedups.")
    var naive = false
    @Option(help: "Only shapes whose conv name contains this text (and no network total).")
    var filter: String?
    @Flag(help: "Time with this thread's CPU time instead of wall time (compares single-threaded variants on a busy machine: OPENBLAS_NUM_THREADS=1 CONV3D_WORKERS=1).")
    var cpuTime = false
    @Option(help: "Backward computes: all (the step's gradients), dinp (input only) or dweight (weight only).")
    var grads: Grads = .all

    func validate() throws {
        guard tinyBatch > 0, paperBatch > 0 else { throw ValidationError("batches must be positive") }
        guard seconds >= 0, seconds.isFinite else { throw ValidationError("--seconds must be >= 0") }
    }

    func run() throws {
        benchClock = cpuTime ? .threadCPU : .wall
        print("# concept-bench conv")
        print("OpenBLAS core \(String(cString: openblas_get_corename())), \(openblas_get_num_threads()) threads, "
              + "\(ProcessInfo.processInfo.activeProcessorCount) CPUs; OPENBLAS_CORETYPE="
              + "\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)")")
        let peak = sgemmPeak()
        print(String(format: "sgemm peak (2048^3, best of 5): %.1f GFLOP/s", peak / 1e9))
        if preset != .paper {
            let tiny = R2Plus1DConvs(widths: [16, 32, 64, 128], stem: 11, blocks: [2, 2, 2, 2],
                                     clips: 3 * tinyBatch, frames: 8, size: 64)
            let total = try table("tiny preset: widths 16,32,64,128, stem 11, \(tiny.clips) clips of 3x8x64x64", tiny,
                              peak: peak, naive: naive)
            if filter == nil {
                let step = networkStep(tiny)
                print(String(format: "\ntotal, tiny step (all convs fwd+bwd, %d clips): %.1f ms measured in network "
                             + "order (best of 3), %.1f ms as the sum of the per-shape bests, %.1f GFLOP -> %.1f GFLOP/s",
                             tiny.clips, step * 1e3, total.seconds * 1e3, total.flops / 1e9, total.flops / step / 1e9))
            }
        }
        if preset != .tiny {
            let paper = R2Plus1DConvs(widths: [64, 128, 256, 512], stem: 45, blocks: [2, 2, 2, 2],
                                      clips: 3 * paperBatch, frames: 16, size: 112)
            let total = try table("paper preset: widths 64,128,256,512, stem 45, \(paper.clips) clips of 3x16x112x112",
                              paper, peak: peak, naive: false)
            print(String(format: "\ntotal, paper step (all convs fwd+bwd, %d clips): %.1f ms as the sum of the per-shape "
                         + "bests, %.1f GFLOP -> %.1f GFLOP/s",
                         paper.clips, total.seconds * 1e3, total.flops / 1e9, total.flops / total.seconds / 1e9))
        }
    }

    /// Prints one row per distinct shape; returns the whole network's time (count-weighted sum of bests) and flops.
    private func table(_ title: String, _ net: R2Plus1DConvs, peak: Double, naive: Bool) throws
        -> (seconds: Double, flops: Double)
    {
        print("\n## \(title)\n")
        print("| conv (first of) | x | shape | GFLOP fwd | fwd ms | fwd GFLOP/s | fwd % peak | bwd ms | bwd GFLOP/s | bwd % peak |"
              + (naive ? " naive fwd ms | fwd speedup | naive bwd ms | bwd speedup |" : ""))
        print("|---|---|---|---|---|---|---|---|---|---|" + (naive ? "---|---|---|---|" : ""))
        var total = 0.0, flops = 0.0
        for (layer, count) in net.distinct where filter.map({ layer.name.contains($0) }) ?? true {
            let g = layer.g
            try g.validate()
            let buffers = ConvBuffers(g)
            defer { buffers.free() }
            let fwd = best(seconds) { conv3d_forward(buffers.out, buffers.inp, buffers.weight, nil, g) }
            let bwd = best(seconds) {
                conv3d_backward(dinp: layer.inputGrad && grads != .dweight ? buffers.dinp : nil,
                                dweight: grads == .dinp ? nil : buffers.dweight, dbias: nil,
                                dout: buffers.dout, inp: buffers.inp, weight: buffers.weight, g)
            }
            let bwdFlops = g.flops * (layer.inputGrad && grads == .all ? 2 : 1)
            total += Double(count) * (fwd + bwd)
            flops += Double(count) * (g.flops + bwdFlops)
            var row = String(format: "| %@ | %d | %@ | %.3f | %.2f | %.1f | %.0f%% | %.2f | %.1f | %.0f%% |",
                             layer.name, count, layer.shape, g.flops / 1e9, fwd * 1e3, g.flops / fwd / 1e9,
                             100 * g.flops / fwd / peak, bwd * 1e3, bwdFlops / bwd / 1e9, 100 * bwdFlops / bwd / peak)
            if naive {
                var one = g
                one.n = 1
                let b1 = ConvBuffers(one)
                defer { b1.free() }
                let nf = best(0) { conv3d_forward_naive(b1.out, b1.inp, b1.weight, nil, one) } * Double(g.n)
                let nb = best(0) {
                    conv3d_backward_naive(dinp: layer.inputGrad ? b1.dinp : nil, dweight: b1.dweight, dbias: nil,
                                          dout: b1.dout, inp: b1.inp, weight: b1.weight, one)
                } * Double(g.n)
                row += String(format: " %.0f | %.0fx | %.0f | %.0fx |", nf * 1e3, nf / fwd, nb * 1e3, nb / bwd)
            }
            print(row)
        }
        print("\nGFLOP are nominal (2 N Cout To Ho Wo Cin kT kH kW; backward 2x, 1x for stem.0 whose input needs no "
              + "gradient). % peak is against the 2048^3 sgemm above, which is not the hardware's limit: conv GEMMs "
              + "can beat it, and the (3,1,1) convs on 1-2 frames skip taps that only read padding (rows over 100%).")
        return (total, flops)
    }

    /// One tiny training step's convs in network order: every forward, then every backward in reverse.
    private func networkStep(_ net: R2Plus1DConvs) -> Double {
        let largest = net.layers.map { max($0.g.inputCount, $0.g.outputCount) }.max()!
        let weights = net.layers.map { $0.g.weightCount }.max()!
        let x = RandomBuffer(largest), y = RandomBuffer(largest), dy = RandomBuffer(largest), dx = RandomBuffer(largest)
        let w = RandomBuffer(weights), dw = RandomBuffer(weights)
        defer { [x, y, dy, dx, w, dw].forEach { $0.free() } }
        return best(0, reps: 3) {
            for layer in net.layers { conv3d_forward(y.p, x.p, w.p, nil, layer.g) }
            for layer in net.layers.reversed() {
                conv3d_backward(dinp: layer.inputGrad ? dx.p : nil, dweight: dw.p, dbias: nil, dout: dy.p, inp: x.p,
                                weight: w.p, layer.g)
            }
        }
    }

    /// GFLOP/s of a 2048^3 sgemm, best of 5 (after one warm-up).
    private func sgemmPeak() -> Double {
        let n = 2048
        let a = RandomBuffer(n * n), b = RandomBuffer(n * n), c = RandomBuffer(n * n)
        defer { [a, b, c].forEach { $0.free() } }
        let t = best(0, reps: 5) {
            gemm(false, false, n, n, n, 1, a.p, n, b.p, n, 0, c.p, n)
        }
        return 2 * Double(n * n * n) / t
    }
}

private enum BenchClock { case wall, threadCPU }
nonisolated(unsafe) private var benchClock = BenchClock.wall

/// Seconds on the bench clock.
private func now() -> Double {
    var ts = timespec()
    clock_gettime(benchClock == .wall ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Best time of body over at least `reps` runs and `seconds` seconds, after one warm-up run.
private func best(_ seconds: Double, reps: Int = 3, _ body: () -> Void) -> Double {
    body()
    var bestTime = Double.infinity, spent = 0.0, runs = 0
    while runs < reps || (spent < seconds && runs < 200) {
        let start = now()
        body()
        let t = now() - start
        bestTime = min(bestTime, t)
        spent += t
        runs += 1
    }
    return bestTime
}

/// Floats filled with a fixed pseudo-random pattern in [-1, 1).
private struct RandomBuffer {
    let p: UnsafeMutablePointer<Scalar>
    init(_ count: Int) {
        p = .allocate(capacity: max(count, 1))
        var s: UInt32 = 2_463_534_242
        for i in 0..<count {
            s ^= s << 13; s ^= s >> 17; s ^= s << 5
            p[i] = Scalar(s >> 8) / Scalar(1 << 23) - 1
        }
    }
    func free() { p.deallocate() }
}

/// Inputs, outputs and gradients of one conv.
private struct ConvBuffers {
    let inp, weight, out, dout, dinp, dweight: UnsafeMutablePointer<Scalar>
    init(_ g: Conv3dGeometry) {
        inp = RandomBuffer(g.inputCount).p
        weight = RandomBuffer(g.weightCount).p
        out = RandomBuffer(g.outputCount).p
        dout = RandomBuffer(g.outputCount).p
        dinp = RandomBuffer(g.inputCount).p
        dweight = RandomBuffer(g.weightCount).p
    }
    func free() { [inp, weight, out, dout, dinp, dweight].forEach { $0.deallocate() } }
}

/// Every conv of the R(2+1)D backbone (torchvision r2plus1d_18 layout, /work/shared/spec/method.md) in order.
struct R2Plus1DConvs {
    struct Layer {
        var name: String
        var g: Conv3dGeometry
        /// False for the first conv, whose input (the clips) needs no gradient.
        var inputGrad: Bool
        var shape: String {
            "\(g.cin)->\(g.cout) k\(g.kt)\(g.kh)\(g.kw) s\(g.st)\(g.sh)\(g.sw) p\(g.pt)\(g.ph)\(g.pw) @\(g.t)x\(g.h)x\(g.w)"
        }
    }

    let clips: Int
    private(set) var layers: [Layer] = []

    init(widths: [Int], stem: Int, blocks: [Int], clips: Int, frames: Int, size: Int) {
        self.clips = clips
        var (c, t, h, w) = (3, frames, size, size)
        /// Appends a conv on the current activation shape and moves the shape to its output.
        func conv(_ name: String, _ cout: Int, _ k: (Int, Int, Int), _ s: (Int, Int, Int), _ p: (Int, Int, Int),
                  advance: Bool = true) {
            let g = Conv3dGeometry(n: clips, cin: c, t: t, h: h, w: w, cout: cout, kernel: k, stride: s, padding: p)
            layers.append(Layer(name: name, g: g, inputGrad: !layers.isEmpty))
            if advance { (c, t, h, w) = (cout, g.to, g.ho, g.wo) }
        }
        conv("stem.0", stem, (1, 7, 7), (1, 2, 2), (0, 3, 3))
        conv("stem.3", widths[0], (3, 1, 1), (1, 1, 1), (1, 0, 0))
        for (i, width) in widths.enumerated() {
            for b in 0..<blocks[i] {
                let s = i > 0 && b == 0 ? 2 : 1
                let input = (c, t, h, w)
                let mid = (c * width * 27) / (c * 9 + 3 * width)
                let name = "layer\(i + 1).\(b)"
                conv("\(name).conv1.0.0", mid, (1, 3, 3), (1, s, s), (0, 1, 1))
                conv("\(name).conv1.0.3", width, (3, 1, 1), (s, 1, 1), (1, 0, 0))
                conv("\(name).conv2.0.0", mid, (1, 3, 3), (1, 1, 1), (0, 1, 1))
                conv("\(name).conv2.0.3", width, (3, 1, 1), (1, 1, 1), (1, 0, 0))
                if s != 1 || input.0 != width {
                    let output = (c, t, h, w)
                    (c, t, h, w) = input
                    conv("\(name).downsample.0", width, (1, 1, 1), (s, s, s), (0, 0, 0), advance: false)
                    (c, t, h, w) = output
                }
            }
        }
    }

    /// Distinct (geometry, input-gradient) pairs in network order, with how often each occurs.
    var distinct: [(Layer, Int)] {
        var order: [Layer] = []
        var counts: [String: Int] = [:]
        for l in layers {
            let key = "\(l.g) \(l.inputGrad)"
            if counts[key] == nil { order.append(l) }
            counts[key, default: 0] += 1
        }
        return order.map { ($0, counts["\($0.g) \($0.inputGrad)"]!) }
    }
}
