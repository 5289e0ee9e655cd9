import Foundation
import Service
import Testing
import Glibc
import ConceptTestSupport
import ConceptReports
import ConceptAPI

/// The HTTP API of a real `conceptd` process on an ephemeral loopback port: every endpoint's schema, errors as
/// JSON 4xx, on-demand snapshots, Prometheus metrics, bearer-token auth, conceptctl against it, and the dashboard
/// in headless Chromium.
extension ProcessSuites {
@Suite struct APIProcessTests {
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
        #expect(!training.history.points.isEmpty && training.history.points.last!.step <= training.summary.step)

        let concepts: API.Concepts = try api.get("/v1/concepts")
        #expect(concepts.static.concepts.count == 8 && concepts.dynamic.concepts.count == 8 && concepts.topK == 3)
        #expect(concepts.static.perplexity >= 1 && concepts.static.perplexity <= 8)
        let onlyStatic: API.Concepts = try api.get("/v1/concepts?branch=static")
        #expect(onlyStatic.dynamic.concepts.isEmpty && onlyStatic.static.concepts.count == 8)
        let detail: API.ConceptDetail = try api.get("/v1/concepts/dynamic/7")
        #expect(detail.branch == .dynamic && detail.stats.index == 7)
        let withGallery = concepts.static.concepts.first { $0.hits > 0 }.flatMap { k in try? api.get("/v1/concepts/static/\(k.index)") as API.ConceptDetail }
        if let item = withGallery?.gallery.first, let k = withGallery?.stats.index {
            let thumb = try api.checked(api.request("GET", "/v1/concepts/static/\(k)/gallery/\(item.item).png"))
            #expect(thumb.headers["content-type"] == "image/png" && thumb.body.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        } else { Issue.record("no static concept with a gallery after \(training.summary.step) steps") }
        let probe: API.Probe = try api.get("/v1/probe")
        #expect(!probe.configured && probe.history.isEmpty)
        // The source's attention overlay, once it has been inspected.
        var inspected = one
        let deadline = Date(timeIntervalSinceNow: 30)
        while inspected.concepts == nil && Date() < deadline { usleep(300_000); inspected = try api.get("/v1/sources/testsrc") }
        let c = try #require(inspected.concepts, "the source was never inspected")
        #expect(c.static.count > 0 && c.dynamic.count > 0 && inspected.attentionPath == "/v1/sources/testsrc/attention.png")
        let png = try api.checked(api.request("GET", "/v1/sources/testsrc/attention.png"))
        #expect(png.headers["content-type"] == "image/png" && png.body.count > 1000)

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
}

/// `conceptctl` against a real daemon: tables, `--json` that decodes as the API's types, on-demand snapshots, the
/// live view, and clear errors when the daemon is not there.
extension ProcessSuites {
@Suite struct ConceptctlTests {
    static func ctl(_ args: [String]) throws -> ProcessResult {
        try runProcess(try DemoFixture.conceptctl(), args, environment: ["PATH": "/usr/bin:/bin"])
    }

    @Test func everyCommandTalksToTheDaemon() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let (d, api) = try APIProcessTests.startTraining(dir, steps: 4)
        defer { _ = d.stop() }
        let url = ["--url", api.baseURL]

        let status = try Self.ctl(["status"] + url)
        #expect(status.status == 0 && status.stdout.contains("model      tiny") && status.stdout.contains("step "), "\(status.stdout)\(status.stderr)")
        let statusJSON = try Self.ctl(["status", "--json"] + url)
        let decoded = try API.decoder().decode(API.Status.self, from: Data(statusJSON.stdout.utf8))
        #expect(decoded.training.step >= 4)

        let sources = try Self.ctl(["sources"] + url)
        #expect(sources.status == 0 && sources.stdout.contains("testsrc") && sources.stdout.contains("lavfi"), "\(sources.stdout)")
        _ = try API.decoder().decode([API.Source].self, from: Data(try Self.ctl(["sources", "--json"] + url).stdout.utf8))

        let concepts = try Self.ctl(["concepts", "--branch", "dynamic"] + url)
        #expect(concepts.status == 0 && concepts.stdout.contains("dynamic: 8 concepts") && !concepts.stdout.contains("static: 8"), "\(concepts.stdout)")
        let all = try API.decoder().decode(API.Concepts.self, from: Data(try Self.ctl(["concepts", "--json"] + url).stdout.utf8))
        #expect(all.static.concepts.count == 8 && all.dynamic.concepts.count == 8)
        let one = try Self.ctl(["concepts", "--branch", "static", "--index", "2"] + url)
        #expect(one.status == 0 && one.stdout.hasPrefix("static concept 2:"), "\(one.stdout)")
        let outOfRange = try Self.ctl(["concepts", "--branch", "static", "--index", "8"] + url)
        #expect(outOfRange.status == 1 && outOfRange.stderr.contains("HTTP 404"), "\(outOfRange.stderr)")

        let snap = try Self.ctl(["snapshot"] + url)
        #expect(snap.status == 0 && snap.stdout.hasPrefix("snapshot written at step "), "\(snap.stdout)\(snap.stderr)")

        let watch = try Self.ctl(["watch", "--count", "2", "--interval", "0.2"] + url)
        #expect(watch.status == 0 && watch.stdout.components(separatedBy: "clips/s").count == 3, "\(watch.stdout)")
        #expect(watch.stdout.contains("testsrc") && watch.stdout.contains("total"))

