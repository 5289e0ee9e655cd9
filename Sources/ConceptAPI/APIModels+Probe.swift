import Foundation
import ConceptReports

extension API {
    /// `GET /v1/probe`: the probe's schedule, state, random-init baseline, latest result and history.
    public struct Probe: Codable, Sendable {
        /// Whether a `[probe]` section is configured.
        public var configured: Bool
        /// The probe set (manifest or folder).
        public var set: String?
        /// Run every this many steps / minutes.
        public var everySteps: Int?
        public var everyMinutes: Double?
        /// Whether a probe (or the baseline) is running now.
        public var running: Bool
        /// The last failure (a bad file in the set names the file), nil after a success.
        public var lastError: String?
        /// The random-initialised encoder's result (every row's `gain` is measured against it).
        public var baseline: ProbeResult?
        /// The newest result.
        public var latest: ProbeResult?
        /// Results, oldest first (the newest 500).
        public var history: [ProbeResult]

        /// A value with every field given.
        package init(configured: Bool, set: String? = nil, everySteps: Int? = nil, everyMinutes: Double? = nil, running: Bool, lastError: String? = nil, baseline: ProbeResult? = nil, latest: ProbeResult? = nil, history: [ProbeResult]) {
            self.configured = configured
            self.set = set
            self.everySteps = everySteps
            self.everyMinutes = everyMinutes
            self.running = running
            self.lastError = lastError
            self.baseline = baseline
            self.latest = latest
            self.history = history
        }
    }
}
