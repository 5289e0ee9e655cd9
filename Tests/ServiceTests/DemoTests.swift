import Foundation
import Service
import Testing
import Glibc
import ConceptAPI

/// The embedded demo as `make run` starts it (the shipped configs/demo.toml, from a temporary state directory):
/// within 90 seconds (a minute on an idle machine; the margin is for a loaded one) the feeder's uploads are ingested and deleted, the live test pattern streams, the model trains,
/// the probe baseline is in, and the sources have concepts.
extension ProcessSuites {
@Suite struct DemoTests {
    @Test func theDemoDoesItsJobWithinNinetySeconds() throws {
        let demo = try DemoFixture()
        defer { demo.dir.cleanup() }
        let feeder = Process()
        feeder.executableURL = URL(fileURLWithPath: try DemoFixture.conceptctl())
        feeder.arguments = ["feed", demo.state + "/watch", "--every", "3", "--clips", "2", "--backgrounds", "4", "--motions", "4",
                             "--size", "96x96", "--frames", "48"]
        feeder.standardOutput = FileHandle.nullDevice
        try feeder.run()
        defer { feeder.terminate(); feeder.waitUntilExit() }
        let d = try DaemonProcessTests.Daemon(dir: demo.dir, config: demo.config)
        defer { _ = d.stop() }
        let started = Date()
        #expect(d.waitFor("READY=1", timeout: 30), "log:\n\(d.logText)")
        let api = try APIClient(baseURL: try #require(d.apiURL), timeout: 10)
        var sources: [API.Source] = [], status: API.Status?, probe: API.Probe?
        while Date().timeIntervalSince(started) < 90 {
            sources = (try? api.get("/v1/sources")) ?? []
            status = try? api.get("/v1/status")
            probe = try? api.get("/v1/probe")
            let uploads = sources.first { $0.name == "uploads" }?.statistics.filesIngested ?? 0
            if uploads >= 2, (status?.training.step ?? 0) >= 20, probe?.baseline != nil, sources.allSatisfy({ $0.concepts != nil }) { break }
            usleep(500_000)
        }
        let uploads = try #require(sources.first { $0.name == "uploads" })
        #expect(uploads.statistics.filesIngested >= 2, "uploads: \(uploads.statistics); log:\n\(d.logText.suffix(3000))")
        #expect(sources.first { $0.name == "testsrc" }?.statistics.state == .live)
        #expect((status?.training.step ?? 0) >= 20, "only \(status?.training.step ?? 0) steps in 90 s")
        #expect(probe?.baseline?.labels == ["background", "motion"], "no probe baseline within 90 s")
        #expect(sources.allSatisfy { $0.concepts != nil }, "sources without concepts: \(sources.map(\.name))")
        // Ingested uploads are deleted (after = "delete"), so the folder does not grow without bound.
        let left = (try? FileManager.default.contentsOfDirectory(atPath: demo.state + "/watch")) ?? []
        #expect(left.count <= 6, "watch folder keeps \(left.count) files")
    }
}
}
