import ConceptModel
import Autograd
import ConceptReports
import TensorKernels

/// A loss history that stays bounded for any run length (a value state machine). Recorded steps are averaged
/// into points of `stepsPerPoint` steps; when `capacity` points are complete, neighbouring pairs merge and
/// `stepsPerPoint` doubles, so the points always span the whole run at the finest resolution that fits.
/// The first and the latest step are also kept exactly. Memory: `capacity + 3` points.
struct TrainingHistory: Sendable {
    /// Running sums of one point.
    struct Bucket: Sendable {
        var firstStep: Int, step: Int, samples = 0, time = 0.0
        var aln = 0.0, div = 0.0, fid = 0.0, loc = 0.0, nce = 0.0, nceStatic = 0.0, consistency = 0.0, total = 0.0
        var gradientNorm = 0.0, clipsPerSecond = 0.0
        var skippedSteps = 0, rollbacks = 0

        init(_ p: TrainingPoint) {
            firstStep = p.firstStep; step = p.step; samples = p.samples; time = p.time
            let n = Double(p.samples), l = p.losses
            aln = Double(l.aln) * n; div = Double(l.div) * n; fid = Double(l.fid) * n
            loc = Double(l.loc) * n; nce = Double(l.nce) * n; nceStatic = Double(l.nceStatic) * n
            consistency = Double(l.consistency) * n
            total = Double(l.total) * n
            gradientNorm = p.gradientNorm * n; clipsPerSecond = p.clipsPerSecond * n
            skippedSteps = p.skippedSteps; rollbacks = p.rollbacks
        }

        /// Adds the (later) bucket `b`.
        mutating func absorb(_ b: Bucket) {
            step = b.step; time = b.time; samples += b.samples
            aln += b.aln; div += b.div; fid += b.fid; loc += b.loc; nce += b.nce; nceStatic += b.nceStatic; consistency += b.consistency
            total += b.total
            gradientNorm += b.gradientNorm; clipsPerSecond += b.clipsPerSecond
            skippedSteps = b.skippedSteps; rollbacks = b.rollbacks
        }

        var point: TrainingPoint {
            let n = Double(Swift.max(samples, 1))
            func f(_ x: Double) -> Float { Float(x / n) }
            return TrainingPoint(firstStep: firstStep, step: step, samples: samples, time: time,
                                 losses: LossTerms(aln: f(aln), div: f(div), fid: f(fid), loc: f(loc), nce: f(nce),
                                               nceStatic: f(nceStatic), consistency: f(consistency), total: f(total)),
                                 gradientNorm: gradientNorm / n, clipsPerSecond: clipsPerSecond / n,
                                 skippedSteps: skippedSteps, rollbacks: rollbacks)
        }
    }

    let capacity: Int
    let rate: Double
    private(set) var stepsPerPoint = 1
    private(set) var complete: [Bucket] = []
    private(set) var pending: Bucket?
    private(set) var first: TrainingPoint?
    private(set) var latest: TrainingPoint?
    private(set) var recorded = 0
    private(set) var average = Losses()
    private(set) var step = 0, skippedSteps = 0, rollbacks = 0
    private(set) var clipsPerSecond = 0.0

    init(capacity: Int, rate: Double) {
        precondition(capacity >= 4 && capacity % 2 == 0, "history capacity must be even and >= 4")
        self.capacity = capacity
        self.rate = rate
        complete.reserveCapacity(capacity)
    }

    /// Records one step. Counters always update; a step whose losses or gradient norm are not finite is left out
    /// of the averages and points.
    mutating func record(step: Int, losses: Losses, gradientNorm: Double, clipsPerSecond: Double,
                         skippedSteps: Int, rollbacks: Int, time: Double) {
        self.step = step; self.skippedSteps = skippedSteps; self.rollbacks = rollbacks
        if clipsPerSecond.isFinite && clipsPerSecond >= 0 { self.clipsPerSecond = clipsPerSecond }
        guard losses.isFinite, gradientNorm.isFinite else { return }
        let p = TrainingPoint(firstStep: step, step: step, samples: 1, time: time, losses: LossTerms(losses), gradientNorm: gradientNorm,
                              clipsPerSecond: self.clipsPerSecond, skippedSteps: skippedSteps, rollbacks: rollbacks)
        recorded += 1
        if first == nil { first = p }
        latest = p
        average = recorded == 1 ? losses : average.moved(toward: losses, rate: Scalar(rate))
        if pending == nil { pending = Bucket(p) } else { pending!.absorb(Bucket(p)) }
        guard pending!.samples >= stepsPerPoint else { return }
        complete.append(pending!)
        pending = nil
        if complete.count == capacity {
            complete = stride(from: 0, to: capacity, by: 2).map { i in var b = complete[i]; b.absorb(complete[i + 1]); return b }
            stepsPerPoint *= 2
        }
    }

    /// The report.
    var report: TrainingHistoryReport {
        TrainingHistoryReport(step: step, skippedSteps: skippedSteps, rollbacks: rollbacks, clipsPerSecond: clipsPerSecond,
                              lossAverage: LossTerms(average), lossAverageRate: rate, recorded: recorded, stepsPerPoint: stepsPerPoint,
                              capacity: capacity, first: first, latest: latest,
                              points: complete.map(\.point) + (pending.map { [$0.point] } ?? []))
    }
}
