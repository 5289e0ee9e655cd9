import Foundation
import Service
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The HTTP API of a real `conceptd` process on an ephemeral loopback port: every endpoint's schema, errors as
/// JSON 4xx, on-demand snapshots, Prometheus metrics, bearer-token auth, conceptctl against it, and the dashboard
/// in headless Chromium.
@Suite(.serialized) struct APIProcessTests {
    typealias Daemon = DaemonProcessTests.Daemon

    /// Starts a daemon on a live test source and waits until it has trained a few steps and inspected its source.
    static func startTraining(_ dir: TempDir, api: String = "", tail: String = "", steps: Int = 6) throws -> (Daemon, APIClient) {
        let config = try DaemonProcessTests.config(dir, sources: DaemonProcessTests.liveSource, snapshotEvery: 1000, api: api, tail: tail)
        let d = try Daemon(dir: dir, config: config)
        guard d.waitFor("READY=1", timeout: 60), let url = d.apiURL else { throw TestFailure("no READY/API; log:\n\(d.logText)") }
        let token = try? String(contentsOfFile: dir.path + "/token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let client = try APIClient(baseURL: url, token: token, timeout: 30)
        let deadline = Date(timeIntervalSinceNow: 120)
        while Date() < deadline {
            if let s: API.Status = try? client.get("/v1/status"), s.training.step >= steps { break }
            usleep(300_000)
        }
        return (d, client)
    }

    @Test func everyEndpointAnswersWithItsSchema() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let (d, api) = try Self.startTraining(dir)
        defer { _ = d.stop() }

        let status: API.Status = try api.get("/v1/status")
        #expect(status.training.step >= 6, "log:\n\(d.logText)")
        #expect(status.model.preset == "tiny" && status.model.ks == 8 && status.model.kd == 8 && status.model.topK == 3)
        #expect(status.sources.total == 1 && status.state == "training")
        #expect(status.residentBytes > 10 << 20)
        #expect(status.training.lossAverage.total.isFinite && status.training.replayCapacity == 16)

        let sources: [API.Source] = try api.get("/v1/sources")
        #expect(sources.map(\.name) == ["testsrc"])
        #expect(sources[0].statistics.clipsMade > 0 && sources[0].kind == "lavfi")
        let one: API.Source = try api.get("/v1/sources/testsrc")
        #expect(one.name == "testsrc")

        let training: API.Training = try api.get("/v1/training")
        #expect(training.summary.step >= 6)

        // Errors: JSON bodies with 4xx statuses; nothing reaches the file system.
        for (method, path, code) in [("GET", "/v1/nope", 404), ("GET", "/v1/sources/nosuch", 404),
                                     ("GET", "/v1/sources/..%2F..%2Fetc%2Fpasswd", 404),
                                     ("GET", "/v1/sources/nosuch/attention.png", 404),
                                     ("GET", "/v1/concepts/sideways/1", 400), ("GET", "/v1/concepts/static/-1", 400),
                                     ("GET", "/v1/concepts/static/abc", 400), ("GET", "/v1/concepts/static/99999", 404),
                                     ("GET", "/v1/concepts?branch=up", 400), ("POST", "/v1/status", 405),
                                     ("GET", "/v1/snapshot", 405), ("GET", "/v1/concepts/static/0/gallery/x.png", 400)] {
            let r = try api.request(method, path)
            #expect(r.status == code, "\(method) \(path): \(r.status) \(r.text)")
            let body = try? API.decoder().decode(API.ErrorBody.self, from: Data(r.body))
            #expect(body?.error.status == code && !(body?.error.message.isEmpty ?? true), "\(method) \(path): \(r.text)")
            #expect(r.headers["content-type"]?.hasPrefix("application/json") == true)
        }

        // On-demand snapshot: written, on disk, reported by status.
        let written: API.SnapshotWritten = try api.post("/v1/snapshot")
        #expect(FileManager.default.fileExists(atPath: written.path + "/manifest.json"), "\(written)")
        let after: API.Status = try api.get("/v1/status")
        #expect(after.snapshot.step == written.step && after.snapshot.path == written.path)
        #expect((after.snapshot.ageSeconds ?? 99) < 30)

        // Prometheus text.
        let metrics = try api.checked(api.request("GET", "/metrics"))
        #expect(metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
        let text = metrics.text
        for name in ["conceptd_step ", "conceptd_loss_average{term=\"total\"}", "conceptd_clips_per_second ",
                     "conceptd_source_clips_total{source=\"testsrc\"}", "conceptd_source_up{source=\"testsrc\"} 1",
                     "conceptd_snapshot_age_seconds ", "conceptd_resident_memory_bytes ", "# TYPE conceptd_source_clips_total counter"] {
            #expect(text.contains(name), "metrics lack \(name):\n\(text.prefix(3000))")
        }
        let stepLine = text.split(separator: "\n").first { $0.hasPrefix("conceptd_step ") }
        #expect((stepLine.flatMap { Double($0.split(separator: " ")[1]) } ?? -1) >= 6)
    }

    @Test func aTokenIsRequiredWhenConfigured() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        _ = try dir.file("token", "s3cret-token-\(UInt32.random(in: 0...UInt32.max))\n", mode: 0o600)
        let (d, api) = try Self.startTraining(dir, api: "token_file = \"\(dir.path)/token\"", steps: 1)
        defer { _ = d.stop() }
        #expect(!d.logText.contains("s3cret"), "the token must never be logged")
        let anonymous = try APIClient(baseURL: api.baseURL, timeout: 10)
        let wrong = try APIClient(baseURL: api.baseURL, token: "s3cret-token-0", timeout: 10)
        for path in ["/v1/status", "/v1/sources", "/metrics", "/v1/concepts", "/v1/nope"] {
            let r = try anonymous.request("GET", path)
            #expect(r.status == 401 && r.headers["www-authenticate"]?.hasPrefix("Bearer") == true, "\(path): \(r.status)")
            #expect(try wrong.request("GET", path).status == 401)
        }
        #expect(try anonymous.request("POST", "/v1/snapshot").status == 401)
        #expect(try api.request("GET", "/v1/status").status == 200)
        // The dashboard's static files hold no data and load without the token (the page sends it on its calls).
        #expect(try anonymous.request("GET", "/").status == 200)
        #expect(try anonymous.request("GET", "/dashboard.js").status == 200)
    }
}
