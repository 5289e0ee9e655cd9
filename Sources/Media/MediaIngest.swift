import Foundation
import Synchronization
import LibAV
import ConceptReports

/// A set of sources feeding one bounded clip queue: the media layer's front door for the daemon.
///
/// ```swift
/// let ingest = MediaIngest(queueCapacity: 32)
/// try ingest.add("rtsp://cam/stream", options: SourceOptions(clip: ClipOptions(frames: 17, fps: 16)))
/// try ingest.add("folder:/srv/inbox", options: SourceOptions(watch: WatchFolderOptions(after: .keep, stateDirectory: "/var/lib/conceptd")))
/// while let batch = await ingest.queue.nextBatch(count: 8) { ... }
/// ```
public final class MediaIngest: Sendable {
    /// The queue all sources feed.
    public let queue: ClipQueue
    private let registry = Mutex<[MediaSource]>([])

    /// An ingest with an empty queue of `queueCapacity` clips.
    public init(queueCapacity: Int = 32) {
        queue = ClipQueue(capacity: queueCapacity)
    }

    /// Creates and starts a source for `uri`; `name` (default: the URI) must be unique.
    @discardableResult
    public func add(_ uri: String, name: String? = nil, options: SourceOptions = SourceOptions()) throws
        -> MediaSource
    {
        let source = try MediaSource(uri: uri, name: name, options: options, queue: queue)
        try registry.withLock { list in
            if list.contains(where: { $0.name == source.name }) {
                throw MediaError(.invalidSource, "a source named '\(source.name)' already exists")
            }
            list.append(source)
        }
        source.start()
        return source
    }

    /// The sources, in the order added.
    public var sources: [MediaSource] { registry.withLock { $0 } }

    /// The source called `name`.
    public func source(named name: String) -> MediaSource? { registry.withLock { $0.first { $0.name == name } } }

    /// Stops and removes the source called `name`, waiting for its thread.
    public func remove(named name: String) async {
        let source = registry.withLock { list -> MediaSource? in
            guard let i = list.firstIndex(where: { $0.name == name }) else { return nil }
            return list.remove(at: i)
        }
        guard let source else { return }
        source.stop()
        await source.finished()
    }

    /// Every source's counters.
    public func statistics() -> [SourceStatistics] { sources.map(\.statistics) }

    /// Ledgers of the watch-folder sources, by source name.
    public func ledgers() -> [String: IngestLedger] {
        var result: [String: IngestLedger] = [:]
        for s in sources { if let l = s.ledger { result[s.name] = l } }
        return result
    }

    /// Stops every source, waits for their threads, then closes the queue.
    public func shutdown() async {
        let all = sources
        for s in all { s.stop() }
        for s in all { await s.finished() }
        queue.close()
    }
}
