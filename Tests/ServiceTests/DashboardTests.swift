import Foundation
import Service
import Testing
import Glibc
import ConceptTestSupport
import ConceptAPI

/// The dashboard in a real browser: headless Chromium loads it from a training daemon, waits for the data, saves a
/// screenshot, and the test fails if the page shows an error or an empty chart.
extension ProcessSuites {
@Suite struct DashboardTests {
    static func chromium() -> String? { which("chromium") ?? which("chromium-browser") ?? which("google-chrome") }

    static func browser(_ arguments: [String], home: String) throws -> ProcessResult {
        try runProcess(chromium()!, ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                     "--no-first-run", "--hide-scrollbars", "--user-data-dir=\(home)/chromium"] + arguments,
                       environment: ["HOME": home, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
    }

    @Test(.enabled(if: chromium() != nil, "needs Debian's chromium (make deps installs it)"))
    func theDashboardShowsLiveDataInABrowser() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let manifest = try DaemonProbeTests.probeSet(dir)
        let (d, api) = try APIProcessTests.startTraining(dir, tail: "[probe]\nmanifest = \"\(manifest)\"\nevery_steps = 5", steps: 8)
        defer { _ = d.stop() }
        // Wait until the source has been inspected (its card has an attention overlay) and two probes are in.
        let deadline = Date(timeIntervalSinceNow: 150)
        while Date() < deadline {
            let inspected = (try? api.get("/v1/sources") as [API.Source])?.first?.attentionPath != nil
            let probes = (try? api.get("/v1/probe") as API.Probe)?.history.count ?? 0
            if inspected && probes >= 2 { break }
            usleep(300_000)
        }

        let dom = try Self.browser(["--virtual-time-budget=20000", "--dump-dom", api.baseURL + "/"], home: dir.path)
        #expect(dom.status == 0, "chromium failed: \(dom.stderr.suffix(2000))")
        let html = dom.stdout
        #expect(html.contains("data-ready=\"1\""), "the page did not load all its data:\n\(html.prefix(4000))")
        // The error banner stays hidden and empty.
        let errorDiv = html.range(of: "<div id=\"error\"[^>]*>[^<]*</div>", options: .regularExpression).map { String(html[$0]) } ?? ""
        #expect(errorDiv.contains("hidden") && errorDiv.hasSuffix("></div>"), "the page shows an error: \(errorDiv)")
        // Every loss chart has points; the source card has its attention overlay.
        for key in ["loss-total", "loss-aln", "loss-fid", "loss-div", "probe-background", "probe-motion"] {
            let pattern = "data-key=\"\(key)\"[^$]*?data-points=\"([0-9]+)\""
            let points = html.range(of: pattern, options: .regularExpression).flatMap { r -> Int? in
                let s = String(html[r]); return s.range(of: "data-points=\"[0-9]+\"", options: .regularExpression).flatMap { Int(s[$0].dropFirst(13).dropLast()) }
            } ?? 0
            #expect(points > 0, "chart \(key) is empty")
        }
        #expect(html.contains("data-source=\"testsrc\""), "no card for the source")
        #expect(html.contains("<th>motion acc</th>") && html.contains("<td>F_v^d</td>"), "no probe table")
        #expect(html.contains("data-loaded=\"1\""), "the attention overlay did not load")
        #expect(html.contains("class=\"grid\" data-branch=\"static\"") && html.contains("data-branch=\"dynamic\""), "no concept grids")

        let shot = dir.path + "/dashboard.png"
        let r = try Self.browser(["--virtual-time-budget=20000", "--window-size=1400,1700", "--screenshot=\(shot)", api.baseURL + "/"], home: dir.path)
        #expect(r.status == 0, "\(r.stderr.suffix(2000))")
        let size = (try? FileManager.default.attributesOfItem(atPath: shot)[.size] as? Int) ?? 0
        #expect(size > 20_000, "screenshot missing or blank (\(size) bytes)")
        if let keep = ProcessInfo.processInfo.environment["CONCEPTD_SCREENSHOT"] {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(atPath: shot, toPath: keep)
        }
    }
}
}
