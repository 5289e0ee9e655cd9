/// The representations of the paper's Table 3, read from one forward pass of the whole clip `v`:
/// the pooled feature, the concept codes and their static/dynamic halves, and the local feature sets averaged over
/// the top 10 % concepts.
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

    public var description: String { rawValue }
}
