import ArgumentParser
import Foundation
import ConceptReports
import ConceptAPI

/// `conceptctl concepts [--branch static|dynamic] [--index K]`.
struct ConceptsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concepts", abstract: "Concept usage per branch, or one concept with its gallery (--index).")
    @OptionGroup var options: ClientOptions

    @Option(help: "Only this branch: static or dynamic.")
    var branch: String?

    @Option(help: "One concept of --branch: its statistics and gallery.")
    var index: Int?

    @Flag(help: "Sort by usage (most used first) instead of by index.")
    var byUsage = false

    func validate() throws {
        if let branch, API.ConceptBranch(rawValue: branch) == nil { throw ValidationError("--branch must be static or dynamic, got '\(branch)'") }
        if index != nil && branch == nil { throw ValidationError("--index needs --branch") }
        if let index, index < 0 { throw ValidationError("--index must be non-negative") }
    }

    func run() throws {
        if let branch, let index {
            try options.show("/v1/concepts/\(branch)/\(index)", as: API.ConceptDetail.self) { Self.render($0) }
        } else {
            try options.show("/v1/concepts" + (branch.map { "?branch=\($0)" } ?? ""), as: API.Concepts.self) { Self.render($0, branch: branch, byUsage: byUsage) }
        }
    }

    static func render(_ c: API.Concepts, branch: String?, byUsage: Bool) -> String {
        var out = "step \(c.step) (\(c.steps) recorded), top-K \(c.topK), dead after \(c.deadWindow) steps without a top-K hit\n"
        for usage in [c.static, c.dynamic] where branch == nil || branch == usage.branch.rawValue {
            out += "\n\(usage.branch.rawValue): \(usage.count) concepts, perplexity \(fmt(usage.perplexity, 1)) (targets \(fmt(usage.targetPerplexity, 1))), "
            out += "entropy \(fmt(usage.entropy)) nats, \(usage.deadCount) dead\n"
            var t = TextTable("K", "TOP-K FREQ", "MEAN ACT", "TARGET MASS", "AGREEMENT", "HITS", "LAST ACTIVE", "DEAD")
            let rows = byUsage ? usage.concepts.sorted { $0.frequency > $1.frequency } : usage.concepts
            for k in rows {
                t.add("\(k.index)", fmt(k.frequency), fmt(k.meanActivation), fmt(k.targetMass), fmt(k.agreement), "\(k.hits)",
                      k.lastActiveStep.map(String.init) ?? "-", k.dead ? "dead" : "")
            }
            out += t.rendered
        }
        return out
    }

    static func render(_ d: API.ConceptDetail) -> String {
        let k = d.stats
        var out = "\(d.branch.rawValue) concept \(k.index): top-K frequency \(fmt(k.frequency)), mean activation \(fmt(k.meanActivation)), "
        out += "target mass \(fmt(k.targetMass)), \(k.hits) hits" + (k.dead ? ", dead" : "") + "\n"
        if d.gallery.isEmpty { return out + "no clip has activated it yet\n" }
        var t = TextTable("ITEM", "SOURCE", "STEP", "ACTIVATION", "SCORE", "THUMBNAIL")
        for g in d.gallery {
            t.add("\(g.item)", g.source, "\(g.step)", fmt(g.activation), fmt(g.score),
                  "/v1/concepts/\(d.branch.rawValue)/\(k.index)/gallery/\(g.item).png")
        }
        return out + t.rendered
    }
}
