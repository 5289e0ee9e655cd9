import Foundation
import Logging
import Media

extension SourceConfig {
    /// The media layer's options for this source, with clips of the model's size.
    func mediaOptions(config: DaemonConfig, ledger: IngestLedger?, logger: Logger) -> SourceOptions {
        let clip = ClipOptions(frames: config.clipFrames, height: config.model.height, width: config.model.width,
                               shortSide: shortSide, fps: fps ?? config.training.clipFps, stride: stride,
                               crop: crop == .center ? .center : .random, randomFlip: flip,
                               seed: Self.stableHash(name) ^ (config.training.seed ?? 0))
        let watch = WatchFolderOptions(settleSeconds: settleSeconds ?? 2, after: after ?? .keep,
                                       stateDirectory: (config.stateDirectory as NSString).appendingPathComponent("ingest"),
                                       ledger: ledger)
        var log = logger
        log[metadataKey: "source"] = "\(name)"
        var backoff = BackoffPolicy()
        if let cap = reconnectMaxSeconds { backoff.maximum = max(backoff.initial, cap) }
        return SourceOptions(clip: clip, libavOptions: options, stallSeconds: stallSeconds ?? 10, backoff: backoff,
                             watch: watch, logger: log)
    }
}

extension SourceConfig {
    /// FNV-1a of the name: the same in every process (unlike `hashValue`), so a restarted daemon crops alike.
    static func stableHash(_ name: String) -> UInt64 {
        name.utf8.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}

extension IngestLedger {
    /// The ledger a snapshot recorded for a source, if any.
    static func fromProgress(_ text: String?) -> IngestLedger? {
        guard let text, let data = text.data(using: .utf8) else { return nil }
        return try? IngestLedger(jsonData: data)
    }
}
