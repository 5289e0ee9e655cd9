import Foundation
import Testing
import ConceptTestSupport

/// `concept-bench` (the built binary): a benchmark that cannot run says why in one line, without the usage text
/// (issue #14, fault 8).
@Suite("concept-bench errors")
struct BenchCommandTests {
    static func bench() throws -> String { (try conceptdBinary() as NSString).deletingLastPathComponent + "/concept-bench" }

    @Test("ingest on an undecodable file prints the error only", arguments: ["garbage", "truncated", "missing"])
    func undecodable(kind: String) throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let file: String
        switch kind {
        case "garbage": file = try dir.file("clip.mp4", String(repeating: "not a video ", count: 500))
        case "truncated":
            let full = dir.path + "/full.mp4"
            let ff = try runProcess("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=2",
                                                       "-pix_fmt", "yuv420p", "-y", full])
            #expect(ff.status == 0, "\(ff.stderr)")
            let bytes = try Data(contentsOf: URL(fileURLWithPath: full))
            file = dir.path + "/truncated.mp4"
            try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: file))
        default: file = dir.path + "/none.mp4"
        }
        let r = try runProcess(try Self.bench(), ["ingest", file, "--runs", "1"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(r.status != 0)
        let out = r.stdout + r.stderr
        #expect(out.contains("Error: ") && out.contains(file), "\(out)")
        #expect(!out.contains("Usage:") && !out.contains("--help") && !out.contains("Help:"), "\(out)")
        #expect(r.stderr.split(separator: "\n").count == 1, "only the error: \(r.stderr)")
    }

    @Test("a mistake on the command line still gets the usage text")
    func usage() throws {
        let r = try runProcess(try Self.bench(), ["ingest", "--size", "banana", "x.mp4"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(r.status != 0 && r.stderr.contains("Usage: concept-bench ingest"), "\(r.stderr)")
    }
}
