import ConceptModel
import Foundation
import Media
import Synchronization
import Autograd
import LibAV
import ConceptReports

/// Live concept statistics of a training run, for the HTTP API and dashboard.
///
/// The trainer's thread writes (`record`, `recordTraining`, `inspect`/`inspectDue` between steps); any thread
/// reads (`concepts`, `concept`, `sources`, `attentionPNG`, `galleryPNG`, `training`). One `Mutex` guards a value
/// state; reads copy it out (copy-on-write: no pixel is copied) and do their work — building reports, rendering,
/// PNG encoding — outside the lock, so a reader never holds up the trainer for more than a copy.
///
/// Memory is bounded, whatever the run length:
/// - concept usage: 6 numbers per concept;
/// - galleries: `(Ks + Kd) · galleryItems` thumbnails of at most `thumbnailSize²·3` bytes
///   (100 concepts · 6 · 48² · 3 ≈ 4.1 MB);
/// - sources: `maxSources` inspections, each a middle frame (`H·W·3` bytes) and two attention rows
///   (`2·T'H'W'` floats): 64 · 37 KB ≈ 2.4 MB at 112 x 112;
/// - training history: `historyCapacity + 3` points of ~120 bytes (≈ 60 KB at 512).
public final class LiveStatistics: Sendable {
    /// The model configuration the statistics are for.
    public let config: ModelConfig
    /// The options.
    public let options: StatisticsOptions
    let state: Mutex<State>

    /// What one inspection keeps for the source's report and pictures.
    struct Inspection: Sendable {
        var report: SourceConcepts
        var clock: Double
        var frame: RGBImage
        var staticAttention: [Float]
        var dynamicAttention: [Float]
        var grid: (Int, Int, Int)
    }

    /// Everything the lock guards.
    struct State: Sendable {
        var staticUsage: ConceptUsage
        var dynamicUsage: ConceptUsage
        var staticGalleries: [ConceptGallery]
        var dynamicGalleries: [ConceptGallery]
        var sources: [String: Inspection] = [:]
        var history: TrainingHistory
        var step = 0

        func usage(_ b: ConceptBranch) -> ConceptUsage { b == .static ? staticUsage : dynamicUsage }
        func galleries(_ b: ConceptBranch) -> [ConceptGallery] { b == .static ? staticGalleries : dynamicGalleries }
    }

    /// Empty statistics for a model of `config`.
    public init(config: ModelConfig, options: StatisticsOptions = StatisticsOptions()) throws {
        try config.validate()
        try options.validate()
        self.config = config
        self.options = options
        let gallery = ConceptGallery(capacity: options.galleryItems, decay: options.galleryDecayPerStep)
        state = Mutex(State(staticUsage: ConceptUsage(count: config.ks), dynamicUsage: ConceptUsage(count: config.kd),
                            staticGalleries: Array(repeating: gallery, count: config.ks),
                            dynamicGalleries: Array(repeating: gallery, count: config.kd),
                            history: TrainingHistory(capacity: options.historyCapacity, rate: options.lossAverageRate)))
    }

    /// Concepts per branch.
    func count(_ b: ConceptBranch) -> Int { b == .static ? config.ks : config.kd }

    // MARK: - reading

    /// Usage of every concept of both branches.
    public var concepts: ConceptsReport {
        let (s, d) = state.withLock { ($0.staticUsage, $0.dynamicUsage) }
        return ConceptsReport(step: s.step, steps: s.steps, firstStep: s.firstStep, topK: Swift.min(config.topK, config.ks, config.kd),
                              deadWindow: options.deadWindow, emaRate: options.emaRate,
                              static: s.usage(.static, window: options.deadWindow),
                              dynamic: d.usage(.dynamic, window: options.deadWindow))
    }

    /// Usage of one branch's concepts (`concepts.static` or `concepts.dynamic`, built alone).
    public func usage(branch: ConceptBranch) -> BranchUsage {
        state.withLock { $0.usage(branch) }.usage(branch, window: options.deadWindow)
    }

    /// One concept's statistics and gallery (nil: no such concept); `thumbnails` adds each gallery clip's
    /// thumbnail as base64 PNG.
    public func concept(branch: ConceptBranch, index: Int, thumbnails: Bool = false) -> ConceptDetail? {
        guard (0..<count(branch)).contains(index) else { return nil }
        let (usage, gallery, step) = state.withLock { ($0.usage(branch), $0.galleries(branch)[index], $0.step) }
        return ConceptDetail(branch: branch, stats: usage.stats(window: options.deadWindow)[index],
                             gallery: gallery.items(now: step, thumbnails: thumbnails))
    }

    /// The thumbnail of gallery item `item` (0 = highest score) of a concept, as PNG (nil: no such item).
    public func galleryPNG(branch: ConceptBranch, index: Int, item: Int) -> [UInt8]? {
        guard (0..<count(branch)).contains(index) else { return nil }
        let ranked = state.withLock { $0.galleries(branch)[index].ranked }
        guard ranked.indices.contains(item) else { return nil }
        return try? ranked[item].thumbnail.png()
    }

    /// The latest inspection of every source, by name.
    public var sources: [SourceConcepts] {
        state.withLock { $0.sources.values.map(\.report) }.sorted { $0.source < $1.source }
    }

    /// The latest inspection of the source `name` (nil: not inspected yet).
    public func source(named name: String) -> SourceConcepts? { state.withLock { $0.sources[name]?.report } }

    /// The attention of the top static (left) and top dynamic (right) concept of `source`'s latest inspected clip
    /// over its middle frame, as PNG (nil: not inspected yet). Each half is the layer4 attention row averaged over
    /// T', min-max scaled, upsampled bilinearly to `attentionScale` times the frame size, colour-mapped (inferno)
    /// and blended over the frame with opacity `overlayAlpha`; `2 · attentionScale` grey columns separate them.
    /// Rendered on the caller's thread.
    public func attentionPNG(source: String) -> [UInt8]? {
        guard let i = state.withLock({ $0.sources[source] }) else { return nil }
        let (t, h, w) = i.grid
        guard t * h * w > 0 else { return nil }
        let halves = [i.staticAttention, i.dynamicAttention].map { row in
            AttentionRenderer.overlay(frame: i.frame, map: AttentionRenderer.spatialMap(row, grid: i.grid), mapHeight: h,
                                      mapWidth: w, scale: options.attentionScale, alpha: options.overlayAlpha)
        }
        return try? AttentionRenderer.sideBySide(halves, gap: 2 * options.attentionScale).png()
    }

    /// The middle frame of `source`'s latest inspected clip, as PNG (nil: not inspected yet).
    public func framePNG(source: String) -> [UInt8]? {
        guard let frame = state.withLock({ $0.sources[source]?.frame }) else { return nil }
        return try? frame.png()
    }

    /// Loss averages, the bounded history, throughput and skipped steps.
    public var training: TrainingHistoryReport { state.withLock { $0.history }.report }
}
