import ArgumentParser
import Foundation
import ConceptReports
import ConceptAPI

/// `conceptctl probe`: the latest probe as the paper's Table 3, with the gain over the random-init encoder.
struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe", abstract: "The latest probe: linear-probe accuracy and retrieval per representation and label.")
    @OptionGroup var options: ClientOptions

    @Flag(help: "List every probe in the history (step, time, v accuracy per label) instead of the latest table.")
    var history = false

    func run() throws {
        try options.show("/v1/probe", as: API.Probe.self) { history ? Self.renderHistory($0) : Self.render($0) }
    }

    static func render(_ p: API.Probe) -> String {
        guard p.configured else { return "the probe is not configured (add a [probe] section to the configuration)\n" }
        var out = "probe set \(p.set ?? "?")" + (p.running ? ", running now" : "") + "\n"
        if let e = p.lastError { out += "last attempt failed: \(e)\n" }
        guard let r = p.latest ?? p.baseline else { return out + "no result yet\n" }
        out += r.isBaseline ? "only the random-init baseline so far\n"
            : "step \(r.step ?? 0), \(ProbeResult.formatTime(r.time)), \(r.trainClips) train / \(r.testClips) test clips, \(fmt(r.duration, 1)) s\n"
        for label in r.labels {
            out += "\n\(label)\n"
            var t = TextTable("REPRESENTATION", "DIM", "ACCURACY", "GAIN", "CHANCE", "R@1", "R@5", "R@10", "R@20")
            for row in r.rows where row.label == label {
                let gain = row.gain.map { ($0.accuracy >= 0 ? "+" : "") + fmt($0.accuracy * 100, 1) } ?? "-"
                t.add(row.representation.rawValue, "\(row.dimension)", fmt(row.accuracy * 100, 1), gain, fmt(row.chance * 100, 1),
                      fmt(row.recall.r1 * 100, 1), fmt(row.recall.r5 * 100, 1), fmt(row.recall.r10 * 100, 1), fmt(row.recall.r20 * 100, 1))
            }
            out += t.rendered
        }
        return out + "\n(percent; GAIN: accuracy points over the random-initialised encoder)\n"
    }

    static func renderHistory(_ p: API.Probe) -> String {
        guard p.configured else { return render(p) }
        let labels = p.latest?.labels ?? []
        var t = TextTable(["STEP", "TIME"] + labels.map { "v \($0)" })
        for r in p.history {
            t.rows.append(["\(r.step ?? 0)", ProbeResult.formatTime(r.time)] + labels.map { l in r.row(l, .v).map { fmt($0.accuracy * 100, 1) } ?? "-" })
        }
        return t.rendered
    }
}
