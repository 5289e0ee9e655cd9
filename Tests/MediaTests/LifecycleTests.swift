import Testing
@testable import Media
import SeededRandom

/// A generator that always returns the same word (jitter at a fixed point of its range).
struct ConstantGenerator: RandomNumberGenerator {
    var value: UInt64
    mutating func next() -> UInt64 { value }
}

@Suite struct BackoffTests {
    @Test func doublesUpToTheCapWithoutJitter() {
        var b = Backoff(policy: BackoffPolicy(initial: 1, maximum: 60, multiplier: 2, jitter: 0))
        var g = SeededGenerator(seed: 1)
        let delays = (0..<9).map { _ in b.nextDelay(using: &g) }
        #expect(delays == [1, 2, 4, 8, 16, 32, 60, 60, 60])
        b.reset()
        #expect(b.nextDelay(using: &g) == 1)
    }

    @Test func jitterStaysWithinItsBandAndUnderTheCap() {
        let policy = BackoffPolicy(initial: 1, maximum: 10, multiplier: 2, jitter: 0.25)
        var b = Backoff(policy: policy)
        var g = SeededGenerator(seed: 42)
        var distinct = Set<Double>()
        for attempt in 0..<12 {
            let base = min(10, Double(1 << attempt))
            let d = b.nextDelay(using: &g)
            #expect(d >= base * 0.75 - 1e-9 && d <= min(10, base * 1.25) + 1e-9, "attempt \(attempt): \(d)")
            distinct.insert(d)
        }
        #expect(distinct.count > 6)
    }

    @Test func injectedGeneratorFixesTheJitter() {
        let policy = BackoffPolicy(initial: 2, maximum: 100, multiplier: 3, jitter: 0.5)
        // All-ones words give the top of the range (+50 %), zero the bottom (-50 %).
        var high = ConstantGenerator(value: .max)
        var low = ConstantGenerator(value: 0)
        var a = Backoff(policy: policy)
        var b = Backoff(policy: policy)
        let top = (0..<3).map { _ in a.nextDelay(using: &high) }
        let bottom = (0..<3).map { _ in b.nextDelay(using: &low) }
        for (i, base) in [2.0, 6, 18].enumerated() {
            #expect(abs(top[i] - base * 1.5) < 1e-6)
            #expect(abs(bottom[i] - base * 0.5) < 1e-6)
        }
    }

    @Test func seededRunsReproduce() {
        let policy = BackoffPolicy()
        var g1 = SeededGenerator(seed: 7), g2 = SeededGenerator(seed: 7), g3 = SeededGenerator(seed: 8)
        var a = Backoff(policy: policy), b = Backoff(policy: policy), c = Backoff(policy: policy)
        let x = (0..<5).map { _ in a.nextDelay(using: &g1) }
        let y = (0..<5).map { _ in b.nextDelay(using: &g2) }
        let z = (0..<5).map { _ in c.nextDelay(using: &g3) }
        #expect(x == y)
        #expect(x != z)
    }
}

@Suite struct SourceLifecycleTests {
    let noJitter = BackoffPolicy(initial: 1, maximum: 8, multiplier: 2, jitter: 0)

    @Test func fileOpensEmitsAndFinishes() {
        var m = SourceLifecycle(live: false, policy: noJitter, seed: 0)
        #expect(m.start() == [.open])
        #expect(m.state == .connecting)
        #expect(m.opened(at: 0) == [.emit])
        #expect(m.state == .live)
        #expect(m.ended(at: 5) == [.close, .finish])
        #expect(m.state == .finished)
        #expect(m.reconnects == 0)
    }

    @Test func fileThatCannotOpenFailsForGood() {
        var m = SourceLifecycle(live: false, policy: noJitter, seed: 0)
        _ = m.start()
        #expect(m.openFailed("no such file", at: 0) == [.fail("no such file")])
        #expect(m.state == .failed)
        #expect(m.lastError == "no such file")
    }

    @Test func fileReadErrorEndsWithWhatWasDecoded() {
        var m = SourceLifecycle(live: false, policy: noJitter, seed: 0)
        _ = m.start()
        _ = m.opened(at: 0)
        #expect(m.failed("read error", at: 1) == [.close, .finish])
        #expect(m.state == .finished)
    }

    @Test func liveSourceBacksOffExponentiallyAndReconnects() {
        var m = SourceLifecycle(live: true, policy: noJitter, seed: 0)
        _ = m.start()
        #expect(m.openFailed("refused", at: 0) == [.sleep(1)])
        #expect(m.state == .backoff)
        #expect(m.backoffElapsed() == [.open])
        #expect(m.state == .connecting)
        #expect(m.openFailed("refused", at: 1) == [.sleep(2)])
        _ = m.backoffElapsed()
        #expect(m.openFailed("refused", at: 3) == [.sleep(4)])
        _ = m.backoffElapsed()
        #expect(m.openFailed("refused", at: 7) == [.sleep(8)])
        _ = m.backoffElapsed()
        #expect(m.openFailed("refused", at: 15) == [.sleep(8)])  // capped
        _ = m.backoffElapsed()
        #expect(m.opened(at: 23) == [.emit])
        #expect(m.reconnects == 0)  // the first successful open is not a reconnect
        // Opened but dropped before a single frame: one more failed attempt, the delay stays at the cap.
        #expect(m.ended(at: 25) == [.close, .sleep(8)])
        _ = m.backoffElapsed()
        #expect(m.opened(at: 33) == [.emit])
        #expect(m.reconnects == 1)
    }

