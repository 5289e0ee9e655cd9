import ConceptModel
import ConceptReports

extension LossTerms {
    /// The reported terms of `losses`.
    public init(_ losses: Losses) {
        self.init(aln: Float(losses.aln), div: Float(losses.div), fid: Float(losses.fid), loc: Float(losses.loc),
                  nce: Float(losses.nce), nceStatic: Float(losses.nceStatic),
                  consistency: Float(losses.consistency), total: Float(losses.total))
    }
}
