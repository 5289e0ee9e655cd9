import ConceptReports

extension API {
    /// `static` or `dynamic`.
    public typealias ConceptBranch = ConceptReports.ConceptBranch
    /// A source's current top concepts (`GET /v1/sources/{name}`'s `concepts`).
    public typealias SourceConcepts = ConceptReports.SourceConcepts
    /// The loss history (`GET /v1/training`'s `history`).
    public typealias TrainingHistory = ConceptReports.TrainingHistoryReport
    /// `GET /v1/concepts`: per-branch usage and per-concept statistics.
    public typealias Concepts = ConceptReports.ConceptsReport
    /// `GET /v1/concepts/{branch}/{k}`: one concept with its gallery.
    public typealias ConceptDetail = ConceptReports.ConceptDetail
}