    @Test func aSessionThatDeliveredFramesRestartsAtTheInitialDelay() {
        var m = SourceLifecycle(live: true, policy: noJitter, seed: 0)
        _ = m.start()
        for (t, delay) in [(0.0, 1.0), (1, 2), (3, 4)] {
            #expect(m.openFailed("refused", at: t) == [.sleep(delay)])
            _ = m.backoffElapsed()
        }
        _ = m.opened(at: 7)
        #expect(m.backoffAttempt == 3)
        m.delivered()
        // Live for 2 s only, but it delivered frames: the next attempt waits the initial delay.
        #expect(m.failed("stalled", at: 9) == [.close, .sleep(1)])
        #expect(m.lastError == "stalled")
        _ = m.backoffElapsed()
        // The camera is still rebooting: the delay grows again over the failed attempts.
        #expect(m.openFailed("refused", at: 10) == [.sleep(2)])
        _ = m.backoffElapsed()
        _ = m.opened(at: 12)
        m.delivered()
        #expect(m.ended(at: 13) == [.close, .sleep(1)])
    }

    @Test func aSessionWithoutFramesIsAFailedAttempt() {
        var m = SourceLifecycle(live: true, policy: noJitter, seed: 0)
        _ = m.start()
        var delays: [Double] = []
        for i in 0..<5 {
            _ = m.opened(at: Double(i * 10))
            if case .sleep(let d)? = m.ended(at: Double(i * 10 + 1)).last { delays.append(d) }
            _ = m.backoffElapsed()
        }
        #expect(delays == [1, 2, 4, 8, 8])
    }

    @Test func aFlappingStreamNeverWaitsLongerThanTheInitialDelay() {
        // Up 6-15 s, then a drop, fifty times: before issue #14 the delay doubled on every drop shorter than 30 s.
        var m = SourceLifecycle(live: true, policy: BackoffPolicy(initial: 1, maximum: 60, jitter: 0.2), seed: 3)
        var g = SeededGenerator(seed: 9)
        _ = m.start()
        var now = 0.0
        var delays: [Double] = []
        for _ in 0..<50 {
            _ = m.opened(at: now)
            m.delivered()
            now += Double.random(in: 6...15, using: &g)
            let actions = m.failed("stream ended", at: now)
            if case .sleep(let d)? = actions.last { delays.append(d); now += d }
            _ = m.backoffElapsed()
        }
        #expect(delays.count == 50)
        #expect(delays.allSatisfy { $0 >= 0.8 - 1e-9 && $0 <= 1.2 + 1e-9 }, "\(delays)")
        #expect(m.reconnects == 49)
    }

    @Test func theCapBoundsEveryDelay() {
        var m = SourceLifecycle(live: true, policy: BackoffPolicy(initial: 1, maximum: 5, jitter: 0.2), seed: 1)
        _ = m.start()
        for i in 0..<30 {
            guard case .sleep(let d)? = m.openFailed("refused", at: Double(i)).last else {
                Issue.record("no sleep")
                return
            }
            #expect(d > 0 && d <= 5, "attempt \(i): \(d)")
            _ = m.backoffElapsed()
        }
    }

    @Test func stopFromEveryState() {
        var live = SourceLifecycle(live: true, policy: noJitter, seed: 0)
        _ = live.start()
        _ = live.opened(at: 0)
        #expect(live.stop() == [.close, .finish])
        #expect(live.state == .finished)
        // After a stop, later events only finish.
        #expect(live.ended(at: 1) == [.close, .finish])

        var backingOff = SourceLifecycle(live: true, policy: noJitter, seed: 0)
        _ = backingOff.start()
        _ = backingOff.openFailed("x", at: 0)
        #expect(backingOff.stop() == [.finish])
        #expect(backingOff.backoffElapsed() == [.finish])

        var connecting = SourceLifecycle(live: true, policy: noJitter, seed: 0)
        _ = connecting.start()
        #expect(connecting.stop() == [.finish])
        #expect(connecting.opened(at: 0) == [.close, .finish])
    }

    @Test func jitteredDelaysDifferBySeed() {
        let policy = BackoffPolicy(initial: 1, maximum: 60, multiplier: 2, jitter: 0.2)
        func delays(seed: UInt64) -> [Double] {
            var m = SourceLifecycle(live: true, policy: policy, seed: seed)
            _ = m.start()
            return (0..<4).compactMap { i -> Double? in
                let a = m.openFailed("x", at: Double(i))
                _ = m.backoffElapsed()
                if case .sleep(let d) = a.last { return d }
                return nil
            }
        }
        let a = delays(seed: 1), b = delays(seed: 1), c = delays(seed: 2)
        #expect(a.count == 4)
        #expect(a == b)
        #expect(a != c)
        for (i, d) in a.enumerated() {
            let base = Double(1 << i)
            #expect(d >= base * 0.8 - 1e-9 && d <= base * 1.2 + 1e-9)
        }
    }
}
