import ArgumentParser
import Foundation
import ConceptAPI

/// `conceptctl watch`: a live terminal view that refreshes in place.
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "A live view: step, losses, clips/s, per-source top concepts (Ctrl-C quits).")
    @OptionGroup var options: ClientOptions

    @Option(help: "Seconds between refreshes.")
    var interval: Double = 2

    @Option(help: "Stop after this many refreshes (default: until Ctrl-C).")
    var count: Int?

    func validate() throws {
        guard interval >= 0.1 else { throw ValidationError("--interval must be at least 0.1 s") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        let client = try options.client()
        let tty = isatty(STDOUT_FILENO) == 1
        var n = 0
        while count.map({ n < $0 }) ?? true {
            n += 1
            let frame: String
            do { frame = try Self.frame(client) } catch { frame = "conceptctl: \(error)\n(retrying every \(interval) s)\n" }
            if tty {
                // Clear once, then home the cursor and redraw over the old frame, clearing what it leaves behind.
                print((n == 1 ? "\u{1B}[2J" : "") + "\u{1B}[H" + frame.replacingOccurrences(of: "\n", with: "\u{1B}[K\n") + "\u{1B}[J", terminator: "")
            } else {
                print(frame)   // piped: one plain frame after another
            }
            fflush(nil)
            if count.map({ n < $0 }) ?? true { Thread.sleep(forTimeInterval: interval) }
        }
    }

    static func frame(_ client: APIClient) throws -> String {
        let status: API.Status = try client.get("/v1/status")
        let sources: [API.Source] = try client.get("/v1/sources")
        let training: API.Training = try client.get("/v1/training")
        let t = status.training, a = t.lossAverage
        var out = "conceptd \(status.version) · \(status.state) · up \(duration(status.uptimeSeconds)) · \(Date().formatted(date: .omitted, time: .standard))\n\n"
        out += "step \(t.step)   \(fmt(t.clipsPerSecond, 1)) clips/s   replay \(t.replayFill)/\(t.replayCapacity)   skipped \(t.skippedSteps)   "
        out += "L_loc \(t.localLossOn ? "on" : "warm-up to \(t.warmupSteps)")\n"
        let history = lossHistory(training.history)
        for (name, value, series) in [("total", a.total, history.total), ("aln", a.aln, history.aln), ("loc", a.loc, history.loc),
                                      ("fid", a.fid, history.fid), ("div", a.div, history.div)] {
            out += "  \(name.padding(toLength: 6, withPad: " ", startingAt: 0)) \(fmt(value).leftPad(9))  \(sparkline(series, width: 48))\n"
        }
        if let p = status.probe {
            out += "\nprobe (step \(p.step)): " + p.accuracy.sorted { $0.key < $1.key }.map { "\($0.key) \(fmt($0.value * 100, 1))%" }.joined(separator: "  ") + "\n"
        }
        out += "\n"
        var table = TextTable("SOURCE", "STATE", "FPS", "CLIPS", "DROPPED", "TOP STATIC", "TOP DYNAMIC")
        for s in sources {
            table.add(s.name, s.statistics.state.rawValue, fmt(s.statistics.measuredFPS, 1), "\(s.statistics.clipsMade)",
                      "\(s.statistics.clipsDropped)", topConcepts(s.concepts, .static), topConcepts(s.concepts, .dynamic))
        }
        out += table.rendered
        return out
    }

    /// Eight-level block sparkline of the last `width` values.
    static func sparkline(_ values: [Double], width: Int) -> String {
        let v = values.suffix(width).filter(\.isFinite)
        guard let lo = v.min(), let hi = v.max() else { return "" }
        let bars = Array("▁▂▃▄▅▆▇█")
        return String(v.map { hi == lo ? bars[3] : bars[min(7, Int(($0 - lo) / (hi - lo) * 7.999))] })
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
