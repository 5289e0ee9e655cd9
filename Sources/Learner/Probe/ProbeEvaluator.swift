import ConceptModel
import Foundation
import Synchronization
import Autograd
import SafeTensors
import ConceptReports

/// Probes the learner's representations periodically: decodes a labelled probe set once (clips cached in memory),
/// runs its own copy of the network in evaluation mode on weights the trainer hands over, and fits a linear probe
/// and scores retrieval for every label column and every representation of the paper's Table 3. The
/// random-initialised encoder (same configuration, same seed) is probed once and stored; every later result carries
/// its gain over it. With a `ProbeHistory`, results are appended to its file.
///
/// ```swift
/// let set = try ProbeSet.load(from: URL(fileURLWithPath: "/srv/probe"))
/// let evaluator = try ProbeEvaluator(set: set, config: config, seed: seed, history: ProbeHistory(directory: stateDir))
/// // on the trainer's thread, between steps:  let weights = try trainer.learner.model.stateDict()
/// // on a background thread:                  let result = try evaluator.evaluate(stateDict: weights, step: step)
/// ```
///
/// The evaluator shares nothing mutable with the trainer: the state dict is a value copy and the network is its own.
/// Calls are serialised (one evaluation at a time); any thread may call.
public final class ProbeEvaluator: Sendable {
    /// Evaluator settings.
    public struct Options: Sendable, Equatable, Codable {
        /// Clip sampling rate (the daemon's default is 16 fps).
        public var fps: Double
        /// Clips per forward pass (the backbone sees 3x as many: the v, s and d views).
        public var batchSize: Int
        /// Share of concepts whose local features are averaged for `F_v`, `F_v^s`, `F_v^d` (the paper's 10 %).
        public var localFraction: Double
        /// The linear probe's penalty grid, validation share and solver.
        public var linear: LinearProbe.Options
        /// Videos decoded at a time when the set is first read (0: one per core).
        public var decodeWorkers: Int
        /// The representations probed, in this order (the paper's Table 3 by default; a run that needs a few saves the
        /// others' linear probes; `s` or `q_s` adds a pass over the static view).
        public var representations: [ProbeRepresentation]

        /// Defaults: 16 fps, batches of 8, top 10 %, the linear probe's defaults, Table 3's representations.
        public init(fps: Double = 16, batchSize: Int = 8, localFraction: Double = 0.1,
                    linear: LinearProbe.Options = LinearProbe.Options(), decodeWorkers: Int = 0,
                    representations: [ProbeRepresentation] = ProbeRepresentation.table3) {
            self.fps = fps
            self.batchSize = batchSize
            self.localFraction = localFraction
            self.linear = linear
            self.decodeWorkers = decodeWorkers
            self.representations = representations
        }

        /// Throws `ProbeError.invalidOptions` for out-of-range values.
        public func validate() throws {
            guard fps.isFinite && fps > 0 else { throw ProbeError.invalidOptions("fps must be positive, got \(fps)") }
            guard batchSize >= 1 else { throw ProbeError.invalidOptions("batch size must be at least 1, got \(batchSize)") }
            guard localFraction > 0 && localFraction <= 1 else {
                throw ProbeError.invalidOptions("local fraction must be in (0, 1], got \(localFraction)")
            }
            guard decodeWorkers >= 0 else { throw ProbeError.invalidOptions("decode workers must be >= 0") }
            guard !representations.isEmpty, Set(representations).count == representations.count else {
                throw ProbeError.invalidOptions("representations must be a non-empty list without repeats, got \(representations)")
            }
            try linear.validate()
        }
    }

    /// The probe set.
    public let set: ProbeSet
    /// The model configuration (the trainer's).
    public let config: ModelConfig
    /// The trainer's seed (the baseline is the network this seed initialises).
    public let seed: UInt64
    /// Settings.
    public let options: Options
    /// Where results go (nil: nowhere).
    public let history: ProbeHistory?
    /// Hash of the set (names, labels, split, file sizes), configuration, seed and the options that change results.
    public let fingerprint: String
    /// How clips are cut from the set's videos.
    public let clipOptions: ProbeClipOptions

