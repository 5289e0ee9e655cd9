import ArgumentParser

/// Benchmarks (not tests): `concept-bench step`, `conv`, `ingest`, `learn`, `chaos`, `snapshot`.
@main
struct ConceptBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concept-bench", abstract: "conceptd benchmarks (not tests).",
        subcommands: [StepBench.self, ConvBench.self, IngestBench.self, LearnBench.self, ChaosBench.self, SnapshotBench.self, ClusterBench.self, ClusterRankBench.self])
}
