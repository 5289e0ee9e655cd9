import ArgumentParser
import ConceptModel
import Foundation
import Learner
import Media
import Tensor

/// `concept-bench learn --minutes 30`: trains a preset online on a generated static/dynamic stream (a watch folder
/// of synthetic videos that keeps receiving new ones → the media layer's clips → replay buffer → `Trainer`, the
/// daemon's path), then prints the paper's Table 3 on our data (linear probes of the background and motion labels
/// for every representation, each next to the random-initialised encoder's) and retrieval on real videos the
/// learner never saw.
struct LearnBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learn",
        abstract: "Train online on a generated stream for a wall time, then print Table 3 (linear probes) and real-video retrieval.")

    @Option(help: "Wall time of training in minutes (probes not counted).") var minutes: Double = 30
    @Option(help: "Model preset: tiny, small or paper.") var preset = "tiny"
    @Option(help: "Override the preset's clip side (height = width).") var size: Int?
    @Option(help: "Override the preset's frames per view T (clips have T + 1).") var frames: Int?
    @Option(help: "Override Ks = Kd (the paper's 50).") var concepts: Int?
    @Option(help: "Override the SGD learning rate.") var lr: Double?
    @Option(help: "Weight of the optional InfoNCE term between v and d (the spec's `nce`; 0: off, the paper's default).")
    var nce: Double = 0
    @Option(help: "Rows of each Sinkhorn feature queue (the spec's `queue_length`, default 256; 0: no queue).")
    var queue: Int?
    @Option(help: "Transform before the cosine classifier: identity (the paper's default) or mlp.") var sigma: String?
    @Option(name: .customLong("set"), help: "A model option as KEY=VALUE with the keys of the daemon's [model] table and the parity cases (nce_static=1, difference=normalized, nce_queue=false, ...); repeatable, applied last.")
    var overrides: [String] = []
    @Option(help: "Stop after this many training steps instead of after --minutes.") var steps: Int?
    @Option(help: "Clip sampling rate in frames per second, for training and probe clips (the videos are 16 fps).")
    var clipFps: Double = 16
    @Option(help: "Camera nuisances of the generated videos: none or camera.") var nuisances = "camera"
    @Option(help: "Share of the probe set's clips on its test side.") var probeTestFraction = 0.5
    @Option(help: "Clips per training step.") var batch = 8
    @Option(help: "Steps without L_loc at the start.") var warmup = 200
    @Option(help: "Seed of the model, the batches and the generated data.") var seed: UInt64 = 1
    @Option(help: "Losses switched on, comma-separated (aln, fid, div, loc); the others get weight 0 (the paper's Table 4).")
    var losses = "aln,fid,div,loc"
    @Option(help: "Background classes of the generated data.") var backgrounds = 6
    @Option(help: "Motion classes of the generated data.") var motions = 6
    @Option(help: "Training videos per (background, motion) pair.") var clipsPerPair = 8
    @Option(help: "Probe videos per (background, motion) pair (--probe-test-fraction go to the test side).") var probeClipsPerPair = 44
    @Option(help: "Frames per generated video (16 fps).") var videoFrames = 32
    @Option(help: "Replay buffer capacity in clips.") var replay = 1024
    @Option(help: "Seconds between rounds of new stream videos (one per background/motion pair, new seeds) renamed into the watch folder while training; the replay buffer then keeps the newest clips (FIFO). 0: only the initial videos, kept by reservoir sampling.")
    var freshEvery: Double = 10
    @Option(help: "Probe during training every this many minutes of training (0: only at the end).") var probeEvery: Double = 10
    @Option(help: "Real videos for retrieval (default: <repo>/../shared/data/videos, else $CONCEPT_VIDEOS_DIR; '' skips).")
    var videos: String?
    @Option(help: "Clips cut from each real video, evenly spread.") var clipsPerVideo = 4
    @Option(help: "Working folder for the generated data and probe history (default: a temporary folder, removed).")
    var work: String?
    @Option(help: "Compute threads (default: the core count).") var threads: Int?

    func validate() throws {
        guard minutes > 0 else { throw ValidationError("--minutes must be positive") }
        guard (steps ?? 1) >= 1 else { throw ValidationError("--steps must be positive") }
        guard clipFps.isFinite, clipFps > 0 else { throw ValidationError("--clip-fps must be positive") }
        _ = try nuisance()
        _ = try Self.parseOverrides(overrides)
        guard batch >= 2 else { throw ValidationError("--batch must be at least 2") }
        guard clipsPerVideo >= 2 else { throw ValidationError("--clips-per-video must be at least 2 (retrieval needs a sibling clip)") }
        guard probeEvery >= 0 else { throw ValidationError("--probe-every must be >= 0") }
        guard freshEvery >= 0, freshEvery.isFinite else { throw ValidationError("--fresh-every must be a non-negative number of seconds") }
        _ = try Self.lossWeights(losses)
    }

    /// `KEY=VALUE` pairs.
    static func parseOverrides(_ items: [String]) throws -> [String: String] {
        var m: [String: String] = [:]
        for item in items {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("--set takes KEY=VALUE, got '\(item)'") }
            m[String(parts[0]).trimmingCharacters(in: .whitespaces)] = String(parts[1]).trimmingCharacters(in: .whitespaces)
        }
        return m
    }

    func nuisance() throws -> SyntheticNuisance {
        do { return try SyntheticNuisance(named: nuisances) } catch let e as MediaError { throw ValidationError(e.message) }
    }

    /// Which of aln, fid, div, loc are on.
    static func lossWeights(_ text: String) throws -> Set<String> {
        let names = Set(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty })
        let known: Set<String> = ["aln", "fid", "div", "loc"]
        guard !names.isEmpty, names.isSubset(of: known) else {
            throw ValidationError("--losses takes a comma-separated subset of aln, fid, div, loc; got '\(text)'")
        }
        return names
    }

    func run() throws {
        MediaLibrary.routeLibavLogs(to: nil, level: .error)
        if let threads { configureComputeThreads(threads) }
        var config = try ModelConfig.preset(preset)
        if let size { config.height = size; config.width = size }
        if let frames { config.frames = frames }
        if let concepts { config.ks = concepts; config.kd = concepts; config.topK = Swift.min(config.topK, concepts) }
        if let lr { config.learningRate = Scalar(lr) }
        config.nce = Scalar(nce)
        if let queue { config.queueLength = queue }
        if let sigma {
            guard let s = ModelConfig.Sigma(rawValue: sigma) else { throw ValidationError("--sigma takes identity or mlp; got '\(sigma)'") }
            config.sigma = s
        }
        do { try config.apply(overrides: try Self.parseOverrides(overrides)) } catch let e as ModelError { throw ValidationError(e.description) }
        try config.validate()
        let on = try Self.lossWeights(losses)
        let nuisance = try nuisance()
        if !on.contains("aln") { config.alnWeight = 0 }
        if !on.contains("fid") { config.beta = 0 }
        if !on.contains("div") { config.gamma = 0 }
        if !on.contains("loc") { config.alpha = 0 }
        let fm = FileManager.default
        let root = work ?? NSTemporaryDirectory() + "concept-bench-learn-\(UUID().uuidString.prefix(8))"
        try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { if work == nil { try? fm.removeItem(atPath: root) } }
        let side = Swift.max(config.height, config.width)
        let size = SyntheticDataset.Size(width: side + side % 2, height: side + side % 2)
        print("concept-bench learn: preset \(preset) (\(config.frames + 1)x\(config.height)x\(config.width) clips at \(fmt(clipFps, 1)) fps, \(config.ks)+\(config.kd) concepts), batch \(batch), warm-up \(warmup) steps, losses \(["aln", "fid", "div", "loc"].filter(on.contains).joined(separator: "+")) (w_aln \(config.alnWeight), α \(config.alpha), β \(config.beta), γ \(config.gamma), nce \(config.nce), nce_static \(config.nceStatic), nce_queue \(config.nceQueue)), difference \(config.difference), sigma \(config.sigma), queue \(config.queueLength), lr \(config.learningRate), \(steps.map { "\($0) steps" } ?? fmt(minutes, 1) + " min"), seed \(seed), nuisances \(nuisance)")

        // Generated data: a training stream and a disjoint probe set (other seeds, so no clip is shared).
        var t = Date()
        let stream = try SyntheticDataset.generate(directory: root + "/stream", backgrounds: backgrounds, motions: motions,
                                                   clipsPerPair: clipsPerPair, size: size, frames: videoFrames,
                                                   seed: seed &* 1000 &+ 1, testFraction: 0, overwrite: true, nuisance: nuisance)
        let probeData = try SyntheticDataset.generate(directory: root + "/probe", backgrounds: backgrounds, motions: motions,
                                                      clipsPerPair: probeClipsPerPair, size: size, frames: videoFrames,
                                                      seed: seed &* 1000 &+ 2, testFraction: probeTestFraction, overwrite: true,
                                                      nuisance: nuisance)
        print("generated \(stream.items.count) stream videos and \(probeData.items.count) probe videos (\(probeData.trainCount) train, \(probeData.testCount) test) of \(size) x \(videoFrames) frames in \(fmt(Date().timeIntervalSince(t), 1)) s")

        // Probe set, evaluator and the random-init baseline.
        t = Date()
        let set = try ProbeSet.load(from: URL(fileURLWithPath: probeData.manifestPath))
        let history = try ProbeHistory(directory: URL(fileURLWithPath: root + "/probe-state"))
        let evaluator = try ProbeEvaluator(set: set, config: config, seed: seed,
                                           options: ProbeEvaluator.Options(fps: clipFps, batchSize: 16), history: history)
        try evaluator.prepare()
        let decoded = Date().timeIntervalSince(t)
        t = Date()
        let baseline = try evaluator.baseline()
        print("probe set decoded in \(fmt(decoded, 1)) s; random-init baseline probed in \(fmt(Date().timeIntervalSince(t), 1)) s")

        // Real videos for retrieval.
        let realPaths = realVideos()
        var real: (paths: [String], clips: [[Float]], labels: [Int])? = nil
        if !realPaths.isEmpty {
            t = Date()
            let positions = (0..<clipsPerVideo).map { (Double($0) + 0.5) / Double(clipsPerVideo) }
            var paths: [String] = [], clips: [[Float]] = [], labels: [Int] = []
            for path in realPaths {
                do {
                    let cut = try ProbeClipReader.read(path: path, options: evaluator.clipOptions, positions: positions)
                    labels += [Int](repeating: paths.count, count: cut.count)
                    clips += cut.map(\.data)
                    paths.append(path)
                } catch {
                    print("  skipped \((path as NSString).lastPathComponent): \(error)")
                }
            }
            real = (paths, clips, labels)
            print("real videos: \(paths.count) decoded into \(clips.count) clips (\(clipsPerVideo) each at \(positions.map { fmt($0, 3) }.joined(separator: ", ")) of the duration) in \(fmt(Date().timeIntervalSince(t), 1)) s")
        }
        let randomRetrieval = try real.map { r in try retrieval(ProbeFeatureExtractor(config: config, seed: seed, batchSize: 16).features(clips: r.clips), labels: r.labels) }

        // The daemon's path: watch folder → media clips (random crop) → replay buffer → trainer.
        let trainer = try Trainer(config: config, batchSize: batch, warmupSteps: warmup, seed: seed, store: nil)
        let buffer = ReplayBuffer(capacity: replay, policy: freshEvery > 0 ? .fifo : .reservoir, seed: seed)
        let ingest = MediaIngest(queueCapacity: Swift.max(8, batch * 2))
        var sourceOptions = SourceOptions(
            clip: ClipOptions(frames: config.frames + 1, height: config.height, width: config.width, fps: clipFps,
                              crop: .random, randomFlip: false, seed: seed),
            watch: WatchFolderOptions(settleSeconds: 0, after: freshEvery > 0 ? .delete : .keep, stateDirectory: root + "/ingest"))
        sourceOptions.logger.logLevel = .error
        let source = try ingest.add("folder:" + root + "/stream/train", name: "stream", options: sourceOptions)
        let feeder = Feeder(queue: ingest.queue, replay: buffer)
        feeder.start()
        let fresh = freshEvery > 0
            ? StreamFeeder(directory: root + "/stream/train", staging: root + "/stream/staging", backgrounds: backgrounds,
                           motions: motions, size: size, frames: videoFrames, nuisance: nuisance, seed: seed &* 1000 &+ 3,
                           every: freshEvery)
            : nil
        try fresh?.start()
        defer {
            fresh?.stop()
            source.stop()
            _ = source.join(timeout: 10)
            ingest.queue.close()
            feeder.join()
        }

        let budget = minutes * 60
        var trained = 0.0, probing = 0.0
        var lastReport = 0.0, lastProbe = 0.0
        var firstLosses: [Losses] = [], recent: [Losses] = []
        var skipped = 0
        let runStart = Date()
        print("training…")
        while steps.map({ trainer.state.step < $0 }) ?? (trained < budget) {
            let t0 = Date()
            guard buffer.wait(forAtLeast: batch, timeout: 1) else { trained += Date().timeIntervalSince(t0); continue }
            switch try trainer.step(from: buffer) {
            case .stepped(let r):
                if firstLosses.count < 20 { firstLosses.append(r.outputs.losses) }
                recent.append(r.outputs.losses)
                if recent.count > 20 { recent.removeFirst() }
            case .skipped, .rolledBack: skipped += 1
            case .waitingForData: break
            }
            trained += Date().timeIntervalSince(t0)
            let finished = steps.map { trainer.state.step >= $0 } ?? (trained >= budget)
            if trained - lastReport >= 30 || finished {
                lastReport = trained
                let s = trainer.state
                print("  \(fmt(trained / 60, 1)) min: step \(s.step), \(fmt(Double(s.step * batch) / trained, 1)) clips/s, loss avg \(lossText(s.lossAverage)), replay \(buffer.count)/\(buffer.totalSeen) seen, skipped \(skipped)")
            }
            if probeEvery > 0, trained - lastProbe >= probeEvery * 60, !finished {
                lastProbe = trained
                let p0 = Date()
                let r = try evaluator.evaluate(stateDict: trainer.learner.model.stateDict(), step: trainer.state.step)
                probing += Date().timeIntervalSince(p0)
                print("  probe at step \(trainer.state.step): " + probeLine(r))
            }
        }
        let wall = Date().timeIntervalSince(runStart)
        if let fresh { print("stream: \(stream.items.count) initial videos + \(fresh.written) fresh ones (\(fresh.rounds) rounds, one every \(fmt(freshEvery, 0)) s); \(buffer.totalSeen) clips seen") }
        if let error = fresh?.error { print("the stream feeder stopped: \(error)") }
        let p0 = Date()
        let weights = try trainer.learner.model.stateDict()
        let result = try evaluator.evaluate(stateDict: weights, step: trainer.state.step)
        probing += Date().timeIntervalSince(p0)
        let trainedRetrieval = try real.map { r -> [ProbeRepresentation: [Double]] in
            let e = try ProbeFeatureExtractor(config: config, seed: seed, batchSize: 16)
            try e.load(stateDict: weights)
            return retrieval(try e.features(clips: r.clips), labels: r.labels)
        }

        let s = trainer.state
        func mean(_ l: [Losses], _ k: (Losses) -> Scalar) -> Double { l.isEmpty ? .nan : l.map { Double(k($0)) }.reduce(0, +) / Double(l.count) }
        print("")
        print("## Results: \(s.step) steps (\(s.step * batch) clips, \(fmt(Double(s.step * batch) / trained, 1)) clips/s) in \(fmt(trained / 60, 1)) min of training, \(fmt(probing, 1)) s of probing, \(fmt(wall / 60, 1)) min wall")
        print("losses (mean of the first / last 20 steps): aln \(fmt(mean(firstLosses, { $0.aln }), 3)) → \(fmt(mean(recent, { $0.aln }), 3)), fid \(fmt(mean(firstLosses, { $0.fid }), 3)) → \(fmt(mean(recent, { $0.fid }), 3)), div \(fmt(mean(firstLosses, { $0.div }), 3)) → \(fmt(mean(recent, { $0.div }), 3)), loc \(fmt(mean(firstLosses, { $0.loc }), 3)) → \(fmt(mean(recent, { $0.loc }), 3)); skipped steps \(skipped)")
        print("")
        print("Table 3 on generated data (\(set.items(.train).count) train / \(set.items(.test).count) test clips; \(backgrounds) backgrounds, \(motions) motions): trained / random init")
        print(result.table(.accuracy, baseline: baseline))
        let chance = set.labelNames.map { l in "\(l) \(fmt(100 * (result.row(l, .v)?.chance ?? .nan), 1))" }.joined(separator: ", ")
        print("chance (most frequent train class): \(chance)")
        print("")
        print("Retrieval on the probe set's test clips (query the train clips; hit = same label), R@1: trained / random init")
        print(result.table(.r1, baseline: baseline))
        if let real, let trainedRetrieval, let randomRetrieval {
            print("")
            print("Retrieval on real videos: \(real.paths.count) videos x \(clipsPerVideo) clips, each clip queries all others (hit = same video): trained / random init")
            let reps = ProbeRepresentation.allCases
            print("| | " + reps.map(\.rawValue).joined(separator: " | ") + " |")
            print("|---|" + reps.map { _ in "---:|" }.joined())
            for (i, k) in [1, 5].enumerated() {
                print("| R@\(k) | " + reps.map { "\(fmt(100 * trainedRetrieval[$0]![i], 1)) / \(fmt(100 * randomRetrieval[$0]![i], 1))" }.joined(separator: " | ") + " |")
            }
            let perVideo = Double(clipsPerVideo - 1) / Double(real.clips.count - 1)
            print("chance R@1 (a random other clip is from the same video): \(fmt(100 * perVideo, 1))")
        }
        print("")
        print("RESULT learn preset=\(preset) losses=\(["aln", "fid", "div", "loc"].filter(on.contains).joined(separator: "+")) nce=\(config.nce) queue=\(config.queueLength) sigma=\(config.sigma) steps=\(s.step) minutes=\(fmt(trained / 60, 2)) " +
              ["motion", "background"].flatMap { l in ProbeRepresentation.allCases.map { r in "\(l)_\(r.rawValue)=\(fmt(100 * (result.row(l, r)?.accuracy ?? .nan), 1))" } }.joined(separator: " ")
            + (trainedRetrieval.map { " real_R@1_v=\(fmt(100 * $0[.v]![0], 1))" } ?? "") + (randomRetrieval.map { " real_R@1_v_init=\(fmt(100 * $0[.v]![0], 1))" } ?? ""))
    }

    /// R@1 and R@5 per representation, leave one out, hit = same label.
    func retrieval(_ features: ProbeFeatures, labels: [Int]) -> [ProbeRepresentation: [Double]] {
        Dictionary(uniqueKeysWithValues: ProbeRepresentation.allCases.map { r in
            (r, Retrieval.recallLeaveOneOut(features[r], labels: labels, ks: [1, 5]))
        })
    }

    /// The real videos: `--videos`, else `<repo>/../shared/data/videos`, else `$CONCEPT_VIDEOS_DIR`.
    func realVideos() -> [String] {
        var dir = videos
        if dir == nil {
            let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let candidate = repo.deletingLastPathComponent().appendingPathComponent("shared/data/videos").path
            dir = FileManager.default.fileExists(atPath: candidate) ? candidate : ProcessInfo.processInfo.environment["CONCEPT_VIDEOS_DIR"]
        }
        guard let dir, !dir.isEmpty else { return [] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { ProbeSet.videoExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
            .sorted().map { (dir as NSString).appendingPathComponent($0) }
    }

    func probeLine(_ r: ProbeResult) -> String {
        let cells: [(String, ProbeRepresentation)] = [("background", .v), ("background", .qVs), ("background", .fVs), ("motion", .v),
                                                      ("motion", .qVs), ("motion", .qVd), ("motion", .fVd)]
        return cells.compactMap { l, rep in
            r.row(l, rep).map { "\(l) \(rep) \(fmt(100 * $0.accuracy, 1)) (\($0.gain.map { ($0.accuracy >= 0 ? "+" : "") + fmt(100 * $0.accuracy, 1) } ?? "?"))" }
        }.joined(separator: ", ") + " [\(fmt(r.duration, 1)) s]"
    }

    func lossText(_ l: Losses) -> String {
        "total \(fmt(Double(l.total), 3)) (aln \(fmt(Double(l.aln), 3)), fid \(fmt(Double(l.fid), 3)), div \(fmt(Double(l.div), 2)), loc \(fmt(Double(l.loc), 3)))"
    }

    func fmt(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
}

/// Renders one new video per (background, motion) pair every `every` seconds, with new seeds, and renames them
/// into the watch folder (what `conceptctl feed` does for the demo), so the learner trains on a stream that keeps
/// bringing unseen clips instead of cycling through a fixed set.
final class StreamFeeder: @unchecked Sendable {
    let directory: String, staging: String
    let backgrounds: Int, motions: Int, size: SyntheticDataset.Size, frames: Int, nuisance: SyntheticNuisance, seed: UInt64
    let every: Double
    private let lock = NSLock()
    private var stopping = false
    private var _written = 0, _rounds = 0
    private var _error: Error?
    private let done = DispatchSemaphore(value: 0)

    init(directory: String, staging: String, backgrounds: Int, motions: Int, size: SyntheticDataset.Size, frames: Int,
         nuisance: SyntheticNuisance, seed: UInt64, every: Double) {
        (self.directory, self.staging, self.backgrounds, self.motions) = (directory, staging, backgrounds, motions)
        (self.size, self.frames, self.nuisance, self.seed, self.every) = (size, frames, nuisance, seed, every)
    }

    /// Videos written so far.
    var written: Int { lock.withLock { _written } }
    /// Rounds finished so far.
    var rounds: Int { lock.withLock { _rounds } }
    /// Why the feeder stopped early, if it did.
    var error: Error? { lock.withLock { _error } }

    func start() throws {
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let thread = Thread { [self] in
            defer { done.signal() }
            let bs = SyntheticBackground.allCases.prefix(backgrounds), ms = SyntheticMotion.allCases.prefix(motions)
            var round = 0
            while !lock.withLock({ stopping }) {
                var rng = Media.SeededGenerator(seed: seed &+ UInt64(round))
                do {
                    for b in bs {
                        for m in ms {
                            let clip = try SyntheticClip(background: b, motion: m, width: size.width, height: size.height,
                                                         frames: frames, seed: rng.next(), nuisance: nuisance)
                            let name = String(format: "fresh-r%06d-%@-%@.mp4", round, b.name, m.name)
                            try clip.deliver(named: name, to: directory, via: staging, fps: 16)
                            lock.withLock { _written += 1 }
                        }
                    }
                } catch {
                    lock.withLock { _error = error }
                    return
                }
                round += 1
                lock.withLock { _rounds = round }
                let until = Date().addingTimeInterval(every)
                while Date() < until, !lock.withLock({ stopping }) { Thread.sleep(forTimeInterval: 0.1) }
            }
        }
        thread.name = "bench-stream"
        thread.start()
    }

    func stop() {
        lock.withLock { stopping = true }
        done.wait()
    }
}

/// Moves clips from the media queue into the replay buffer on its own thread (what the daemon's ingest service does).
final class Feeder: @unchecked Sendable {
    let queue: ClipQueue
    let replay: ReplayBuffer
    private let done = DispatchSemaphore(value: 0)

    init(queue: ClipQueue, replay: ReplayBuffer) {
        self.queue = queue
        self.replay = replay
    }

    func start() {
        let thread = Thread { [self] in
            while true {
                if let clip = queue.pop(timeout: 0.2) {
                    replay.add(ReplayClip(data: clip.data, staticIndex: clip.staticIndex, source: clip.source))
                } else if queue.isClosed {
                    break
                }
            }
            done.signal()
        }
        thread.name = "bench-feeder"
        thread.start()
    }

    func join() { done.wait() }
}
