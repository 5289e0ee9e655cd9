import Learner

extension API {
    /// `static` or `dynamic`.
    public typealias ConceptBranch = Learner.ConceptBranch
    /// A source's current top concepts (`GET /v1/sources/{name}`'s `concepts`).
    public typealias SourceConcepts = Learner.SourceConcepts
    /// The loss history (`GET /v1/training`'s `history`).
    public typealias TrainingHistory = Learner.TrainingHistoryReport
    /// `GET /v1/concepts`: per-branch usage and per-concept statistics.
    public typealias Concepts = Learner.ConceptsReport
    /// `GET /v1/concepts/{branch}/{k}`: one concept with its gallery.
    public typealias ConceptDetail = Learner.ConceptDetail
}
