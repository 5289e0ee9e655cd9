/// The two kinds of concept: static (appearance, `q_s`, columns `0..<Ks` of `q_v`) and dynamic (motion, `q_d`,
/// columns `Ks..<Ks+Kd` of `q_v`). Raw values `"static"` and `"dynamic"` (the API's path component and JSON).
public enum ConceptBranch: String, Sendable, Codable, CaseIterable {
    case `static`, dynamic
}
