import CFFmpeg
import LibAV

/// The last `capacity` scaled BGR24 frames of a source (in decoded orientation), in aligned buffers that
/// libswscale writes into directly.
final class FrameRing {
    let width: Int
    let height: Int
    /// Bytes between rows (64-byte aligned).
    let linesize: Int
    let capacity: Int
    private var slots: [UnsafeMutablePointer<UInt8>]
    private var times: [Double]
    private var head = 0
    /// Frames held, at most `capacity`.
    private(set) var count = 0

    init(width: Int, height: Int, capacity: Int) throws {
        self.width = width
        self.height = height
        self.capacity = capacity
        linesize = (width * 3 + 63) & ~63
        slots = []
        times = [Double](repeating: 0, count: capacity)
        for _ in 0..<capacity {
            guard let raw = av_malloc(linesize * height + 64) else {
                throw MediaError(.libav, "av_malloc of a \(width)x\(height) frame failed")
            }
            slots.append(raw.bindMemory(to: UInt8.self, capacity: linesize * height))
        }
    }

    deinit {
        for s in slots { av_free(s) }
    }

    /// The buffer the next frame goes into (the oldest one when full); call `commit` after filling it.
    var nextSlot: UnsafeMutablePointer<UInt8> {
        slots[count < capacity ? (head + count) % capacity : head]
    }

    /// Adds the frame written into `nextSlot`.
    func commit(time: Double) {
        let index = count < capacity ? (head + count) % capacity : head
        times[index] = time
        if count < capacity { count += 1 } else { head = (head + 1) % capacity }
    }

    /// Adds a copy of the newest frame (a repeated sample).
    func repeatLast(time: Double) {
        precondition(count > 0)
        let last = slot(count - 1)
        let target = nextSlot
        if target != last { target.update(from: last, count: linesize * height) }
        commit(time: time)
    }

    /// Frame `i`, 0 the oldest held.
    func slot(_ i: Int) -> UnsafeMutablePointer<UInt8> { slots[(head + i) % capacity] }

    /// Time of frame `i`, 0 the oldest held.
    func time(_ i: Int) -> Double { times[(head + i) % capacity] }

    /// Forgets all frames.
    func clear() {
        head = 0
        count = 0
    }
}
