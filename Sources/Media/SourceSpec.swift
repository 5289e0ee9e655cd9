import Foundation
import LibAV

/// A parsed source URI: what to open and how.
///
/// - `file:/path/clip.mp4` or a bare path: decode once, then done (a bare path to a directory is a folder).
/// - `folder:/path/dir`: a watch folder.
/// - `rtsp://`, `rtsps://`, `http(s)://`, `udp://`, `tcp://`, `rtmp(s)://`, `srt://`, `rtp://`: a network
///   stream (only protocols this libavformat was built with).
/// - `v4l2:/dev/video0`: a capture device; `lavfi:<graph>` (e.g. `lavfi:testsrc2=size=320x240:rate=25`):
///   a libavfilter source, a live source for tests and demos.
public struct SourceSpec: Sendable, Hashable, CustomStringConvertible {
    /// What kind of source.
    public enum Kind: Sendable, Hashable {
        /// A file decoded once.
        case file(path: String)
        /// A watch folder.
        case folder(path: String)
        /// A network URL (the scheme is its libavformat protocol).
        case network(url: String, scheme: String)
        /// A libavdevice/libavfilter input: libav format name (`video4linux2`, `lavfi`) and its URL.
        case device(format: String, url: String)
    }

    /// The parsed kind.
    public let kind: Kind
    /// The URI as given.
    public let uri: String

    private static let networkSchemes: Set<String> = [
        "rtsp", "rtsps", "http", "https", "udp", "tcp", "rtmp", "rtmps", "rtmpt", "srt", "rtp",
    ]

    /// Parses `uri`; throws `.invalidSource` with the reason when it names nothing this build can open.
    public init(_ uri: String) throws {
        self.uri = uri
        let trimmed = uri.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw MediaError(.invalidSource, "empty source URI") }
        func rest(after prefix: String) throws -> String {
            var r = String(trimmed.dropFirst(prefix.count))
            if prefix == "file:" || prefix == "folder:", r.hasPrefix("//") { r = String(r.dropFirst(2)) }
            guard !r.isEmpty else { throw MediaError(.invalidSource, "'\(uri)': nothing after '\(prefix)'") }
            return r
        }
        if trimmed.hasPrefix("file:") {
            kind = .file(path: try rest(after: "file:"))
        } else if trimmed.hasPrefix("folder:") {
            kind = .folder(path: try rest(after: "folder:"))
        } else if trimmed.hasPrefix("v4l2:") {
            kind = .device(format: "video4linux2", url: try rest(after: "v4l2:"))
        } else if trimmed.hasPrefix("lavfi:") {
            kind = .device(format: "lavfi", url: try rest(after: "lavfi:"))
        } else if let range = trimmed.range(of: "://") {
            let scheme = trimmed[..<range.lowerBound].lowercased()
            guard SourceSpec.networkSchemes.contains(scheme) else {
                throw MediaError(.invalidSource, "'\(uri)': unsupported scheme '\(scheme)'")
            }
            // RTSP is a demuxer over tcp/udp (and tls for rtsps), not a URL protocol.
            let needs: [String] = scheme == "rtsp" ? ["tcp"] : scheme == "rtsps" ? ["tls"] : [scheme]
            let demuxerMissing = scheme.hasPrefix("rtsp") && !MediaLibrary.hasInputFormat("rtsp")
            guard !demuxerMissing, needs.allSatisfy(MediaLibrary.inputProtocols.contains) else {
                throw MediaError(.invalidSource, "'\(uri)': protocol '\(scheme)' is not built into this libavformat")
            }
            guard trimmed.count > range.upperBound.utf16Offset(in: trimmed) else {
                throw MediaError(.invalidSource, "'\(uri)': no address after '\(scheme)://'")
            }
            kind = .network(url: trimmed, scheme: scheme)
        } else if let colon = trimmed.firstIndex(of: ":"), !trimmed.hasPrefix("/"), !trimmed.hasPrefix("."),
            trimmed[..<colon].allSatisfy({ $0.isLetter || $0.isNumber })
        {
            throw MediaError(.invalidSource, "'\(uri)': unknown source type '\(trimmed[..<colon])'")
        } else {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: trimmed, isDirectory: &isDirectory), isDirectory.boolValue {
                kind = .folder(path: trimmed)
            } else {
                kind = .file(path: trimmed)
            }
        }
    }

    /// Whether the source is live: it is reopened with backoff when it ends or fails (network, devices,
    /// watch folders). Files are decoded once.
    public var isLive: Bool {
        if case .file = kind { return false }
        return true
    }

    public var description: String { uri }
}
