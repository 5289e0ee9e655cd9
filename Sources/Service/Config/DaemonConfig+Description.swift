import ConceptModel

extension DaemonConfig: CustomStringConvertible {
    /// A multi-line, redacted rendering for logs: passwords in URIs become `***`, secrets `<redacted>`.
    public var description: String {
        var out: [String] = []
        if let file { out.append("config \(file)") }
        out.append("state_directory \(stateDirectory)")
        out.append("model preset \(preset), method \(method): ks \(model.ks), kd \(model.kd), top_k \(model.topK), "
            + "\(model.optionSummary), clips \(clipFrames)x\(model.height)x\(model.width)")
        if !pinnedKeys.isEmpty { out.append("method = paper ignores \(pinnedKeys.joined(separator: ", "))") }
        var t = "training batch \(training.batchSize), lr \(model.learningRate), momentum \(model.momentum), "
            + "weight_decay \(model.weightDecay), lr schedule \(training.schedule), clips at \(training.clipFps) fps, "
            + "warmup \(training.warmupSteps) steps, replay \(training.replaySize) "
            + "\(training.replayPolicy.rawValue), threads \(training.threads == 0 ? "all cores" : String(training.threads)), "
            + "seed \(training.seed.map(String.init) ?? "random")"
        if let m = training.maxSteps { t += ", max \(m) steps" }
        out.append(t)
        for s in sources { out.append("source \(s.summary)") }
        if sources.isEmpty { out.append("no sources") }
        out.append("snapshots \(snapshots.summary)")
        if let cluster { out.append("cluster \(cluster.summary)") }
        if let probe { out.append("probe \(probe.summary)") }
        out.append("api \(api.listen)" + (api.token == nil ? " without token" : " with token from \(api.tokenSource ?? "?")"))
        out.append("logging \(logging.level.rawValue), \(logging.format.rawValue)")
        return out.joined(separator: "\n")
    }

    /// One line for `check-config` and the start-up log.
    public var summary: String {
        let live = enabledSources.count
        return "preset \(preset), method \(method) (\(model.ks)+\(model.kd) concepts, \(clipFrames)x\(model.height)x\(model.width) clips), "
            + "batch \(training.batchSize), \(live) source\(live == 1 ? "" : "s")"
            + (sources.count > live ? " (+\(sources.count - live) disabled)" : "")
            + ", snapshots \(snapshots.summary), api \(api.listen)"
            + (cluster.map { ", cluster of \($0.ranks) ranks" } ?? "")
    }
}

extension ClusterConfig {
    /// `N ranks (sources per rank), sync batch norm on/off, checksum every N steps`.
    public var summary: String {
        "\(ranks) ranks" + (hosts.isEmpty ? "" : " on \(hosts.joined(separator: ", "))")
            + ", sync_batchnorm \(syncBatchNorm), checksum every \(checksumEvery) steps"
    }
}

extension SourceConfig: CustomStringConvertible {
    /// `name: redacted-uri (options...)`: safe for logs.
    public var summary: String {
        var extras: [String] = []
        if !enabled { extras.append("disabled") }
        if let fps { extras.append("fps \(fps)") }
        if let stride { extras.append("stride \(stride)") }
        if let shortSide { extras.append("short side \(shortSide)") }
        extras.append("crop \(crop.rawValue)")
        if flip { extras.append("flip") }
        if let after { extras.append("after \(after)") }
        if let stallSeconds { extras.append("stall \(stallSeconds)s") }
        if let reconnectMaxSeconds { extras.append("reconnect cap \(reconnectMaxSeconds)s") }
        if let settleSeconds { extras.append("settle \(settleSeconds)s") }
        if let passwordCredential { extras.append("password from credential \(passwordCredential)") }
        if let host { extras.append("host \(host) (rank \(rank))") } else if rank != 0 { extras.append("rank \(rank)") }
        if !options.isEmpty {
            extras.append("options " + options.keys.sorted().map { "\($0)=\(options[$0]!)" }.joined(separator: " "))
        }
        return "\(name): \(redactedURI) (\(extras.joined(separator: ", ")))"
    }

    public var description: String { summary }
}

extension SnapshotSettings {
    /// `every 1000 steps or 600 s, keep 3, in /var/lib/conceptd/snapshots`.
    public var summary: String {
        var when: [String] = []
        if let everySteps { when.append("\(everySteps) steps") }
        if let everySeconds { when.append("\(everySeconds.formatted) s") }
        return "every \(when.joined(separator: " or ")), keep \(keep), in \(directory)"
    }
}

extension ProbeSettings {
    /// `set /path every 60 min`.
    public var summary: String {
        var when: [String] = []
        if let everySteps { when.append("\(everySteps) steps") }
        if let everyMinutes { when.append("\(everyMinutes.formatted) min") }
        let what: String = switch input {
        case .set(let p): "set \(p)"
        case .manifest(let p): "manifest \(p)"
        }
        return "\(what) every \(when.joined(separator: " or "))"
    }
}

extension Double {
    /// `600` rather than `600.0`; other values as Swift prints them.
    var formatted: String { self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self) }
}
