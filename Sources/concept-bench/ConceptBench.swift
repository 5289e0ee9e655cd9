import ArgumentParser
import TensorKernels

/// Benchmarks (not tests): `concept-bench step`, `conv`, `ingest`, `learn`, `chaos`, `snapshot`.
@main
struct ConceptBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concept-bench", abstract: "conceptd benchmarks (not tests).",
        subcommands: [StepBench.self, ConvBench.self, IngestBench.self, LearnBench.self, ChaosBench.self, SnapshotBench.self, ClusterBench.self, ClusterRankBench.self])

    /// Restarts with OpenBLAS's vector kernels if it chose generic ones (``BLASCore``), then runs the command.
    static func main() {
        BLASCore.restartWithVectorKernelsIfNeeded(program: "concept-bench")
        main(nil)
    }
}
