// TEMPORARY while the probe branch lands.
import Foundation
extension API {
    public struct Probe: Codable, Sendable {}
}
extension Daemon {
    func probeHeadline() -> API.ProbeHeadline? { nil }
    func updateProbeMetrics() {}
    public func apiProbe() -> API.Probe { .init() }
}
