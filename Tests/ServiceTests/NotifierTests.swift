import Foundation
import Testing

@testable import Service
import ConceptTestSupport
@testable import SystemdSupport

@Suite("sd_notify protocol")
struct NotifierTests {
    @Test("READY, STATUS, WATCHDOG, RELOADING+MONOTONIC_USEC, STOPPING arrive in order on a real datagram socket")
    func sequence() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let rx = try DatagramReceiver(path: dir.path + "/notify.sock")
        let n = SystemdNotifier(environment: ["NOTIFY_SOCKET": rx.address])
        #expect(n.isEnabled)

        let before = Monotonic.microseconds()
        try n.send([.ready, ServiceStatus(step: 0, sources: 2, note: "waiting for clips").notifyState])
        try n.send(.watchdog)
        try n.send(.status("step 12\nloss 3.5"))
        try n.send([.reloadingNow(), .status("reloading sources")])
        try n.send(.ready)
        try n.send(.watchdog)
        try n.send([.stopping, .status("writing the final snapshot")])
        let after = Monotonic.microseconds()

        var got: [String] = []
        while let d = rx.receiveText(timeout: 1) { got.append(d) }
        #expect(got.count == 7)
        guard got.count == 7 else { return }
        #expect(got[0] == "READY=1\nSTATUS=step 0, loss -, 0.0 clips/s, 0/2 sources live, waiting for clips")
        #expect(got[1] == "WATCHDOG=1")
        #expect(got[2] == "STATUS=step 12 loss 3.5")
        let reload = got[3].split(separator: "\n").map(String.init)
        #expect(reload.count == 3 && reload[0] == "RELOADING=1" && reload[2] == "STATUS=reloading sources")
        let usec = UInt64(reload[1].dropFirst("MONOTONIC_USEC=".count)) ?? 0
        #expect(reload[1].hasPrefix("MONOTONIC_USEC=") && usec >= before && usec <= after)
        #expect(got[4] == "READY=1")
        #expect(got[5] == "WATCHDOG=1")
        #expect(got[6] == "STOPPING=1\nSTATUS=writing the final snapshot")
    }

    @Test("an abstract socket (@name) works")
    func abstractSocket() throws {
        let name = "conceptd-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let rx = try DatagramReceiver(path: name, abstract: true)
        let n = SystemdNotifier(environment: ["NOTIFY_SOCKET": "@" + name])
        try n.send([.ready, .extendTimeout(microseconds: 5_000_000), .errno(5), .watchdogTrigger])
        #expect(rx.receiveText() == "READY=1\nEXTEND_TIMEOUT_USEC=5000000\nERRNO=5\nWATCHDOG=trigger")
    }

    @Test("without NOTIFY_SOCKET nothing is sent and nothing fails")
    func disabled() throws {
        let n = SystemdNotifier(environment: [:])
        #expect(!n.isEnabled)
        #expect(try n.send(.ready) == false)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": ""]).isEnabled == false)
    }

    @Test("a socket nobody listens on, a relative path and an overlong path are errors, not crashes")
    func errors() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        #expect(throws: NotifyError.self) { try SystemdNotifier(environment: ["NOTIFY_SOCKET": dir.path + "/none"]).send(.ready) }
        #expect(throws: NotifyError.self) { try SystemdNotifier(environment: ["NOTIFY_SOCKET": "relative.sock"]).send(.ready) }
        let long = "/" + String(repeating: "x", count: 200)
        #expect(throws: NotifyError.self) { try SystemdNotifier(environment: ["NOTIFY_SOCKET": long]).send(.ready) }
    }

    @Test("watchdog settings follow sd_watchdog_enabled: WATCHDOG_USEC, and WATCHDOG_PID when set")
    func watchdogSettings() {
        let me = getpid()
        #expect(WatchdogSettings(environment: [:]) == nil)
        #expect(WatchdogSettings(environment: ["WATCHDOG_USEC": "0"]) == nil)
        #expect(WatchdogSettings(environment: ["WATCHDOG_USEC": "abc"]) == nil)
        #expect(WatchdogSettings(environment: ["WATCHDOG_USEC": "30000000"])?.interval == .seconds(30))
        let mine = WatchdogSettings(environment: ["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "\(me)"])
        #expect(mine?.interval == .seconds(2) && mine?.pingInterval == .seconds(1))
        #expect(WatchdogSettings(environment: ["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "\(me + 1)"]) == nil)
    }

    @Test("the status line", arguments: [
        (ServiceStatus(step: 1200, loss: 3.41249, clipsPerSecond: 14.25, liveSources: 2, sources: 3),
         "step 1200, loss 3.412, 14.3 clips/s, 2/3 sources live"),
        (ServiceStatus(step: 5, loss: .nan, clipsPerSecond: 0, liveSources: 0, sources: 1, note: "stalled"),
         "step 5, loss nan, 0.0 clips/s, 0/1 sources live, stalled"),
        (ServiceStatus(step: 0, loss: -0.0004), "step 0, loss 0.000, 0.0 clips/s, 0/0 sources live"),
    ])
    func statusLine(status: ServiceStatus, line: String) {
        #expect(status.description == line)
    }
}
