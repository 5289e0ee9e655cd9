import ArgumentParser

/// `conceptctl`: the command-line companion of conceptd (datasets now; daemon control as it lands).
@main
struct ConceptCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conceptctl", abstract: "Tools for conceptd.",
        subcommands: [StatusCommand.self, ConceptsCommand.self, SourcesCommand.self, ProbeCommand.self, SnapshotCommand.self, WatchCommand.self, MakeDataset.self, Feed.self])
}
