import ConceptModel
import Foundation
import Learner
import Logging
import ServiceLifecycle
import Synchronization
import Autograd
import ConceptReports

/// The periodic probe: the baseline (random-initialised encoder) once, then every `every_steps` steps and/or
/// `every_minutes` minutes a probe of a weight copy the trainer hands over between two steps. Evaluation runs on
/// its own thread with its own network, so training pauses only for the copy. Failures (a bad file in the set) are
/// logged and reported by the API; training goes on.
final class ProbeRunner: Sendable {
    let settings: ProbeSettings
    let evaluator: ProbeEvaluator?
    let history: ProbeHistory?
    private let state: Mutex<State>

    struct State: Sendable {
        var running = false
        var lastError: String?
        var lastStep: Int?
        var lastTime: Double?
    }

    /// Loads the probe set; a set that cannot be read leaves the runner reporting the error (training is unaffected).
    init(settings: ProbeSettings, config: DaemonConfig, seed: UInt64, logger: Logger) {
        self.settings = settings
        var initial = State()
        var evaluator: ProbeEvaluator?, history: ProbeHistory?
        do {
            let url: URL = switch settings.input {
            case .set(let path): URL(fileURLWithPath: path)
            case .manifest(let path): URL(fileURLWithPath: path)
            }
            let set = try ProbeSet.load(from: url)
            history = try ProbeHistory(directory: URL(fileURLWithPath: config.stateDirectory))
            for w in history?.warnings ?? [] { logger.warning("probe history: \(w)") }
            evaluator = try ProbeEvaluator(set: set, config: config.model, seed: seed, history: history)
            initial.lastStep = history?.latest?.step
            logger.info("probe set loaded", metadata: ["clips": "\(set.items.count)", "labels": "\(set.labelNames.joined(separator: ","))"])
        } catch {
            initial.lastError = "\(error)"
            logger.error("probe disabled: \(error)")
        }
        self.evaluator = evaluator
        self.history = history
        state = Mutex(initial)
    }

    var status: State { state.withLock { $0 } }

    /// Whether a probe is due at `step` (by steps since the last one, or minutes since the last one).
    func isDue(step: Int, now: Double) -> Bool {
        let s = state.withLock { $0 }
        if let every = settings.everySteps, step - (s.lastStep ?? 0) >= every { return true }
        if let minutes = settings.everyMinutes, now - (s.lastTime ?? startTime) >= minutes * 60 { return true }
        return false
    }
    let startTime = ProcessInfo.processInfo.systemUptime

    func record(step: Int?, error: String?) {
        state.withLock { s in
            s.running = false
            s.lastError = error
            if let step { s.lastStep = step }
            s.lastTime = ProcessInfo.processInfo.systemUptime
        }
    }

    func markRunning() { state.withLock { $0.running = true } }
}

/// Runs the probe schedule.
struct ProbeService: Service {
    let runner: ProbeRunner
    let loop: TrainingLoop
    let logger: Logger

    func run() async throws {
        guard let evaluator = runner.evaluator else { return }
        await withGracefulShutdownHandler {
            // Decode the set and probe the random-initialised encoder first (stored: once per set and model).
            runner.markRunning()
            let prepared: String? = await onThread { do { try evaluator.prepare(); _ = try evaluator.baseline(); return nil } catch { return "\(error)" } }
            runner.record(step: nil, error: prepared)
            if let prepared { logger.error("probe baseline failed: \(prepared)"); return }
            logger.info("probe baseline ready")
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let step = loop.status.step
                guard step > 0, runner.isDue(step: step, now: ProcessInfo.processInfo.systemUptime) else { continue }
                guard let copy = await loop.perform({ trainer in (try? trainer.learner.model.stateDict(), trainer.state.step) }),
                      let weights = copy.0 else { continue }
                runner.markRunning()
                let started = ProcessInfo.processInfo.systemUptime
                let outcome: Result<ProbeResult, ProbeFailure> = await onThread {
                    do { return .success(try evaluator.evaluate(stateDict: weights, step: copy.1)) } catch { return .failure(ProbeFailure(message: "\(error)")) }
                }
                switch outcome {
                case .success(let r):
                    runner.record(step: copy.1, error: nil)
                    let v = r.labels.map { l in "\(l)=\(String(format: "%.3f", r.row(l, .v)?.accuracy ?? .nan))" }.joined(separator: " ")
                    logger.info("probe done", metadata: ["step": "\(copy.1)", "seconds": "\(Int(ProcessInfo.processInfo.systemUptime - started))", "v": "\(v)"])
                case .failure(let f):
                    runner.record(step: copy.1, error: f.message)
                    logger.error("probe failed: \(f.message)", metadata: ["step": "\(copy.1)"])
                }
            }
        } onGracefulShutdown: {
            evaluator.cancel()
        }
    }

    struct ProbeFailure: Error { let message: String }

    /// Runs `body` on a fresh thread (compute stays off the cooperative pool).
    func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { c in
            let t = Thread { c.resume(returning: body()) }
            t.name = "conceptd.probe"
            t.stackSize = 16 << 20
            t.start()
        }
    }
}
