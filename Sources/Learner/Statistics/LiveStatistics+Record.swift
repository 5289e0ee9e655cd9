import ConceptModel
import Foundation
import Media
import Autograd
import LibAV

extension LiveStatistics {
    /// Folds one training step into the concept statistics: top-K frequency, mean activation, target mass and
    /// agreement of the static concepts from `q_s`, `t_s`, `valid_s` and of the dynamic ones from `q_d`, `t_d`,
    /// `valid_d` (K = the configuration's top-K); and, when `batch` holds the step's clips (`Trainer.lastBatch`),
    /// offers each clip to the gallery of every concept by its column of `q_v`. Call on the trainer's thread after
    /// each step; cheap (tens of microseconds for the tiny preset). Rows with non-finite codes are left out.
    public func record(step: Int, outputs: ForwardOutputs, batch: [ReplayClip] = []) throws {
        let c = config
        guard let qs = outputs.codes[.s], let qd = outputs.codes[.d] else {
            throw StatisticsError.invalidInput("the forward outputs lack the codes q_s and q_d")
        }
        let n = qs.shape.first ?? 0
        guard qs.shape == [n, c.ks], qd.shape == [n, c.kd] else {
            throw StatisticsError.invalidInput("codes must be \(n) x \(c.ks) and \(n) x \(c.kd), got \(qs.shape) and \(qd.shape)")
        }
        let ts = outputs.targets["s"], td = outputs.targets["d"]
        if let ts, ts.shape != qs.shape { throw StatisticsError.invalidInput("target s is \(ts.shape), codes are \(qs.shape)") }
        if let td, td.shape != qd.shape { throw StatisticsError.invalidInput("target d is \(td.shape), codes are \(qd.shape)") }
        guard outputs.validS.isEmpty || outputs.validS.count == n * c.ks, outputs.validD.isEmpty || outputs.validD.count == n * c.kd else {
            throw StatisticsError.invalidInput("valid masks must hold \(n) x \(c.ks) and \(n) x \(c.kd) values")
        }
        let qv = outputs.codes[.v]
        if let qv, qv.shape != [n, c.ks + c.kd] { throw StatisticsError.invalidInput("q_v must be \(n) x \(c.ks + c.kd), got \(qv.shape)") }
        let per = 3 * (c.frames + 1) * c.height * c.width
        if !batch.isEmpty {
            guard batch.count == n else { throw StatisticsError.invalidInput("\(batch.count) clips for \(n) rows of codes") }
            guard batch.allSatisfy({ $0.data.count == per }) else {
                throw StatisticsError.invalidInput("clips must hold 3 x \(c.frames + 1) x \(c.height) x \(c.width) values")
            }
        }
        let k = c.topK, rate = options.emaRate
        let fingerprints = batch.map(Self.fingerprint)
        state.withLock { s in
            s.step = step
            s.staticUsage.record(step: step, codes: qs.storage.pointer, targets: ts?.storage.pointer, valid: outputs.validS,
                                 rows: n, topK: k, rate: rate)
            s.dynamicUsage.record(step: step, codes: qd.storage.pointer, targets: td?.storage.pointer, valid: outputs.validD,
                                  rows: n, topK: k, rate: rate)
            guard let qv, !batch.isEmpty, options.galleryItems > 0 else { return }
            var thumbnails: [Int: RGBImage] = [:]
            func thumbnail(_ i: Int) -> RGBImage {
                if let t = thumbnails[i] { return t }
                let t = AttentionRenderer.thumbnail(middleFrame(batch[i].data), size: options.thumbnailSize)
                thumbnails[i] = t
                return t
            }
            let q = qv.storage.pointer, width = c.ks + c.kd
            for j in 0..<c.ks {
                for i in 0..<n {
                    s.staticGalleries[j].offer(fingerprint: fingerprints[i], source: batch[i].source, step: step,
                                               activation: Double(q[i * width + j])) { thumbnail(i) }
                }
            }
            for j in 0..<c.kd {
                for i in 0..<n {
                    s.dynamicGalleries[j].offer(fingerprint: fingerprints[i], source: batch[i].source, step: step,
                                                activation: Double(q[i * width + c.ks + j])) { thumbnail(i) }
                }
            }
        }
    }

    /// Records one step of the training history. A step whose losses or gradient norm are not finite (a skipped
    /// step) only updates the counters.
    public func recordTraining(step: Int, losses: Losses, gradientNorm: Double, clipsPerSecond: Double,
                               skippedSteps: Int, rollbacks: Int, time: Date = Date()) {
        let t = time.timeIntervalSince1970
        state.withLock {
            $0.history.record(step: step, losses: losses, gradientNorm: gradientNorm, clipsPerSecond: clipsPerSecond,
                              skippedSteps: skippedSteps, rollbacks: rollbacks, time: t)
        }
    }

    /// Records whatever `Trainer.step(from:)` returned: a step folds in its codes (with `trainer.lastBatch` for the
    /// galleries) and its losses; a skipped step or a rollback updates the counters. `clipsPerSecond` is the
    /// caller's current throughput. Call on the trainer's thread right after the step.
    public func record(_ event: TrainerEvent, trainer: Trainer, clipsPerSecond: Double) throws {
        let st = trainer.state
        switch event {
        case .stepped(let r):
            try record(step: st.step, outputs: r.outputs, batch: trainer.lastBatch)
            recordTraining(step: st.step, losses: r.outputs.losses, gradientNorm: Double(r.gradientNorm),
                           clipsPerSecond: clipsPerSecond, skippedSteps: st.skippedSteps, rollbacks: st.rollbacks)
        case .skipped(let l):
            recordTraining(step: st.step, losses: l, gradientNorm: .nan, clipsPerSecond: clipsPerSecond,
                           skippedSteps: st.skippedSteps, rollbacks: st.rollbacks)
        case .rolledBack:
            recordTraining(step: st.step, losses: Losses(total: .nan), gradientNorm: .nan, clipsPerSecond: clipsPerSecond,
                           skippedSteps: st.skippedSteps, rollbacks: st.rollbacks)
        case .waitingForData:
            break
        }
    }

    /// The middle frame (index `(T+1)/2`) of clip data, as RGB.
    func middleFrame(_ data: [Float]) -> RGBImage {
        let t1 = config.frames + 1
        return AttentionRenderer.frame(data, frames: t1, height: config.height, width: config.width, index: t1 / 2)
    }

    /// A 64-bit fingerprint (FNV-1a style, a word at a time) of a clip: its source, static frame, size and 256 evenly spaced values. Tells
    /// repeated draws of one replay clip apart from other clips without hashing every value.
    static func fingerprint(_ clip: ReplayClip) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        @inline(__always) func mix(_ v: UInt64) { h = (h ^ v) &* 0x100_0000_01b3; h ^= h >> 29 }
        for b in clip.source.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        mix(UInt64(bitPattern: Int64(clip.staticIndex)))
        mix(UInt64(clip.data.count))
        let n = clip.data.count, samples = Swift.min(256, n)
        for s in 0..<samples { mix(UInt64(clip.data[s * n / samples].bitPattern)) }
        return h
    }
}