    /// What evaluations build up; the lock around it also serialises them.
    private struct State {
        var clips: [[Float]]?
        var extractor: ProbeFeatureExtractor?
        var baseline: ProbeResult?
    }
    private let state = Mutex(State())
    private let cancelled = Atomic<Bool>(false)

    /// An evaluator for `set` and a model of `config` initialised with `seed`. Nothing is decoded yet (see
    /// `prepare()`); a baseline stored in `history` under this fingerprint is picked up.
    public init(set: ProbeSet, config: ModelConfig, seed: UInt64, options: Options = Options(),
                history: ProbeHistory? = nil) throws {
        try options.validate()
        do { try config.validate() } catch { throw ProbeError.invalidOptions("model configuration: \(error)") }
        try set.validate()
        self.set = set
        self.config = config
        self.seed = seed
        self.options = options
        self.history = history
        clipOptions = ProbeClipOptions(frames: config.frames + 1, height: config.height, width: config.width, fps: options.fps)
        try clipOptions.validate()
        fingerprint = Self.fingerprint(set: set, config: config, seed: seed, options: options)
        let stored = history?.baseline(fingerprint: fingerprint)
        state.withLock { $0.baseline = stored }
    }

    /// Decodes the set's clips now (otherwise the first evaluation does). Throws `ProbeError` naming the video that
    /// failed.
    public func prepare() throws {
        try state.withLock { s in _ = try clips(&s) }
    }

    /// Stops a running evaluation at its next batch or probe, and refuses later ones (for shutdown).
    public func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// The random-initialised encoder's result: stored in the history when there, else computed once (and stored).
    public func baseline() throws -> ProbeResult {
        try state.withLock { s in try baseline(&s) }
    }

    /// Probes the weights in `stateDict` (a `ConceptModel.stateDict()` of the trainer's model) as of `step`: the
    /// result carries its gain over the baseline (computed first if needed) and is appended to the history.
    public func evaluate(stateDict: SafeTensorsFile, step: Int) throws -> ProbeResult {
        try state.withLock { s in
            let base = try baseline(&s)
            let start = Date()
            let network = try evaluationExtractor(&s)
            try network.load(stateDict: stateDict)
            var result = try probe(features: extract(network, &s), step: step, started: start)
            result.attachGains(baseline: base)
            try history?.append(result)
            return result
        }
    }

    /// Every representation of every clip of the set, in set order, for the weights in `stateDict` (nil: the
    /// random-initialised network).
    public func features(stateDict: SafeTensorsFile?) throws -> ProbeFeatures {
        try state.withLock { s in
            guard let stateDict else { return try extract(freshExtractor(), &s) }
            let network = try evaluationExtractor(&s)
            try network.load(stateDict: stateDict)
            return try extract(network, &s)
        }
    }

