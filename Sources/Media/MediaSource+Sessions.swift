import LibAV

/// How one attempt to open a source went.
enum SessionOpen {
    /// Open; `delivering` when being open already counts as a working connection (a watched folder).
    case opened(delivering: Bool)
    /// The attempt failed, for `reason`.
    case failed(String)
    /// The source was stopped meanwhile.
    case cancelled
}

/// How an open session ended.
enum SessionEnd {
    /// It reached its end after delivering frames.
    case ended
    /// It reached its end without a single frame, for `reason` (a file then fails).
    case endedEmpty(String)
    /// It broke off for `reason`; `delivered` when frames came before.
    case failed(String, delivered: Bool)
    /// The source was stopped meanwhile.
    case cancelled
}

extension MediaSource {
    /// The one session loop of every source kind: runs `SourceLifecycle`'s actions, opening with `open`, running
    /// an open session with `emit`, releasing it with `close`, and backing off between attempts, until the
    /// lifecycle finishes or fails (or the source is stopped). Publishes the lifecycle's state and last error.
    func runSessions(live: Bool, announceReconnects: Bool, open: () -> SessionOpen, emit: () -> SessionEnd,
                     close: () -> Void) {
        var lifecycle = SourceLifecycle(live: live, policy: options.backoff, seed: lifecycleSeed)
        var actions = lifecycle.start()
        while !actions.isEmpty {
            let action = actions.removeFirst()
            setState(lifecycle.state)
            switch action {
            case .open:
                if isStopping {
                    actions = lifecycle.stop()
                    continue
                }
                switch open() {
                case .opened(let delivering):
                    actions += lifecycle.opened(at: monotonicSeconds())
                    if delivering { lifecycle.delivered() }
                    stats.update { $0.reconnects = lifecycle.reconnects }
                case .failed(let reason):
                    actions += lifecycle.openFailed(reason, at: monotonicSeconds())
                case .cancelled:
                    actions = lifecycle.stop()
                }
            case .emit:
                switch emit() {
                case .ended:
                    lifecycle.delivered()
                    actions += lifecycle.ended(at: monotonicSeconds())
                case .endedEmpty(let reason):
                    actions += lifecycle.endedEmpty(reason, at: monotonicSeconds())
                case .failed(let reason, let delivered):
                    if delivered { lifecycle.delivered() }
                    actions += lifecycle.failed(reason, at: monotonicSeconds())
                case .cancelled:
                    actions = lifecycle.stop()
                }
            case .close:
                close()
            case .sleep(let seconds):
                if announceReconnects { logger.info("reconnecting in \(String(format: "%.2f", seconds)) s") }
                sleep(seconds)
                actions += lifecycle.backoffElapsed()
            case .finish, .fail:
                break
            }
            stats.update {
                $0.state = lifecycle.state
                if let e = lifecycle.lastError { $0.lastError = e }
            }
        }
        setState(lifecycle.state)
    }
}
