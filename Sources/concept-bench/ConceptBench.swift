import ArgumentParser

/// Benchmarks of conceptd's kernels and training step; one subcommand each.
@main
struct ConceptBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concept-bench",
        abstract: "Benchmarks of conceptd's kernels and training step.",
        subcommands: [ConvBench.self])
}
