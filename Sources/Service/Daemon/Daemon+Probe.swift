import Foundation
import Learner
import ConceptAPI

/// The probe endpoint and metrics.
extension Daemon {
    public func apiProbe() -> API.Probe {
        guard let probe else {
            return API.Probe(configured: false, set: nil, everySteps: nil, everyMinutes: nil, running: false, lastError: nil,
                             baseline: nil, latest: nil, history: [])
        }
        let s = probe.status
        let set: String = switch probe.settings.input { case .set(let p): p; case .manifest(let p): p }
        let fingerprint = probe.evaluator?.fingerprint
        return API.Probe(configured: true, set: set, everySteps: probe.settings.everySteps, everyMinutes: probe.settings.everyMinutes,
                         running: s.running, lastError: s.lastError,
                         baseline: fingerprint.flatMap { probe.history?.baseline(fingerprint: $0) },
                         latest: probe.history?.latest, history: Array((probe.history?.entries ?? []).suffix(500)))
    }

    func probeHeadline() -> API.ProbeHeadline? {
        guard let latest = probe?.history?.latest, let step = latest.step else { return nil }
        var accuracy: [String: Double] = [:]
        for label in latest.labels { if let row = latest.row(label, .v) { accuracy[label] = row.accuracy } }
        return API.ProbeHeadline(step: step, time: latest.time, accuracy: accuracy)
    }

    func updateProbeMetrics() {
        guard let probe else { return }
        metrics.gauge("conceptd_probe_running", [], probe.status.running ? 1 : 0)
        metrics.gauge("conceptd_probe_failing", [], probe.status.lastError == nil ? 0 : 1)
        guard let latest = probe.history?.latest else { return }
        metrics.gauge("conceptd_probe_step", [], Double(latest.step ?? 0))
        for row in latest.rows {
            let l = [("label", row.label), ("representation", row.representation.rawValue)]
            metrics.gauge("conceptd_probe_accuracy", l, row.accuracy)
            metrics.gauge("conceptd_probe_recall_at_1", l, row.recall.r1)
            metrics.gauge("conceptd_probe_recall_at_5", l, row.recall.r5)
            if let gain = row.gain { metrics.gauge("conceptd_probe_accuracy_gain", l, gain.accuracy) }
        }
    }
}
