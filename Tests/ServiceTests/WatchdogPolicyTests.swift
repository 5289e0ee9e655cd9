import Synchronization
import Testing

@testable import Service
import ConceptTestSupport
@testable import SystemdSupport

@Suite("Watchdog policy")
struct WatchdogPolicyTests {
    let t0 = ContinuousClock.now
    func at(_ s: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int64(s * 1000)) }

    @Test("a timer alone never earns a ping")
    func timerAlone() {
        var p = WatchdogPolicy(interval: .seconds(10), now: at(0))
        #expect(p.tick(at: at(5)) == .hold)
        #expect(p.tick(at: at(10)) == .stalled(progress: 0, since: at(0)))
        for s in stride(from: 15.0, through: 100, by: 5) { #expect(p.tick(at: at(s)) == .hold) }
    }

    @Test("progress since the last ping earns exactly one ping")
    func progress() {
        var p = WatchdogPolicy(interval: .seconds(10), progress: 100, now: at(0))
        p.progressed(to: 101, at: at(1))
        p.progressed(to: 102, at: at(2))
        #expect(p.tick(at: at(5)) == .ping)
        #expect(p.tick(at: at(6)) == .hold)
        p.progressed(to: 102, at: at(7))  // not an advance
        #expect(p.tick(at: at(8)) == .hold)
        p.progressed(to: 99, at: at(9))  // going backwards is not progress
        #expect(p.tick(at: at(9.5)) == .hold)
        p.progressed(to: 103, at: at(10))
        #expect(p.tick(at: at(11)) == .ping)
    }

    @Test("a trainer that stalls stops the pings, and the stall is reported once")
    func stall() {
        var p = WatchdogPolicy(interval: .seconds(10), now: at(0))
        var pings = 0
        var stalls = 0
        // Steps every 2 s up to t = 20, then the trainer hangs.
        for s in stride(from: 0.0, through: 60, by: 5) {
            if s <= 20 {
                for k in stride(from: s, to: s + 5, by: 2) where k <= 20 { p.progressed(to: UInt64(k / 2) + 1, at: at(k)) }
            }
            let a = p.tick(at: at(s + 4.9))
            if s <= 20 {
                #expect(a == .ping, "t=\(s + 4.9)")
                pings += 1
            } else if a != .hold {
                #expect(a == .stalled(progress: 11, since: at(20)), "t=\(s + 4.9)")
                stalls += 1
            }
        }
        #expect(pings == 5)
        #expect(stalls == 1)
        // Progress after the stall brings the pings back.
        p.progressed(to: 12, at: at(70))
        #expect(p.tick(at: at(71)) == .ping)
    }

    @Test("idle for a stated reason pings while the reason is renewed, and stops when it is not")
    func idle() {
        var p = WatchdogPolicy(interval: .seconds(10), now: at(0))
        p.idle(reason: "waiting for clips", at: at(1))
        #expect(p.currentIdleReason(at: at(2)) == "waiting for clips")
        #expect(p.tick(at: at(5)) == .ping)
        p.idle(reason: "waiting for clips", at: at(8))
        #expect(p.tick(at: at(10)) == .ping)
        #expect(p.tick(at: at(13)) == .ping)  // within the 5 s lease of t = 8
        #expect(p.tick(at: at(13.5)) == .hold)  // lease over: a hung wait loop stops earning pings
        #expect(p.currentIdleReason(at: at(13.5)) == nil)
        #expect(p.tick(at: at(18)) == .stalled(progress: 0, since: at(8)))
        #expect(p.tick(at: at(20)) == .hold)
    }

    @Test("leaving idle ends the idle pings until a step completes")
    func busy() {
        var p = WatchdogPolicy(interval: .seconds(10), idleLease: .seconds(8), now: at(0))
        p.idle(reason: "waiting for clips", at: at(0))
        #expect(p.tick(at: at(1)) == .ping)
        p.busy(at: at(2))
        #expect(p.tick(at: at(3)) == .hold)
        #expect(p.tick(at: at(11)) == .hold)
        #expect(p.tick(at: at(12)) == .stalled(progress: 0, since: at(2)))
        p.progressed(to: 1, at: at(13))
        #expect(p.tick(at: at(14)) == .ping)
    }
}

@Suite("Watchdog monitor over the real notify socket")
struct WatchdogMonitorTests {
    final class Events: Sendable {
        let list = Mutex<[WatchdogMonitor.Event]>([])
    }

    @Test("WATCHDOG=1 arrives while the trainer progresses and stops when it stalls")
    func pingsFollowProgress() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let rx = try DatagramReceiver(path: dir.path + "/notify.sock")
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": rx.address])
        let settings = try #require(WatchdogSettings(environment: ["WATCHDOG_USEC": "400000"]))
        let monitor = WatchdogMonitor(settings: settings)
        let events = Events()
        let pinger = Task { await monitor.run(notifier: notifier) { e in events.list.withLock { $0.append(e) } } }
        defer { pinger.cancel() }

        // A "trainer" that makes a step every 50 ms for 1.2 s, then hangs.
        for step in 1...24 {
            try await Task.sleep(for: .milliseconds(50))
            monitor.progressed(to: UInt64(step))
        }
        var during = 0
        while let d = rx.receiveText(timeout: 0) {
            #expect(d == "WATCHDOG=1")
            during += 1
        }
        #expect(during >= 2, "pings while training: \(during)")
        // Wait (generously: CI machines are loaded) until the monitor has concluded the trainer stalled; any ping
        // still due for the last steps has gone out by then. From there on, silence.
        let deadline = ContinuousClock.now + .seconds(15)
        while events.list.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        while rx.receiveText(timeout: 0) != nil {}
        let after = rx.receiveText(timeout: 1.5)
        #expect(after == nil, "a stalled trainer still got a ping: \(after ?? "")")
        let stalls = events.list.withLock { $0 }
        #expect(stalls.count == 1)
        if case .stalled(let progress, let silent)? = stalls.first {
            #expect(progress == 24 && silent >= .milliseconds(400))
        } else {
            Issue.record("expected one stall event, got \(stalls)")
        }

        // An idle trainer with a reason keeps the pings going.
        for _ in 0..<6 {
            monitor.idle(reason: "waiting for clips")
            try await Task.sleep(for: .milliseconds(100))
        }
        var idlePings = 0
        while rx.receiveText(timeout: 0) != nil { idlePings += 1 }
        #expect(idlePings >= 1)
    }
}
