import ArgumentParser
import ConceptModel
import Foundation
import Learner

/// `concept-bench snapshot`: times writing and loading a snapshot generation of a preset (weights, momentum, queues,
/// trainer state, with the SHA-256 of every file in the manifest), and the SHA-256 of its bytes alone.
struct SnapshotBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot", abstract: "Time a snapshot's write (serialise, hash, fsync, rename) and load (read, verify, restore).")

    @Option(help: "Preset: tiny, small or paper.") var preset = "paper"
    @Option(help: "Timed writes and loads (the median is reported).") var iters = 5
    @Option(help: "Directory for the generations (default: a temporary one, removed).") var directory: String?

    func run() throws {
        let config = try ModelConfig.preset(preset)
        let root = directory ?? NSTemporaryDirectory() + "conceptd-snapshot-bench-\(getpid())"
        defer { if directory == nil { try? FileManager.default.removeItem(atPath: root) } }
        let store = SnapshotStore(directory: URL(fileURLWithPath: root), keep: 2)
        let trainer = try Trainer(config: config, batchSize: 2, warmupSteps: 0, seed: 1, store: store)
        let files = try trainer.snapshotFiles()
        let bytes = files.values.reduce(0) { $0 + $1.count }
        print("preset \(preset): \(trainer.learner.model.parameters.count) parameters, queues \(config.queueLength), snapshot \(bytes / 1_000_000) MB in \(files.count) files")
        func ms(_ body: () throws -> Void) rethrows -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        var hash: [Double] = [], write: [Double] = [], load: [Double] = []
        for i in 0..<iters {
            hash.append(ms { for f in files.values { _ = SHA256.hex(f) } })
            write.append(try ms { try trainer.snapshot() })
            let fresh = try Trainer(config: config, batchSize: 2, warmupSteps: 0, seed: 2, store: store)
            load.append(try ms { guard try fresh.resume().loaded != nil else { throw ValidationError("no snapshot loaded") } })
            print(String(format: "  run %d  sha256 %7.1f ms  write %7.1f ms  load %7.1f ms", i, hash[i], write[i], load[i]))
        }
        print("RESULT snapshot preset=\(preset) " + String(format: "mb=%.1f sha256_ms=%.1f write_ms=%.1f load_ms=%.1f",
                                                             Double(bytes) / 1e6, median(hash), median(write), median(load)))
    }
}
