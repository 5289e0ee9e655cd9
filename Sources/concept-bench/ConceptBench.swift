import ArgumentParser

/// Benchmarks for conceptd's hot paths.
@main
struct ConceptBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concept-bench",
        abstract: "Benchmarks for conceptd's hot paths.",
        subcommands: [IngestBench.self])
}
