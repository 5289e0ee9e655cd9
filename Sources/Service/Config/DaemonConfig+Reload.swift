/// What a reload (SIGHUP) changes: the sources are re-read without restarting the learner; everything else
/// needs a restart and is only reported.
public struct ReloadPlan: Sendable, Equatable {
    /// Sources that are new or newly enabled.
    public var added: [SourceConfig] = []
    /// Names of sources that are gone or disabled.
    public var removed: [String] = []
    /// Sources whose settings changed (stop and start them again).
    public var changed: [SourceConfig] = []
    /// Sections that differ but need a restart to apply (`model`, `training`, `snapshots`, ...).
    public var needsRestart: [String] = []

    /// Whether the sources are unchanged.
    public var sourcesUnchanged: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }
}

extension DaemonConfig {
    /// The plan to go from this (running) configuration to `new`, matching sources by name.
    public func reloadPlan(to new: DaemonConfig) -> ReloadPlan {
        var plan = ReloadPlan()
        let old = Dictionary(enabledSources.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let next = Dictionary(new.enabledSources.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for s in new.enabledSources {
            if let o = old[s.name] { if o != s { plan.changed.append(s) } } else { plan.added.append(s) }
        }
        plan.removed = enabledSources.map(\.name).filter { next[$0] == nil }
        if stateDirectory != new.stateDirectory { plan.needsRestart.append("state_directory") }
        if preset != new.preset || model != new.model { plan.needsRestart.append("model") }
        if training != new.training { plan.needsRestart.append("training") }
        if snapshots != new.snapshots { plan.needsRestart.append("snapshots") }
        if probe != new.probe { plan.needsRestart.append("probe") }
        if api != new.api { plan.needsRestart.append("api") }
        if logging != new.logging { plan.needsRestart.append("logging") }
        return plan
    }
}
