import ArgumentParser
import ConceptModel
import Foundation
import Autograd
import TensorKernels
import SeededRandom

/// `concept-bench step`: times full training steps of a preset (after warm-up) and prints the median.
struct StepBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step", abstract: "Time full training steps (forward, all losses, backward, SGD) of a preset.")

    @Option(help: "Preset: tiny, small or paper.") var preset = "tiny"
    @Option(help: "Clips per batch (the backbone sees 3x as many).") var batch = 8
    @Option(help: "Untimed steps first.") var warmup = 2
    @Option(help: "Timed steps.") var iters = 7
    @Flag(help: "Leave out L_loc (the warm-up phase).") var noLocal = false

    func run() throws {
        var config = try ModelConfig.preset(preset)
        config.queueLength = 256
        let learner = try ConceptLearner(config: config, seed: 1)
        var rng = SeededGenerator(seed: 2)
        // Fill the queues with random unit rows, as in steady state.
        for b in Branch.allCases {
            let rows = try Tensor.normal([config.queueLength, config.queueWidth(b)], using: &rng).normalized(axis: 1)
            learner.queues[b] = try FeatureQueue(rows: rows.values, dim: config.queueWidth(b))
        }
        let frames = Tensor.normal([batch, 3, config.frames + 1, config.height, config.width], using: &rng)
        let statics = (0..<batch).map { _ in Int(rng.next() % UInt64(config.frames)) }
        print("preset \(preset): widths \(config.widths), stem \(config.stem), \(config.frames + 1) frames of \(config.height)x\(config.width), batch \(batch), \(learner.model.parameters.count) parameters, compute threads \(ComputeThreads.count)")
        var times: [Double] = []
        for i in 0..<(warmup + iters) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let report = try learner.step(frames: frames, staticIndex: statics, useLocal: !noLocal)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            if i >= warmup { times.append(ms) }
            print(String(format: "  step %2d  %8.1f ms  loss %.4f", i, ms, report.outputs.losses.total) + (i < warmup ? "  (warm-up)" : ""))
        }
        times.sort()
        let median = times[times.count / 2]
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakMB = Double(usage.ru_maxrss) / 1024
        print("RESULT swift preset=\(preset) batch=\(batch) " + String(format: "ms_per_step=%.1f clips_per_s=%.2f peak_rss_mb=%.0f",
                     median, Double(batch) / (median / 1000), peakMB) + " blas_core=\(BLASCore.current)")
    }
}