    /// Probes given features (one row per set item, in set order) as of `step` (nil: a baseline), without gains
    /// and without touching the history.
    public func probe(features: ProbeFeatures, step: Int?, started: Date = Date()) throws -> ProbeResult {
        guard features.count == set.items.count else {
            throw ProbeError.invalidOptions("\(features.count) feature rows for \(set.items.count) videos")
        }
        let items = set.items
        let trainRows = items.indices.filter { items[$0].split == .train }
        let testRows = items.indices.filter { items[$0].split == .test }
        let keys = trainRows.map { StratifiedSplit.hash(items[$0].name) }
        var rows: [ProbeRow] = []
        for (l, label) in set.labelNames.enumerated() {
            let classes = set.classes(l)
            let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
            let yTrain = trainRows.map { index[items[$0].labels[l]]! }, yTest = testRows.map { index[items[$0].labels[l]]! }
            var counts = [Int](repeating: 0, count: classes.count)
            for y in yTrain { counts[y] += 1 }
            let majority = counts.indices.max { (counts[$0], -$0) < (counts[$1], -$1) }!
            let chance = Double(yTest.count { $0 == majority }) / Double(yTest.count)
            for r in options.representations {
                try checkCancelled()
                let x = features[r]
                let train = x.selecting(rows: trainRows), test = x.selecting(rows: testRows)
                let outcome = try LinearProbe.run(train: train, trainLabels: yTrain, test: test, testLabels: yTest,
                                                  classes: classes.count, trainKeys: keys, options: options.linear)
                let recall = Retrieval.recall(queries: test, queryLabels: yTest, gallery: train, galleryLabels: yTrain,
                                              centre: train.columnMeans())
                rows.append(ProbeRow(label: label, representation: r, dimension: x.columns, accuracy: outcome.accuracy,
                                     chance: chance, penalty: outcome.penalty, recall: ProbeRecall(recall), gain: nil))
            }
        }
        let now = Date()
        return ProbeResult(step: step, time: Date(timeIntervalSince1970: (now.timeIntervalSince1970 * 1000).rounded() / 1000),
                           duration: now.timeIntervalSince(started), fingerprint: fingerprint,
                           trainClips: trainRows.count, testClips: testRows.count, labels: set.labelNames, rows: rows)
    }

    // MARK: - helpers run inside the lock

    private func checkCancelled() throws {
        if cancelled.load(ordering: .relaxed) { throw ProbeError.cancelled() }
    }

    private func clips(_ s: inout State) throws -> [[Float]] {
        if let clips = s.clips { return clips }
        try checkCancelled()
        let decoded = try ProbeClipReader.read(paths: set.items.map(\.path), options: clipOptions, positions: [0.5],
                                               workers: options.decodeWorkers)
        let flat = decoded.map { $0[0].data }
        s.clips = flat
        return flat
    }

    private func baseline(_ s: inout State) throws -> ProbeResult {
        if let cached = s.baseline { return cached }
        let start = Date()
        let result = try probe(features: extract(freshExtractor(), &s), step: nil, started: start)
        try history?.storeBaseline(result)
        s.baseline = result
        return result
    }

    private func freshExtractor() throws -> ProbeFeatureExtractor {
        try ProbeFeatureExtractor(config: config, seed: seed, batchSize: options.batchSize, localFraction: options.localFraction)
    }

    private func evaluationExtractor(_ s: inout State) throws -> ProbeFeatureExtractor {
        if let extractor = s.extractor { return extractor }
        let e = try freshExtractor()
        s.extractor = e
        return e
    }

    private func extract(_ network: ProbeFeatureExtractor, _ s: inout State) throws -> ProbeFeatures {
        try network.features(clips: clips(&s), staticFrame: options.representations.contains { ProbeRepresentation.staticFrame.contains($0) },
                             isCancelled: { [self] in cancelled.load(ordering: .relaxed) })
    }

    static func fingerprint(set: ProbeSet, config: ModelConfig, seed: UInt64, options: Options) -> String {
        // Version 2: the random initialisation of a seed changed when the generators were merged (2026-12-06), so a
        // baseline stored under version 1 is not this seed's random-init encoder any more.
        var text = "conceptd-probe-2\n"
        for (k, v) in config.metadata.sorted(by: { $0.key < $1.key }) { text += "\(k)=\(v)\n" }
        text += "seed=\(seed)\nfps=\(options.fps)\nlocal=\(options.localFraction)\n"
        text += "representations=\(options.representations.map(\.rawValue).joined(separator: ","))\n"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if let linear = try? encoder.encode(options.linear) { text += String(decoding: linear, as: UTF8.self) + "\n" }
        text += "labels=\(set.labelNames.joined(separator: "\t"))\n"
        for item in set.items {
            let size = (try? FileManager.default.attributesOfItem(atPath: item.path)[.size] as? Int) ?? -1
            text += "\(item.name)\t\(item.labels.joined(separator: "\t"))\t\(item.split.rawValue)\t\(size)\n"
        }
        return SHA256.hex(Array(text.utf8))
    }
}
