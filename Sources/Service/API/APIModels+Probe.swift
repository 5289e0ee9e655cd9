import Foundation
import Learner

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
    }
}
