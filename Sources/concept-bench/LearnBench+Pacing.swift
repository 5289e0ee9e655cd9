import Foundation
import Media

/// When the clips of the stream enter the replay buffer in a step-paced run (`concept-bench learn --steps`): the
/// initial videos before the first step, then round `k` of new videos (k = 0, 1, …) once `(k + 1) · roundSteps` steps
/// are done. Each round is written and ingested while the steps before it run, and held out of the buffer until its
/// step, so the batches depend on the seed and the step count alone, not on how fast the machine is.
///
/// A state machine: `next(completed:)` says what to do before the next step; the loop does it and reports back.
struct StepPacer: Equatable {
    /// Steps between rounds; 0: the initial videos only.
    let roundSteps: Int
    /// Batches released so far (batch 0 is the initial videos, batch k + 1 the stream's round k).
    private(set) var released = 0

    enum Action: Equatable {
        /// Run a step.
        case train
        /// Wait until `batch` (0: the initial videos; b ≥ 1: the stream's round b − 1) is all decoded, move its clips
        /// into the replay buffer, then, when `requestNext`, ask the stream for the next round.
        case release(batch: Int, requestNext: Bool)
    }

    init(roundSteps: Int) { self.roundSteps = Swift.max(0, roundSteps) }

    /// What to do before the step that follows `completed` steps.
    mutating func next(completed: Int) -> Action {
        if released == 0 || (roundSteps > 0 && completed >= released * roundSteps) { return take() }
        return .train
    }

    /// The next batch now, ahead of its step: what the loop does when the buffer holds less than a training batch.
    /// Nil when no more will come (the initial videos only).
    mutating func takeEarly() -> Action? {
        guard released == 0 || roundSteps > 0 else { return nil }
        return take()
    }

    private mutating func take() -> Action {
        let batch = released
        released += 1
        return .release(batch: batch, requestNext: roundSteps > 0)
    }
}

extension LearnBench {
    /// Waits until everything the stream has written, up to its round `rounds − 1`, has been decoded by `source` and
    /// taken from the queue by `feeder`, then moves those clips into the replay buffer. Throws when the stream or
    /// the source fails, or when nothing moves for `stallSeconds`.
    static func releaseRound(rounds: Int, stream: any StreamFeeding, source: MediaSource, feeder: Feeder,
                             stallSeconds: Double = 300) throws {
        var lastProgress = Date(), lastMark = (-1, -1, -1)
        while true {
            if let error = stream.error { throw BenchError(.toolFailed, "the stream feeder stopped: \(error)", cause: error) }
            let written = stream.thread.rounds
            let s = source.statistics
            if s.state == .failed { throw BenchError(.ingestFailed, "the watch folder source failed: \(s.lastError ?? "no reason given")") }
            let files = s.filesIngested + s.filesRejected, received = feeder.received
            // `currentFile == nil` with every delivered file counted: the last file's counters are final (the source
            // updates them before it clears `currentFile`), so `clipsMade` is every clip of the delivered files.
            if written >= rounds, files >= stream.filesDelivered, s.currentFile == nil, received >= s.clipsMade {
                feeder.release()
                return
            }
            let mark = (written, files, received)
            if mark != lastMark { (lastMark, lastProgress) = (mark, Date()) }
            if Date().timeIntervalSince(lastProgress) > stallSeconds {
                throw BenchError(.ingestFailed, "the stream's round \(rounds - 1) did not reach the replay buffer: no progress for \(Int(stallSeconds)) s (\(written) of \(rounds) rounds written, \(files) of \(stream.filesDelivered) files ingested, \(received) of \(s.clipsMade) clips taken from the queue)")
            }
            Thread.sleep(forTimeInterval: 0.005)
        }
    }
}
