import Foundation
import Learner
import ConceptReports
import ConceptAPI

/// The concept and training-history endpoints, answered from the live statistics.
extension Daemon {
    public func apiTraining() -> API.Training {
        API.Training(summary: trainingSummary(loop.status, current.withLock { $0 }), history: statistics.training)
    }

    public func apiConcepts(branch: API.ConceptBranch?) -> API.Concepts {
        var report = statistics.concepts
        switch branch {
        case .static?: report.dynamic.concepts = []
        case .dynamic?: report.static.concepts = []
        case nil: break
        }
        return report
    }

    public func apiConcept(branch: API.ConceptBranch, index: Int) -> API.ConceptDetail? {
        statistics.concept(branch: branch, index: index)
    }

    public func apiGalleryPNG(branch: API.ConceptBranch, index: Int, item: Int) -> [UInt8]? {
        statistics.galleryPNG(branch: branch, index: index, item: item)
    }

    public func apiAttentionPNG(source: String) -> [UInt8]? { statistics.attentionPNG(source: source) }

    /// Concept usage and probe metrics.
    func updateConceptAndProbeMetrics() {
        let c = statistics.concepts
        for usage in [c.static, c.dynamic] {
            let l = [("branch", usage.branch.rawValue)]
            metrics.gauge("conceptd_concept_usage_entropy", l, usage.entropy)
            metrics.gauge("conceptd_concept_perplexity", l, usage.perplexity)
            metrics.gauge("conceptd_concepts_dead", l, Double(usage.deadCount))
        }
        updateProbeMetrics()
    }
}
