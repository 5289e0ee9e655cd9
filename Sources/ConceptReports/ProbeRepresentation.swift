/// The representations of the paper's Table 3, read from one forward pass of the whole clip `v` (the pooled feature,
/// the concept codes and their static/dynamic halves, and the local feature sets averaged over the top 10 % concepts),
/// and two of the static frame alone, read from a pass over the static view.
public enum ProbeRepresentation: String, Sendable, Codable, CodingKeyRepresentable, CaseIterable, CustomStringConvertible {
    /// The pooled backbone feature `feat[v]` (`C`).
    case v = "v"
    /// All concept codes `q_v` (`Ks + Kd`).
    case qV = "q_v"
    /// The static columns `q_v^s = q_v[:, 0..<Ks]`.
    case qVs = "q_v^s"
    /// The dynamic columns `q_v^d = q_v[:, Ks..<Ks+Kd]`.
    case qVd = "q_v^d"
    /// Local features of the top 10 % concepts of `q_v`, averaged (`d`).
    case fV = "F_v"
    /// Local features of the top 10 % static concepts of `q_v^s`, averaged.
    case fVs = "F_v^s"
    /// Local features of the top 10 % dynamic concepts of `q_v^d`, averaged.
    case fVd = "F_v^d"
    /// The pooled backbone feature of the static view `s` (the clip's middle frame repeated; `C`): what one frame
    /// tells, so a bound on what anything that follows the static frame can carry.
    case s = "s"
    /// The static frame's codes `q_s` over the static prototypes `P_s` (`Ks`).
    case qS = "q_s"

    public var description: String { rawValue }

    /// The paper's Table 3: the clip view's seven (what probes read by default).
    public static let table3: [ProbeRepresentation] = [.v, .qV, .qVs, .qVd, .fV, .fVs, .fVd]
    /// The static frame's two, read by a second pass over the static view.
    public static let staticFrame: [ProbeRepresentation] = [.s, .qS]
}
