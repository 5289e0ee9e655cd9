import CFFmpeg
import LibAV
import SeededRandom

/// Turns one source's decoded frames into clips: samples by timestamp, scales the frames that a clip
/// needs (short side, in decoded orientation, packed BGR24) into a ring, and on each completed clip crops, turns
/// upright, optionally mirrors, and normalises into `3 x (T+1) x H x W` floats.
final class ClipAssembler {
    /// The scaled size of a decoded frame and how to crop it.
    struct Geometry: Equatable {
        var sourceWidth: Int, sourceHeight: Int
        var orientation: Orientation
        /// Scaled size in decoded orientation (what swscale writes).
        var scaledWidth: Int, scaledHeight: Int
        /// Scaled size as displayed (after turning).
        var displayWidth: Int, displayHeight: Int

        init(sourceWidth: Int, sourceHeight: Int, sampleAspect: Double, orientation: Orientation, options: ClipOptions) {
            self.sourceWidth = sourceWidth
            self.sourceHeight = sourceHeight
            self.orientation = orientation
            let aspect = sampleAspect.isFinite && sampleAspect > 0 ? sampleAspect : 1
            let effectiveWidth = Double(sourceWidth) * aspect
            let (dh, dw) = orientation.swapsAxes
                ? (effectiveWidth, Double(sourceHeight)) : (Double(sourceHeight), effectiveWidth)
            let scale = max(Double(options.shortSide) / min(dh, dw), Double(options.height) / dh,
                            Double(options.width) / dw)
            displayHeight = max(options.height, Int((dh * scale).rounded()))
            displayWidth = max(options.width, Int((dw * scale).rounded()))
            if orientation.swapsAxes {
                scaledWidth = displayHeight
                scaledHeight = displayWidth
            } else {
                scaledWidth = displayWidth
                scaledHeight = displayHeight
            }
        }
    }

    let options: ClipOptions
    let source: String
    var orientation: Orientation
    private var sampler: FrameSampler
    private var cutter: ClipCutter
    private var rng: SeededGenerator
    private let scaler: Scaler
    private let held: Frame
    private var heldTime = 0.0
    private var heldScaled = false
    private var geometry: Geometry?
    private var ring: FrameRing?
    private var sequence = 0
    /// Clips made since the last `finish`/`reset` (for padding short inputs).
    private var clipsThisInput = 0

    /// Frames that went into the ring or were skipped by the sampler's schedule.
    private(set) var framesSampled = 0
    private(set) var clipsMade = 0
    /// Times a frame size or orientation change restarted clip building.
    private(set) var geometryChanges = 0

    var timestampJumps: Int { sampler.jumps }

    init(source: String, options: ClipOptions, orientation: Orientation = .upright, swsFlags: Int32 = SWS_BILINEAR)
        throws
    {
        try options.validate()
        self.source = source
        self.options = options
        self.orientation = orientation
        sampler = FrameSampler(fps: options.fps, maxGap: options.maxTimestampGap)
        cutter = ClipCutter(length: options.frames, stride: options.stride)
        rng = SeededGenerator(seed: options.seed, name: source)
        scaler = Scaler(flags: swsFlags)
        held = try Frame()
    }

    /// Feeds a decoded frame shown at `time` seconds; `frame` is left empty. Completed clips go to `emit`.
    func push(_ frame: Frame, time: Double, emit: (Clip) throws -> Void) throws {
        let step = sampler.push(time)
        if step.emitHeld > 0 { try emitHeld(step.emitHeld, emit: emit) }
        if step.discontinuity { restartClips() }
        if step.holdNew {
            held.take(from: frame)
            heldTime = time
            heldScaled = false
        } else {
            frame.unref()
        }
    }

    /// End of one input: emits the held frame's remaining samples and, when `pad` and the input made no
    /// clip, one clip padded with its last frame (if `padShortInputs`). Clip numbering continues.
    func finish(pad: Bool, emit: (Clip) throws -> Void) throws {
        let n = sampler.flush()
        if n > 0 && !held.isEmpty { try emitHeld(n, emit: emit) }
        if pad, options.padShortInputs, clipsThisInput == 0, let ring, ring.count > 0 {
            try emit(try buildClip(ring: ring, padded: true))
        }
        held.unref()
        restartClips()
        clipsThisInput = 0
    }

    /// Drops everything in flight (after a reconnect); numbering continues.
    func reset() {
        sampler.reset()
        held.unref()
        restartClips()
        clipsThisInput = 0
    }

