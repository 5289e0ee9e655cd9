/// The loss terms of a step (or their averages) as reported: the API's and the dashboard's `losses`. Field names
/// are the JSON keys.
public struct LossTerms: Sendable, Codable, Equatable {
    public var aln: Float = 0, div: Float = 0, fid: Float = 0, loc: Float = 0, nce: Float = 0, nceStatic: Float = 0
    /// The static-code consistency term (`static_consistency`).
    public var consistency: Float = 0
    public var total: Float = 0

    /// Terms with the given values (all zero by default).
    public init(aln: Float = 0, div: Float = 0, fid: Float = 0, loc: Float = 0, nce: Float = 0, nceStatic: Float = 0,
                consistency: Float = 0, total: Float = 0) {
        self.aln = aln; self.div = div; self.fid = fid; self.loc = loc; self.nce = nce; self.nceStatic = nceStatic
        self.consistency = consistency; self.total = total
    }

    /// Whether every term is finite.
    public var isFinite: Bool { [aln, div, fid, loc, nce, nceStatic, consistency, total].allSatisfy(\.isFinite) }
}
