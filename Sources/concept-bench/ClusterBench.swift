import ArgumentParser
import Autograd
import Collective
import ConceptModel
import Foundation
import OpenMPI
import SeededRandom
import TensorKernels

/// `concept-bench cluster`: data-parallel scaling on this machine. Runs the training step as 1 rank x 1 thread and as
/// N ranks x 1 thread (`mpirun -np N`), each rank on its own batch, and reports clips/s of the whole job, the speed-up,
/// and the communication per step (the gradient all-reduce, and every collective: Sinkhorn sums, gathered negatives,
/// synchronised batch norm, queue gathers) as a share of the step.
struct ClusterBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Clips/s of N ranks x 1 thread against 1 rank x 1 thread (Open MPI, this machine).")

    @Option(help: "Comma-separated presets.") var presets = "tiny,paper"
    @Option(help: "Clips per rank per step (tiny).") var batch = 4
    @Option(help: "Clips per rank per step for the paper preset (about 6 GB per rank at 2; two ranks at 4 exceed 23 GB).")
    var paperBatch = 2
    @Option(help: "Ranks of the parallel run.") var ranks = 2
    @Option(help: "Untimed steps first.") var warmup = 1
    @Option(help: "Timed steps (tiny); the paper preset runs a third as many, at least 2.") var steps = 9

    func run() throws {
        guard let mpirun = Self.which("mpirun") else { throw ValidationError("mpirun not found: `make deps` installs openmpi-bin") }
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        print("concept-bench cluster: \(ranks) ranks x 1 thread vs 1 rank x 1 thread, \(batch) clips per rank per step "
              + "(paper: \(paperBatch)), "
              + "\(ProcessInfo.processInfo.activeProcessorCount) cores")
        // "collectives ms" is the time inside every collective call, waiting for the slower rank included.
        print("(ranks \"Nx1\": N processes side by side, each training alone: the machine's ceiling)")
        print("preset ranks    clips/s    ms/step  speed-up allreduce ms collectives ms   share")
        for preset in presets.split(separator: ",").map(String.init) {
            let n = preset == "tiny" ? steps : Swift.max(2, steps / 3)
            let b = preset == "paper" ? paperBatch : batch
            var single: Double?
            // The third run: the same N processes side by side, each training alone (no collective in the step):
            // the ceiling this machine's shared cores, caches and memory bandwidth allow, whatever the communication.
            for (np, alone) in [(1, false), (ranks, false), (ranks, true)] {
                let r = try Self.launch(mpirun: mpirun, me: me, np: np, arguments: [
                    "cluster-rank", "--preset", preset, "--batch", "\(b)", "--warmup", "\(warmup)", "--steps", "\(n)"]
                    + (alone ? ["--alone"] : []))
                let clips = r["clips_per_s"] ?? 0
                if np == 1 { single = clips }
                let speedup = single.map { clips / $0 } ?? 1
                print(String(format: "%@ %5@ %10.2f %10.1f %8.2fx %12.1f %14.1f %6.1f%%", preset.padding(toLength: 6, withPad: " ", startingAt: 0),
                             (alone ? "\(np)x1" : "\(np)") as NSString, clips,
                             r["ms_per_step"] ?? 0, speedup, r["allreduce_ms"] ?? 0, r["comm_ms"] ?? 0,
                             100 * (r["comm_ms"] ?? 0) / Swift.max(r["ms_per_step"] ?? 1, 1e-9)))
                print("RESULT cluster preset=\(preset) ranks=\(np)\(alone ? " alone=1" : "") " + r.keys.sorted().map { "\($0)=\(r[$0]!)" }.joined(separator: " ")
                      + String(format: " speedup=%.3f", speedup))
            }
        }
    }

    /// Runs one job and returns rank 0's RESULT fields.
    static func launch(mpirun: String, me: String, np: Int, arguments: [String]) throws -> [String: Double] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun)
        var args = ["--oversubscribe", "-np", "\(np)", "--bind-to", "core"]
        if getuid() == 0 { args.append("--allow-run-as-root") }
        p.arguments = args + [me] + arguments
        var env = ProcessInfo.processInfo.environment
        env["OMPI_MCA_btl_tcp_if_include"] = "lo"
        env["OMPI_MCA_oob_tcp_if_include"] = "lo"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0, let line = text.split(separator: "\n").first(where: { $0.hasPrefix("RANKRESULT ") }) else {
            throw ValidationError("mpirun -np \(np) failed (status \(p.terminationStatus)):\n\(text)")
        }
        var fields: [String: Double] = [:]
        for pair in line.split(separator: " ").dropFirst() {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2, let v = Double(kv[1]) { fields[String(kv[0])] = v }
        }
        return fields
    }

    static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }
}

/// One rank of `concept-bench cluster` (started by mpirun): timed training steps with one compute thread.
struct ClusterRankBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cluster-rank", abstract: "One rank of `cluster` (run by mpirun).",
                                                    shouldDisplay: false)

    @Option var preset = "tiny"
    @Option var batch = 4
    @Option var warmup = 1
    @Option var steps = 9
    @Flag(help: "Train alone (no collective in the step): the ceiling of N processes on this machine.") var alone = false

    func run() throws {
        ComputeThreads.configure(1)
        let world = try MPICommunicator.world()
        defer { MPICommunicator.finalize() }
        let timed = TimedCommunicator(alone ? SingleProcess() : world)
        var config = try ModelConfig.preset(preset, method: .conceptd)
        config.queueLength = 256
        let learner = try ConceptLearner(config: config, seed: 1)
        learner.join(timed)
        var rng = SeededGenerator(seed: 2 &+ UInt64(world.rank))
        let frames = Tensor.normal([batch, 3, config.frames + 1, config.height, config.width], using: &rng)
        let statics = (0..<batch).map { _ in Int(rng.next() % UInt64(config.frames)) }
        var seconds = 0.0, allReduce = 0.0, communication = 0.0
        for i in 0..<(warmup + steps) {
            timed.reset()
            try world.barrier()
            let start = ContinuousClock.now
            _ = try learner.step(frames: frames, staticIndex: statics, useLocal: true)
            let d = ContinuousClock.now - start
            guard i >= warmup else { continue }
            seconds += d.seconds
            allReduce += learner.lastGradientAllReduceSeconds
            communication += timed.counters.values.reduce(0) { $0 + $1.seconds }
        }
        // The job's time is its slowest rank's.
        let slowest = try world.allReduce(seconds, .max)
        if world.isRoot {
            let n = Double(steps)
            print(String(format: "RANKRESULT clips_per_s=%.4f ms_per_step=%.2f allreduce_ms=%.2f comm_ms=%.2f parameters=%d",
                         Double(world.size * batch) * n / slowest, 1000 * slowest / n, 1000 * allReduce / n, 1000 * communication / n,
                         learner.model.parameters.count))
        }
    }
}
