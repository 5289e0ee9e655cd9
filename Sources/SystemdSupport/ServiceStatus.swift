/// The one-line `STATUS=` shown by `systemctl status conceptd`.
public struct ServiceStatus: Sendable, Equatable, CustomStringConvertible {
    /// Training steps done.
    public var step: UInt64
    /// The last step's total loss, if any.
    public var loss: Double?
    /// Clips trained per second, recently.
    public var clipsPerSecond: Double
    /// Sources delivering frames now.
    public var liveSources: Int
    /// Sources configured and enabled.
    public var sources: Int
    /// What the daemon is doing when it is not plainly training ("waiting for clips", "writing snapshot").
    public var note: String?

    /// A status from its parts.
    public init(step: UInt64, loss: Double? = nil, clipsPerSecond: Double = 0, liveSources: Int = 0, sources: Int = 0,
                note: String? = nil) {
        self.step = step
        self.loss = loss
        self.clipsPerSecond = clipsPerSecond
        self.liveSources = liveSources
        self.sources = sources
        self.note = note
    }

    /// `step 1200, loss 3.412, 14.2 clips/s, 2/3 sources live[, note]`.
    public var description: String {
        var parts = ["step \(step)"]
        parts.append("loss " + (loss.map { $0.isFinite ? Self.fixed($0, 3) : String($0) } ?? "-"))
        parts.append("\(Self.fixed(clipsPerSecond, 1)) clips/s")
        parts.append("\(liveSources)/\(sources) sources live")
        if let note, !note.isEmpty { parts.append(note) }
        return parts.joined(separator: ", ")
    }

    /// `x` with `digits` decimals (no Foundation formatting).
    package static func fixed(_ x: Double, _ digits: Int) -> String {
        guard x.isFinite else { return String(x) }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let r = (abs(x) * scale).rounded()
        let whole = Int(r / scale)
        let frac = Int(r - Double(whole) * scale)
        var f = String(frac)
        while f.count < digits { f = "0" + f }
        return (x < 0 && r != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + f : "")
    }

    /// As a notify state.
    public var notifyState: NotifyState { .status(description) }
}
