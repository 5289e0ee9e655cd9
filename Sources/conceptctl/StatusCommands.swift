import ArgumentParser
import Foundation
import ConceptReports
import ConceptAPI

/// `conceptctl status`.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "The daemon at a glance.")
    @OptionGroup var options: ClientOptions

    func run() throws {
        try options.show("/v1/status", as: API.Status.self) { Self.render($0) }
    }

    static func render(_ s: API.Status) -> String {
        let t = s.training, m = s.model
        var out = "conceptd \(s.version), up \(duration(s.uptimeSeconds)), \(s.state)\n"
        out += "model      \(m.preset) widths \(m.widths.map(String.init).joined(separator: ",")), \(m.frames)x\(m.height)x\(m.width), Ks \(m.ks) Kd \(m.kd), top-K \(m.topK)\n"
        out += "step       \(t.step) (skipped \(t.skippedSteps), rollbacks \(t.rollbacks)), batch \(t.batchSize), \(fmt(t.clipsPerSecond, 1)) clips/s\n"
        out += "loss       total \(fmt(t.lossAverage.total)) = aln \(fmt(t.lossAverage.aln)) + loc \(fmt(t.lossAverage.loc)) + fid \(fmt(t.lossAverage.fid)) + div \(fmt(t.lossAverage.div)) (moving averages)\n"
        out += "L_loc      \(t.localLossOn ? "on" : "off until step \(t.warmupSteps)")\n"
        out += "replay     \(t.replayFill)/\(t.replayCapacity) clips, queues \(t.queueFill)/\(t.queueCapacity)\n"
        if let step = s.snapshot.step {
            out += "snapshot   step \(step)" + (s.snapshot.ageSeconds.map { ", \(duration($0)) ago" } ?? "") + (s.snapshot.path.map { " in \($0)" } ?? "") + "\n"
        } else { out += "snapshot   none yet\n" }
        if let e = s.snapshot.error { out += "           last attempt failed: \(e)\n" }
        out += "sources    \(s.sources.live) live of \(s.sources.total)\n"
        if let p = s.probe {
            out += "probe      step \(p.step): " + p.accuracy.sorted { $0.key < $1.key }.map { "\($0.key) \(fmt($0.value * 100, 1))%" }.joined(separator: ", ") + " (v, linear)\n"
        }
        out += "memory     \(s.residentBytes / (1 << 20)) MiB resident\n"
        return out
    }
}

/// `conceptctl sources`.
struct SourcesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sources", abstract: "Each source: state, counters, current concepts.")
    @OptionGroup var options: ClientOptions

    func run() throws {
        try options.show("/v1/sources", as: [API.Source].self) { Self.render($0) }
    }

    static func render(_ sources: [API.Source]) -> String {
        var t = TextTable("NAME", "KIND", "STATE", "FPS", "CLIPS", "DROPPED", "RECONNECTS", "IN REPLAY", "TOP STATIC", "TOP DYNAMIC")
        for s in sources {
            let st = s.statistics
            t.add(s.name, s.kind, st.state.rawValue, fmt(st.measuredFPS, 1), "\(st.clipsMade)", "\(st.clipsDropped)",
                  "\(st.reconnects)", "\(s.replayClips)", topConcepts(s.concepts, .static), topConcepts(s.concepts, .dynamic))
        }
        var out = t.rendered
        for s in sources { if let e = s.statistics.lastError { out += "\(s.name): \(e)\n" } }
        return out
    }
}

/// `conceptctl snapshot`.
struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "snapshot", abstract: "Write a snapshot now and wait for it.")
    @OptionGroup var options: ClientOptions

    func run() throws {
        let written: API.SnapshotWritten = try callAPI { try options.client().post("/v1/snapshot") }
        if options.json { print(try prettyJSON(written)) } else { print("snapshot written at step \(written.step): \(written.path)") }
    }
}

/// "#3 0.82, #7 0.61": the strongest concepts of a source's latest inspected clip.
func topConcepts(_ c: API.SourceConcepts?, _ b: API.ConceptBranch, count: Int = 3) -> String {
    guard let c else { return "-" }
    let list = b == .static ? c.static : c.dynamic
    return list.isEmpty ? "-" : list.prefix(count).map { "#\($0.index) \(fmt($0.activation, 2))" }.joined(separator: ", ")
}

/// Each loss term's history, oldest first.
func lossHistory(_ h: API.TrainingHistory) -> (total: [Double], aln: [Double], loc: [Double], fid: [Double], div: [Double]) {
    let p = h.points
    return (p.map { Double($0.losses.total) }, p.map { Double($0.losses.aln) }, p.map { Double($0.losses.loc) },
            p.map { Double($0.losses.fid) }, p.map { Double($0.losses.div) })
}