    private func restartClips() {
        cutter.reset()
        ring?.clear()
    }

    private func emitHeld(_ count: Int, emit: (Clip) throws -> Void) throws {
        for _ in 0..<count {
            framesSampled += 1
            if cutter.nextIsNeeded {
                try ensureGeometry()
                let ring = ring!
                if heldScaled {
                    ring.repeatLast(time: heldTime)
                } else {
                    try scaler.scale(held, width: geometry!.scaledWidth, height: geometry!.scaledHeight,
                                     into: ring.nextSlot, stride: ring.linesize)
                    ring.commit(time: heldTime)
                    heldScaled = true
                }
            }
            if cutter.push() {
                try emit(try buildClip(ring: ring!, padded: false))
            }
        }
    }

    private func ensureGeometry() throws {
        let sar = held.pointer.pointee.sample_aspect_ratio
        let aspect = sar.num > 0 && sar.den > 0 ? Double(sar.num) / Double(sar.den) : 1
        let g = Geometry(sourceWidth: held.width, sourceHeight: held.height, sampleAspect: aspect,
                         orientation: orientation, options: options)
        if g != geometry {
            if geometry != nil {
                geometryChanges += 1
                cutter.reset()
            }
            geometry = g
            ring = try FrameRing(width: g.scaledWidth, height: g.scaledHeight, capacity: options.frames)
            heldScaled = false
        }
    }

    private func buildClip(ring: FrameRing, padded: Bool) throws -> Clip {
        let g = geometry!
        let f = options.frames, h = options.height, w = options.width
        let plane = h * w
        // Draw in a fixed order so a seed reproduces the same clips.
        var oy = (g.displayHeight - h) / 2, ox = (g.displayWidth - w) / 2
        if options.crop == .random {
            oy = Int.random(in: 0...(g.displayHeight - h), using: &rng)
            ox = Int.random(in: 0...(g.displayWidth - w), using: &rng)
        }
        let flip = options.randomFlip && (rng.next() & 1) == 1
        let staticIndex = Int.random(in: 0..<(f - 1), using: &rng)
        let available = ring.count
        let firstTime = ring.time(padded ? 0 : max(0, available - f))
        let lut = Normalization.table
        let upright = orientation == .upright
        let linesize = ring.linesize
        // Every element is written below, so the array is not zero-filled first.
        let data = [Float](unsafeUninitializedCapacity: 3 * f * plane) { out, initialized in
            initialized = 3 * f * plane
            lut.withUnsafeBufferPointer { t in
                for k in 0..<f {
                    let src = ring.slot(padded ? min(k, available - 1) : available - f + k)
                    let r = out.baseAddress! + (0 * f + k) * plane
                    let gch = out.baseAddress! + (1 * f + k) * plane
                    let b = out.baseAddress! + (2 * f + k) * plane
                    if upright {
                        for y in 0..<h {
                            let row = src + (oy + y) * linesize + ox * 3
                            let o = y * w
                            if flip {
                                for x in 0..<w {
                                    let p = row + (w - 1 - x) * 3
                                    r[o + x] = t[Int(p[2])]
                                    gch[o + x] = t[256 + Int(p[1])]
                                    b[o + x] = t[512 + Int(p[0])]
                                }
                            } else {
                                for x in 0..<w {
                                    let p = row + x * 3
                                    r[o + x] = t[Int(p[2])]
                                    gch[o + x] = t[256 + Int(p[1])]
                                    b[o + x] = t[512 + Int(p[0])]
                                }
                            }
                        }
                    } else {
                        for y in 0..<h {
                            let o = y * w
                            for x in 0..<w {
                                let dx = flip ? ox + w - 1 - x : ox + x
                                let (sr, sc) = orientation.sourcePixel(
                                    y: oy + y, x: dx, height: g.scaledHeight, width: g.scaledWidth)
                                let p = src + sr * linesize + sc * 3
                                r[o + x] = t[Int(p[2])]
                                gch[o + x] = t[256 + Int(p[1])]
                                b[o + x] = t[512 + Int(p[0])]
                            }
                        }
                    }
                }
            }
        }
        let clip = try Clip(source: source, sequence: sequence, data: data, frames: f, height: h, width: w,
                            staticIndex: staticIndex, startTime: firstTime, padded: padded)
        sequence += 1
        clipsMade += 1
        clipsThisInput += 1
        return clip
    }
}
