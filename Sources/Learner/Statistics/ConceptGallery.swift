import Foundation
import Media
import LibAV
import ConceptReports

/// The recent clips that activate one concept most (a value state machine). An entry's score is its activation
/// minus `decay` per step since it was last seen; the gallery keeps the `capacity` highest scores. Because every
/// entry ages at the same rate, ranking by `key = activation + decay · step` ranks by score at any later step, so
/// the order never needs recomputing. Memory: `capacity` thumbnails.
struct ConceptGallery: Sendable {
    struct Entry: Sendable {
        var fingerprint: UInt64
        var source: String
        var step: Int
        var activation: Double
        var key: Double
        var thumbnail: RGBImage
    }

    let capacity: Int
    let decay: Double
    private(set) var entries: [Entry] = []

    init(capacity: Int, decay: Double) {
        self.capacity = capacity
        self.decay = decay
    }

    /// What `offer` did.
    enum Action: Equatable { case inserted, replaced, refreshed, rejected }

    /// Offers a clip seen at `step` with `activation`; `thumbnail` is only called when the clip enters.
    /// A clip already held (same fingerprint) is refreshed when its new key is higher, never duplicated.
    @discardableResult
    mutating func offer(fingerprint: UInt64, source: String, step: Int, activation: Double,
                        thumbnail: () -> RGBImage?) -> Action {
        guard capacity > 0, activation.isFinite else { return .rejected }
        let key = activation + decay * Double(step)
        if let i = entries.firstIndex(where: { $0.fingerprint == fingerprint }) {
            guard key > entries[i].key else { return .rejected }
            entries[i].key = key; entries[i].activation = activation; entries[i].step = step
            return .refreshed
        }
        if entries.count < capacity {
            guard let t = thumbnail() else { return .rejected }
            entries.append(Entry(fingerprint: fingerprint, source: source, step: step, activation: activation, key: key, thumbnail: t))
            return .inserted
        }
        var weakest = 0
        for i in 1..<entries.count where entries[i].key < entries[weakest].key { weakest = i }
        guard key > entries[weakest].key, let t = thumbnail() else { return .rejected }
        entries[weakest] = Entry(fingerprint: fingerprint, source: source, step: step, activation: activation, key: key, thumbnail: t)
        return .replaced
    }

    /// The lowest key an offer must beat to enter (−∞ while there is room).
    var threshold: Double {
        entries.count < capacity ? -.infinity : entries.reduce(.infinity) { Swift.min($0, $1.key) }
    }

    /// Entries, highest score first.
    var ranked: [Entry] { entries.sorted { $0.key > $1.key } }

    /// The report rows at step `now` (thumbnails as base64 PNG when `thumbnails`).
    func items(now: Int, thumbnails: Bool) -> [GalleryItem] {
        ranked.enumerated().map { i, e in
            GalleryItem(item: i, source: e.source, step: e.step, activation: e.activation,
                        score: e.activation - decay * Double(Swift.max(0, now - e.step)),
                        width: e.thumbnail.width, height: e.thumbnail.height,
                        png: thumbnails ? (try? e.thumbnail.png()).map { Data($0).base64EncodedString() } : nil)
        }
    }
}
