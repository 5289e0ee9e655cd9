// TEMPORARY while the statistics and probe branches land: replaced by the Learner types.
import Foundation
extension API {
    public enum ConceptBranch: String, Codable, Sendable { case `static`, dynamic }
    public struct SourceConcepts: Codable, Sendable {}
    public struct TrainingHistory: Codable, Sendable {}
    public struct Concepts: Codable, Sendable {}
    public struct ConceptDetail: Codable, Sendable {}
    public struct Probe: Codable, Sendable {}
}
struct PendingStats { func source(named: String) -> API.SourceConcepts? { nil } }
extension Daemon {
    var statistics: PendingStats { PendingStats() }
    func probeHeadline() -> API.ProbeHeadline? { nil }
    func updateConceptAndProbeMetrics() {}
    public func apiTraining() -> API.Training { API.Training(summary: trainingSummary(loop.status, current.withLock { $0 }), history: .init()) }
    public func apiConcepts(branch: API.ConceptBranch?) -> API.Concepts { .init() }
    public func apiConcept(branch: API.ConceptBranch, index: Int) -> API.ConceptDetail? { nil }
    public func apiGalleryPNG(branch: API.ConceptBranch, index: Int, item: Int) -> [UInt8]? { nil }
    public func apiAttentionPNG(source: String) -> [UInt8]? { nil }
    public func apiProbe() -> API.Probe { .init() }
}
