/// Knobs of `LiveStatistics`. Field names are also the JSON keys (`Codable`).
public struct StatisticsOptions: Sendable, Codable, Equatable {
    /// Rate α of the per-step exponential moving averages of concept frequency, activation, target mass and
    /// agreement (`m ← m + α (x − m)`, bias-corrected). 0.01 averages over roughly the last 100 steps.
    public var emaRate: Double = 0.01
    /// A concept is dead when no clip had it in its top-K during the last `deadWindow` steps.
    public var deadWindow: Int = 1000
    /// Clips kept per concept gallery.
    public var galleryItems: Int = 6
    /// Longer side of a gallery thumbnail in pixels.
    public var thumbnailSize: Int = 48
    /// Ageing of gallery entries: an entry's score is its activation minus `galleryDecayPerStep` per step since it
    /// was seen, so an old strong clip gives way to a recent one (1e-4: one cosine unit per 10 000 steps).
    public var galleryDecayPerStep: Double = 1e-4
    /// Concepts listed per source and branch (nil: the model's top-K).
    public var topConcepts: Int? = nil
    /// Seconds between two inspections of one source (`inspectDue`).
    public var inspectionInterval: Double = 5
    /// Sources remembered; the one inspected longest ago is dropped beyond this.
    public var maxSources: Int = 64
    /// Points of the downsampled training history (even; when full, neighbours merge and the resolution halves).
    public var historyCapacity: Int = 512
    /// Rate of the loss moving averages in the training history.
    public var lossAverageRate: Double = 0.05
    /// Attention overlays are drawn at the frame size times this integer factor.
    public var attentionScale: Int = 2
    /// Opacity of the attention colour over the frame, 0...1.
    public var overlayAlpha: Double = 0.55

    /// The defaults.
    public init() {}

    /// Decodes options; a missing key keeps its default, so `{}` and partial objects are fine.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = StatisticsOptions()
        emaRate = try c.decodeIfPresent(Double.self, forKey: .emaRate) ?? d.emaRate
        deadWindow = try c.decodeIfPresent(Int.self, forKey: .deadWindow) ?? d.deadWindow
        galleryItems = try c.decodeIfPresent(Int.self, forKey: .galleryItems) ?? d.galleryItems
        thumbnailSize = try c.decodeIfPresent(Int.self, forKey: .thumbnailSize) ?? d.thumbnailSize
        galleryDecayPerStep = try c.decodeIfPresent(Double.self, forKey: .galleryDecayPerStep) ?? d.galleryDecayPerStep
        topConcepts = try c.decodeIfPresent(Int.self, forKey: .topConcepts) ?? d.topConcepts
        inspectionInterval = try c.decodeIfPresent(Double.self, forKey: .inspectionInterval) ?? d.inspectionInterval
        maxSources = try c.decodeIfPresent(Int.self, forKey: .maxSources) ?? d.maxSources
        historyCapacity = try c.decodeIfPresent(Int.self, forKey: .historyCapacity) ?? d.historyCapacity
        lossAverageRate = try c.decodeIfPresent(Double.self, forKey: .lossAverageRate) ?? d.lossAverageRate
        attentionScale = try c.decodeIfPresent(Int.self, forKey: .attentionScale) ?? d.attentionScale
        overlayAlpha = try c.decodeIfPresent(Double.self, forKey: .overlayAlpha) ?? d.overlayAlpha
    }

    /// Checks every value; the error lists all problems.
    public func validate() throws {
        var problems: [String] = []
        if !(emaRate > 0 && emaRate <= 1) { problems.append("emaRate must be in (0, 1], got \(emaRate)") }
        if deadWindow < 1 { problems.append("deadWindow must be >= 1, got \(deadWindow)") }
        if galleryItems < 0 || galleryItems > 64 { problems.append("galleryItems must be in 0...64, got \(galleryItems)") }
        if thumbnailSize < 8 || thumbnailSize > 256 { problems.append("thumbnailSize must be in 8...256, got \(thumbnailSize)") }
        if !(galleryDecayPerStep >= 0) || !galleryDecayPerStep.isFinite { problems.append("galleryDecayPerStep must be >= 0") }
        if let t = topConcepts, t < 1 { problems.append("topConcepts must be >= 1, got \(t)") }
        if !(inspectionInterval >= 0) || !inspectionInterval.isFinite { problems.append("inspectionInterval must be >= 0") }
        if maxSources < 1 { problems.append("maxSources must be >= 1, got \(maxSources)") }
        if historyCapacity < 4 || historyCapacity % 2 != 0 { problems.append("historyCapacity must be even and >= 4, got \(historyCapacity)") }
        if !(lossAverageRate > 0 && lossAverageRate <= 1) { problems.append("lossAverageRate must be in (0, 1], got \(lossAverageRate)") }
        if attentionScale < 1 || attentionScale > 8 { problems.append("attentionScale must be in 1...8, got \(attentionScale)") }
        if !(overlayAlpha >= 0 && overlayAlpha <= 1) { problems.append("overlayAlpha must be in 0...1, got \(overlayAlpha)") }
        if !problems.isEmpty { throw StatisticsError.invalidOptions(problems.joined(separator: "; ")) }
    }
}