        let probe = try Self.ctl(["probe"] + url)
        #expect(probe.status == 0 && probe.stdout.contains("not configured"), "\(probe.stdout)\(probe.stderr)")
    }

    @Test func errorsAreOneClearLine() throws {
        let refused = try Self.ctl(["status", "--url", "http://127.0.0.1:1", "--timeout", "2"])
        #expect(refused.status == 1 && refused.stderr.contains("cannot connect to http://127.0.0.1:1"), "\(refused.stderr)")
        let https = try Self.ctl(["status", "--url", "https://127.0.0.1:8787"])
        #expect(https.status != 0 && https.stderr.contains("must start with http://"), "\(https.stderr)")
        let noToken = try Self.ctl(["status", "--token-file", "/nonexistent/token"])
        #expect(noToken.status != 0 && noToken.stderr.contains("cannot read the token file"), "\(noToken.stderr)")
        let badBranch = try Self.ctl(["concepts", "--branch", "sideways"])
        #expect(badBranch.status != 0 && badBranch.stderr.contains("static or dynamic"))
    }
}
}

/// The periodic probe inside the daemon: baseline first, then scheduled probes of weight copies while training goes on;
/// results in the history file and the API; a bad file in the set is named, and training continues.
extension ProcessSuites {
@Suite struct DaemonProbeTests {
    static func probeSet(_ dir: TempDir) throws -> String {
        let r = try runProcess(try DemoFixture.conceptctl(), ["make-dataset", dir.path + "/probe", "--backgrounds", "3", "--motions", "3",
                                                              "--clips-per-pair", "4", "--size", "64x64", "--frames", "20",
                                                              "--test-fraction", "0.5", "--seed", "5"])
        guard r.status == 0 else { throw TestFailure("make-dataset: \(r.stderr)") }
        return dir.path + "/probe/manifest.tsv"
    }

    @Test func probesOnScheduleAndServesTheHistory() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let manifest = try Self.probeSet(dir)
        let (d, api) = try APIProcessTests.startTraining(dir, tail: "[probe]\nmanifest = \"\(manifest)\"\nevery_steps = 6", steps: 1)
        defer { _ = d.stop() }
        var probe: API.Probe?
        let deadline = Date(timeIntervalSinceNow: 180)
        while Date() < deadline {
            probe = try? api.get("/v1/probe")
            if (probe?.history.count ?? 0) >= 2 { break }
            usleep(500_000)
        }
        let p = try #require(probe, "log:\n\(d.logText)")
        #expect(p.configured && p.lastError == nil, "\(p.lastError ?? "")")
        let baseline = try #require(p.baseline, "no baseline; log:\n\(d.logText)")
        #expect(baseline.isBaseline && baseline.labels == ["background", "motion"])
        #expect(p.history.count >= 2, "expected two scheduled probes; log:\n\(d.logText)")
        let steps = p.history.compactMap(\.step)
        #expect(steps == steps.sorted() && steps.allSatisfy { $0 >= 6 }, "\(steps)")
        let latest = try #require(p.latest)
        #expect(latest.rows.count == 2 * 7, "two labels x seven representations")
        #expect(latest.rows.allSatisfy { (0...1).contains($0.accuracy) && $0.gain != nil })
        // On disk, one JSON line per probe.
        let lines = try String(contentsOfFile: dir.path + "/state/probe-history.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == p.history.count)
        let status: API.Status = try api.get("/v1/status")
        #expect(status.probe?.accuracy.keys.sorted() == ["background", "motion"])
        let metrics = try api.request("GET", "/metrics").text
        #expect(metrics.contains("conceptd_probe_accuracy{label=\"motion\",representation=\"q_v^d\"}") ||
                metrics.contains("conceptd_probe_accuracy{representation=\"q_v^d\",label=\"motion\"}"), "\(metrics.prefix(2000))")
        let table = try ConceptctlTests.ctl(["probe", "--url", api.baseURL])
        #expect(table.status == 0 && table.stdout.contains("motion") && table.stdout.contains("F_v^d"), "\(table.stdout)")
    }

    @Test func aBadFileInTheSetIsNamedAndTrainingContinues() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let manifest = try Self.probeSet(dir)
        // Corrupt one listed video.
        let text = try String(contentsOfFile: manifest, encoding: .utf8)
        let victim = try #require(text.split(separator: "\n").dropFirst().first?.split(separator: "\t").first.map(String.init))
        try Data("not a video".utf8).write(to: URL(fileURLWithPath: dir.path + "/probe/" + victim))
        let (d, api) = try APIProcessTests.startTraining(dir, tail: "[probe]\nmanifest = \"\(manifest)\"\nevery_steps = 4", steps: 1)
        defer { _ = d.stop() }
        var probe: API.Probe?
        let deadline = Date(timeIntervalSinceNow: 120)
        while Date() < deadline {
            probe = try? api.get("/v1/probe")
            if probe?.lastError != nil { break }
            usleep(300_000)
        }
        let error = try #require(probe?.lastError, "no error reported; log:\n\(d.logText)")
        #expect(error.contains((victim as NSString).lastPathComponent), "the error must name the file: \(error)")
        let before: API.Status = try api.get("/v1/status")
        usleep(3_000_000)
        let after: API.Status = try api.get("/v1/status")
        #expect(after.training.step > before.training.step, "training stopped after the probe failed")
    }
}
}
