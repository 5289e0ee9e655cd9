import ArgumentParser
import ConceptModel
import Foundation
import Learner
import ConceptReports
import Media
import Autograd
import TensorKernels
import SafeTensors
import LibAV
import SyntheticVideo
import SyntheticVideoCLI

/// `concept-bench learn --minutes 30`: trains a preset online on a stream that goes through the daemon's path (a
/// watch folder that keeps receiving videos → the media layer's clips → replay buffer → `Trainer`), then prints the
/// paper's Table 3 on a generated probe set (linear probes of the background and motion labels for every
/// representation, each next to the random-initialised encoder's, with standard errors; and the static frame's `s` and
/// `q_s`, which bound what anything that follows one frame can know), retrieval on real videos,
/// the concepts alive, and the headline probes over the run.
///
/// Two streams: `--data synthetic` (generated videos with camera nuisances, new ones every `--fresh-every` seconds)
/// and `--data real` (random segments of 30 of the shared real videos, looped through the watch folder; retrieval is
/// then also measured on the other 16, which the learner never saw).
struct LearnBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learn",
        abstract: "Train online on a generated or real-video stream, then print Table 3 (linear probes), retrieval and concept use.")

    enum DataMode: String, ExpressibleByArgument, CaseIterable { case synthetic, real }

    @Option(help: "Wall time of training in minutes (probes not counted).") var minutes: Double = 30
    @Option(help: "Stop after this many training steps instead of after --minutes. Such a run is paced by steps: the stream's rounds come every --round-steps steps and probes every --probe-every-steps, so two runs with one seed train on the same batches and print the same numbers.")
    var steps: Int?
    @Option(help: "With --steps: a round of new stream videos every this many steps (in place of --fresh-every's seconds), decoded while the steps before it run and held out of the replay buffer until its step. 0: the initial videos only. (default: 10)")
    var roundSteps: Int?
    @Option(help: "With --steps: probe during training every this many steps (0: only at the end). (default: 0)") var probeEverySteps: Int?
    @Option(help: "Model preset: tiny, small or paper.") var preset = "tiny"
    @Option(help: "Method: conceptd (the measured default) or paper (the spec's configuration, pinned).")
    var method: ModelConfig.Method = .conceptd
    @Option(help: "Override the preset's clip side (height = width).") var clipSize: Int?
    @Option(help: "Override the preset's frames per view T (clips have T + 1).") var clipFrames: Int?
    @Option(help: "Override Ks = Kd (the paper's 50).") var concepts: Int?
    @Option(name: .customLong("set"), help: "A model option as KEY=VALUE with the keys of the parity cases' metadata (nce=1, nce_static=0.5, difference=raw, queue_length=0, lr=0.02, ...); repeatable, applied after --method.")
    var overrides: [String] = []
    @Option(help: "Clips per training step (default: the method's).") var batch: Int?
    @Option(help: "Steps without L_loc at the start (default: the method's).") var warmup: Int?
    enum ScheduleKind: String, ExpressibleByArgument, CaseIterable { case constant, rsqrt }
    @Option(help: "Learning-rate schedule: constant or rsqrt (default: the method's).") var lrSchedule: ScheduleKind?
    @Option(help: "Steps at the full rate before rsqrt starts to lower it.") var lrHold: Int = 1000
    @Option(help: "Clip sampling rate in frames per second, for training and probe clips (default: the method's).")
    var clipFps: Double?
    @Option(help: "Seed of the model, the batches and the generated data.") var seed: UInt64 = 1
    @Option(help: "Losses switched on, comma-separated (aln, fid, div, loc); the others get weight 0 (the paper's Table 4). The InfoNCE terms are set with --set nce=… and nce_static=….")
    var losses = "aln,fid,div,loc"
    @Option(help: "The training stream: synthetic (generated videos) or real (segments of 30 of the real videos).")
    var data: DataMode = .synthetic
    @OptionGroup(title: "Generated videos (the synthetic stream and the probe set)") var video: GeneratedVideoOptions
    @Option(help: "Initial training videos per (background, motion) pair (synthetic stream).") var clipsPerPair = 8
    @Option(help: "Probe videos per (background, motion) pair (--probe-test-fraction of them on the test side).")
    var probeClipsPerPair = 44
    @Option(help: "Share of the probe set's clips on its test side.") var probeTestFraction = 0.5
    @Option(help: "Replay buffer capacity in clips.") var replay = 1024
    @Option(help: "Seconds between rounds of new stream videos renamed into the watch folder (synthetic: one per background/motion pair, new seeds; real: \(RealSegmentFeeder.segmentsPerRound) random segments); the replay buffer then keeps the newest clips (FIFO). 0: only the initial videos, kept by reservoir sampling (synthetic only).")
    var freshEvery: Double = 10
    @Option(help: "Probe during training every this many minutes of training (0: only at the end; default 10). A run of --steps probes by --probe-every-steps instead.")
    var probeEvery: Double?
    @Option(help: "Real videos (default: <repo>/../shared/data/videos, else $CONCEPT_VIDEOS_DIR; '' skips).")
    var videos: String?
    @Option(help: "Real videos held out of the real stream (their clips are the held-out retrieval set).") var heldOut = 16
    @Option(help: "Clips cut from each real video for retrieval over all of them, evenly spread.") var clipsPerVideo = 4
    @Option(help: "Clips cut from each held-out real video, evenly spread.") var heldOutClips = 8
    @Option(help: "Working folder for the generated data and probe history (default: a temporary folder, removed).")
    var work: String?
    @Option(help: "Compute threads (default: the core count). A run of --steps gives the same weights for one seed and one thread count; another count sums in another order.") var threads: Int?
    @Option(help: "Start training from these weights (a safetensors state dict with the model's names, as --save-weights writes) instead of the random init. The random-init baseline is still probed, for comparison; the optimiser, queues and step count start afresh.")
    var initWeights: String?
    @Option(help: "Write the trained weights (a safetensors state dict) to this path when training ends.") var saveWeights: String?

    func validate() throws {
        guard minutes > 0 else { throw ValidationError("--minutes must be positive") }
        guard (steps ?? 1) >= 1 else { throw ValidationError("--steps must be positive") }
        guard (batch ?? 2) >= 2 else { throw ValidationError("--batch must be at least 2") }
        guard (clipFps ?? 1) > 0, clipFps?.isFinite ?? true else { throw ValidationError("--clip-fps must be positive") }
        guard clipsPerVideo >= 2, heldOutClips >= 2 else { throw ValidationError("--clips-per-video and --held-out-clips must be at least 2 (retrieval needs a sibling clip)") }
        guard (probeEvery ?? 0) >= 0 else { throw ValidationError("--probe-every must be >= 0") }
        if steps != nil, let probeEvery, probeEvery > 0 {
            throw ValidationError("a run of --steps probes by steps: use --probe-every-steps instead of --probe-every")
        }
        if steps == nil, roundSteps != nil || probeEverySteps != nil {
            throw ValidationError("--round-steps and --probe-every-steps pace a run of --steps; a run of --minutes follows --fresh-every and --probe-every")
        }
        guard (roundSteps ?? 0) >= 0, (probeEverySteps ?? 0) >= 0 else { throw ValidationError("--round-steps and --probe-every-steps must be >= 0") }
        guard data == .synthetic || steps == nil || (roundSteps ?? 10) > 0 else { throw ValidationError("--data real with --steps needs --round-steps > 0") }
        guard freshEvery >= 0, freshEvery.isFinite else { throw ValidationError("--fresh-every must be a non-negative number of seconds") }
        guard data == .synthetic || freshEvery > 0 else { throw ValidationError("--data real needs --fresh-every > 0") }
        guard heldOut >= 2 else { throw ValidationError("--held-out must be at least 2") }
        guard lrHold >= 1 else { throw ValidationError("--lr-hold must be at least 1") }
        _ = try nuisance()
        _ = try schedule()
        _ = try Self.parseOverrides(overrides)
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

    /// Which of aln, fid, div, loc are on.
    static func lossWeights(_ text: String) throws -> Set<String> {
        let names = Set(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty })
        let known: Set<String> = ["aln", "fid", "div", "loc"]
        guard !names.isEmpty, names.isSubset(of: known) else {
            throw ValidationError("--losses takes a comma-separated subset of aln, fid, div, loc; got '\(text)'")
        }
        return names
    }

    /// The camera nuisances (on unless `--nuisances none`: the benchmark asks about real cameras).
    func nuisance() throws -> SyntheticNuisance { try video.camera.resolved(default: "camera") }

    func schedule() throws -> LearningRateSchedule {
        switch lrSchedule {
        case nil: return method.training.schedule
        case .constant: return .constant
        case .rsqrt: return .inverseSquareRoot(hold: lrHold)
        }
    }

    /// The model: preset, method, overrides, loss switches.
    func modelConfig() throws -> ModelConfig {
        var config = try ModelConfig.preset(preset, method: method)
        if let clipSize { config.height = clipSize; config.width = clipSize }
        if let clipFrames { config.frames = clipFrames }
        if let concepts { config.ks = concepts; config.kd = concepts; config.topK = Swift.min(config.topK, concepts) }
        do { try config.apply(overrides: try Self.parseOverrides(overrides)) } catch let e as ModelError { throw ValidationError(e.description) }
        let on = try Self.lossWeights(losses)
        if !on.contains("aln") { config.alnWeight = 0 }
        if !on.contains("fid") { config.beta = 0 }
        if !on.contains("div") { config.gamma = 0 }
        if !on.contains("loc") { config.alpha = 0 }
        try config.validate()
        return config
    }

    func run() throws {
        MediaLibrary.routeLibavLogs(to: nil, level: .error)
        if let threads { ComputeThreads.configure(threads) }
        let config = try modelConfig()
        let nuisance = try nuisance(), schedule = try schedule()
        let batch = batch ?? method.training.batchSize, warmup = warmup ?? method.training.warmupSteps
        let clipFps = clipFps ?? method.training.clipFps
        let fm = FileManager.default
        let root = work ?? NSTemporaryDirectory() + "concept-bench-learn-\(UUID().uuidString.prefix(8))"
        try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { if work == nil { try? fm.removeItem(atPath: root) } }
        let side = Swift.max(config.height, config.width)
        let size = try video.resolvedSize(default: SyntheticDataset.Size(width: side + side % 2, height: side + side % 2))
        let videoFrames = video.frames
        let on = try Self.lossWeights(losses)
        // Starting weights are read and checked against the model before anything slow happens.
        let initial = try initWeights.map { try Self.initialWeights(path: $0, config: config) }
        print("concept-bench learn: preset \(preset), method \(method) (\(config.frames + 1)x\(config.height)x\(config.width) clips at \(fmt(clipFps, 1)) fps, \(config.ks)+\(config.kd) concepts), batch \(batch), warm-up \(warmup) steps, lr \(config.learningRate) (\(schedule)), losses \(["aln", "fid", "div", "loc"].filter(on.contains).joined(separator: "+")) (w_aln \(config.alnWeight), α \(config.alpha), β \(config.beta), γ \(config.gamma)), \(Self.optionText(config)), \(steps.map { "\($0) steps" } ?? fmt(minutes, 1) + " min"), seed \(seed), stream \(data), nuisances \(nuisance); \(ComputeThreads.count) threads, \(BLASCore.summary)")

        // The probe set: generated videos with the same nuisances, other seeds than the stream.
        var t = Date()
        let probeData = try SyntheticDataset.generate(directory: root + "/probe", backgrounds: video.backgrounds, motions: video.motions,
                                                      clipsPerPair: probeClipsPerPair, size: size, frames: videoFrames, fps: video.fps,
                                                      seed: seed &* 1000 &+ 2, testFraction: probeTestFraction, overwrite: true,
                                                      nuisance: nuisance)
        let set = try ProbeSet.load(from: URL(fileURLWithPath: probeData.manifestPath))
        let history = try ProbeHistory(directory: URL(fileURLWithPath: root + "/probe-state"))
        let evaluator = try ProbeEvaluator(set: set, config: config, seed: seed,
                                           options: ProbeEvaluator.Options(fps: clipFps, batchSize: 16, representations: ProbeRepresentation.allCases),
                                           history: history)
        try evaluator.prepare()
        print("probe set: \(probeData.items.count) generated videos (\(probeData.trainCount) train, \(probeData.testCount) test) of \(size) x \(videoFrames) frames, decoded in \(fmt(Date().timeIntervalSince(t), 1)) s")
        t = Date()
        let baseline = try evaluator.baseline()
        print("random-init baseline probed in \(fmt(Date().timeIntervalSince(t), 1)) s")

        // Real videos: retrieval over all of them, and in the real mode the held-out ones.
        let real = try RealVideos(paths: realVideos(), options: evaluator.clipOptions, heldOut: data == .real ? heldOut : 0,
                                  clipsPerVideo: clipsPerVideo, heldOutClips: heldOutClips, seed: seed)
        if let real { print(real.summary) }
        let randomRetrieval = try real.map { try $0.retrieval(ProbeFeatureExtractor(config: config, seed: seed, batchSize: 16)) }

        // The daemon's path: watch folder → media clips (random crop) → replay buffer → trainer.
        let trainer = try Trainer(config: config, batchSize: batch, warmupSteps: warmup, seed: seed, store: nil,
                                  schedule: schedule)
        if let initial, let initWeights {
            try trainer.learner.model.load(from: initial.file)
            print("starting from \(initWeights) (weights sha256 \(initial.sha256.prefix(16)))")
        }
        var statisticsOptions = StatisticsOptions()
        statisticsOptions.galleryItems = 0
        let statistics = try LiveStatistics(config: config, options: statisticsOptions)
        let buffer = ReplayBuffer(capacity: replay, policy: freshEvery > 0 ? .fifo : .reservoir, seed: seed)
        let ingest = MediaIngest(queueCapacity: Swift.max(8, batch * 2))
        let watch = root + "/stream/train"
        try fm.createDirectory(atPath: watch, withIntermediateDirectories: true)
        // Paced by steps (a run of --steps) or by the clock (the daemon's situation).
        let stepPaced = steps != nil, roundSteps = roundSteps ?? 10, probeEverySteps = probeEverySteps ?? 0
        let pace: StreamPace = freshEvery == 0 ? .never : stepPaced ? (roundSteps > 0 ? .onRequest : .never) : .seconds(freshEvery)
        var pacer = stepPaced ? StepPacer(roundSteps: pace == .onRequest ? roundSteps : 0) : nil
        if stepPaced { print("paced by steps: " + (pace == .onRequest ? "a round of new videos every \(roundSteps) steps" : "the initial videos only") + ", each round held out of the replay buffer until its step") }
        let stream: any StreamFeeding
        switch data {
        case .synthetic:
            stream = try SyntheticStreamFeeder(directory: watch, staging: root + "/stream/staging", backgrounds: video.backgrounds,
                                               motions: video.motions, initialPerPair: clipsPerPair, size: size, frames: videoFrames, fps: video.fps,
                                               nuisance: nuisance, seed: seed &* 1000 &+ 3, pace: pace)
        case .real:
            guard let real, !real.training.isEmpty else { throw ValidationError("--data real needs the real videos (--videos)") }
            t = Date()
            let feeder = try RealSegmentFeeder(directory: watch, staging: root + "/stream/staging", videos: real.training,
                                               side: side, fps: clipFps, seconds: 3, seed: seed &* 1000 &+ 4, pace: pace)
            print("real stream: \(feeder.segmentCount) segments of 3 s cut from \(real.training.count) videos in \(fmt(Date().timeIntervalSince(t), 1)) s; held out: \(real.heldOutNames.joined(separator: ", "))")
            stream = feeder
        }
        var sourceOptions = SourceOptions(
            clip: ClipOptions(frames: config.frames + 1, height: config.height, width: config.width, fps: clipFps,
                              crop: .random, randomFlip: false, seed: seed),
            watch: WatchFolderOptions(settleSeconds: 0, after: freshEvery > 0 ? .delete : .keep, stateDirectory: root + "/ingest"))
        sourceOptions.logger.logLevel = .error
        let source = try ingest.add("folder:" + watch, name: "stream", options: sourceOptions)
        let feeder = Feeder(queue: ingest.queue, replay: buffer, holding: stepPaced)
        feeder.start()
        try stream.start()
        defer {
            stream.stop()
            source.stop()
            _ = source.join(timeout: 10)
            ingest.queue.close()
            feeder.join()
        }

        var run = RunRecord()
        let budget = minutes * 60
        var lastReport = 0.0, lastProbe = 0.0, lastProbeStep = 0
        let probeEvery = probeEvery ?? (stepPaced ? 0 : 10)
        let runStart = Date()
        /// A progress line, flushed so that it reaches a log file as it happens, not when the run ends.
        func progress(_ line: String) { print(line); fflush(nil) }
        progress("training…")
        func finished() -> Bool { steps.map { trainer.state.step >= $0 } ?? (run.trained >= budget) }
        while !finished() {
            let t0 = Date()
            if var p = pacer {
                // Bring in what is due before this step, and more early if the buffer cannot fill a batch yet.
                var action: StepPacer.Action? = p.next(completed: trainer.state.step)
                while let a = action {
                    if case .release(let b, let requestNext) = a {
                        try Self.releaseRound(rounds: b, stream: stream, source: source, feeder: feeder)
                        if requestNext { stream.thread.request() }
                    }
                    if buffer.count >= batch { break }
                    action = p.takeEarly()
                    if action == nil {
                        throw BenchError(.ingestFailed, "the replay buffer holds \(buffer.count) clips, fewer than a batch of \(batch), and the stream brings no more (--round-steps 0 or --fresh-every 0)")
                    }
                }
                pacer = p
                run.waited += Date().timeIntervalSince(t0)
            } else {
                guard buffer.wait(forAtLeast: batch, timeout: 1) else { run.trained += Date().timeIntervalSince(t0); continue }
            }
            switch try trainer.step(from: buffer) {
            case .stepped(let r):
                run.record(r.outputs.losses)
                try statistics.record(step: trainer.state.step, outputs: r.outputs)
            case .skipped, .rolledBack: run.skipped += 1
            case .waitingForData: break
            }
            run.trained += Date().timeIntervalSince(t0)
            if run.trained - lastReport >= 30 || finished() {
                lastReport = run.trained
                let s = trainer.state
                progress("  \(fmt(run.trained / 60, 1)) min: step \(s.step), \(fmt(Double(s.step * batch) / run.trained, 1)) clips/s, lr \(trainer.learner.optimizer.learningRate), loss avg \(lossText(s.lossAverage)), replay \(buffer.count)/\(buffer.totalSeen) seen, skipped \(run.skipped)")
            }
            let probeDue = stepPaced
                ? probeEverySteps > 0 && trainer.state.step % probeEverySteps == 0 && trainer.state.step > lastProbeStep
                : probeEvery > 0 && run.trained - lastProbe >= probeEvery * 60
            if probeDue, !finished() {
                (lastProbe, lastProbeStep) = (run.trained, trainer.state.step)
                let p0 = Date()
                let point = try probePoint(evaluator: evaluator, real: real, weights: trainer.learner.model.stateDict(),
                                           step: trainer.state.step, minutes: run.trained / 60, statistics: statistics)
                run.probing += Date().timeIntervalSince(p0)
                run.points.append(point)
                progress("  probe at step \(trainer.state.step): " + point.line(baseline: baseline))
            }
        }
        let wall = Date().timeIntervalSince(runStart)
        if let saveWeights {
            try trainer.learner.model.stateDict().write(to: URL(fileURLWithPath: saveWeights))
            print("weights written to \(saveWeights)")
        }
        print(stream.summary(clipsSeen: buffer.totalSeen))
        if let error = stream.error { print("the stream feeder stopped: \(error)") }
        let p0 = Date()
        let final = try probePoint(evaluator: evaluator, real: real, weights: trainer.learner.model.stateDict(),
                                   step: trainer.state.step, minutes: run.trained / 60, statistics: statistics)
        run.probing += Date().timeIntervalSince(p0)
        run.points.append(final)
        try report(run: run, final: final, baseline: baseline, randomRetrieval: randomRetrieval, real: real, set: set,
                   evaluator: evaluator, trainer: trainer, batch: batch, wall: wall, config: config)
    }

    /// The weights of `--init-weights`, checked against a model of `config` (names and shapes), and their SHA-256.
    static func initialWeights(path: String, config: ModelConfig) throws -> (file: SafeTensorsFile, sha256: String) {
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ValidationError("--init-weights \(path): \(error)")
        }
        do { try ConceptModel(config: config).load(from: file) } catch {
            throw ValidationError("--init-weights \(path) does not fit the model (\(config.optionSummary)): \(error)")
        }
        return (file, SHA256.hex(file.serialized()))
    }

    /// The options beyond the backbone, for the header and the RESULT line.
    static func optionText(_ c: ModelConfig) -> String {
        "nce \(c.nce), nce_static \(c.nceStatic), nce_queue \(c.nceQueue), nce_reverse \(c.nceReverse), nce_tau \(c.nceTauText), static_consistency \(c.staticConsistency)\(c.staticConsistencyGrad == .all ? "" : " (\(c.staticConsistencyGrad) only)")\(c.fidVGrad == .all ? "" : ", fid_v_grad \(c.fidVGrad)"), difference \(c.difference), static_view \(c.staticView), sigma \(c.sigma), v_heads \(c.vHeads)\(c.vHeads == .split ? " (\(c.vHeadsInit) init)" : ""), queue \(c.queueLength)"
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

    func fmt(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
}

extension ModelConfig.Method: ExpressibleByArgument {}
