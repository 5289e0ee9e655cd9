import CFFmpeg
import Logging
import Testing
@testable import Media
import LibAV

/// The parts of libav's log routing that hold no libav state: the per-source rate limit, the level mapping and the
/// masking of credentials (issue #14, fault 6). The routing itself is checked end to end on the daemon
/// (ServiceTests: HardeningProcessTests).
@Suite struct LibavLogTests {
    @Test func theRateLimitLetsTenLinesPerSourceThroughEachWindowAndReportsTheRest() {
        var limiter = LogRateLimiter(limit: LibavLogLimit(lines: 10, seconds: 10))
        var admitted = 0
        for i in 0..<100 {
            let d = limiter.admit("cam1", now: Double(i) * 0.01)
            if d.admit { admitted += 1 }
            #expect(d.suppressedBefore == 0)
        }
        #expect(admitted == 10)
        // Another source has its own budget.
        #expect(limiter.admit("cam2", now: 0.5).admit)
        // The next window: the first line goes through and carries the count held back.
        let next = limiter.admit("cam1", now: 10.5)
        #expect(next.admit && next.suppressedBefore == 90)
        #expect(limiter.admit("cam1", now: 10.6).suppressedBefore == 0)
        // A quiet source: no report, nothing held back.
        #expect(limiter.admit("cam2", now: 30).suppressedBefore == 0)
    }

    @Test func aSteadyTrickleBelowTheLimitIsNeverHeldBack() {
        var limiter = LogRateLimiter(limit: LibavLogLimit(lines: 10, seconds: 10))
        for i in 0..<200 {
            #expect(limiter.admit("cam", now: Double(i) * 1.01).admit, "line \(i)")
        }
    }

    @Test(arguments: [
        (AV_LOG_PANIC, Logger.Level.critical), (AV_LOG_FATAL, .critical), (AV_LOG_ERROR, .error), (AV_LOG_WARNING, .warning),
        (AV_LOG_INFO, .info), (AV_LOG_VERBOSE, .debug), (AV_LOG_DEBUG, .trace), (AV_LOG_TRACE, .trace),
    ])
    func levelsMap(libav: Int32, level: Logger.Level) {
        #expect(MediaLibrary.swiftLogLevel(ofLibavLevel: libav) == level)
    }

    @Test(arguments: [
        ("Opening 'rtsp://viewer:s3cret@192.0.2.1:554/live' for reading", "Opening 'rtsp://viewer:***@192.0.2.1:554/live' for reading"),
        ("http://u:p%40ss@host/x and tcp://h:1 and rtsp://a:b@c", "http://u:***@host/x and tcp://h:1 and rtsp://a:***@c"),
        ("no url here", "no url here"),
        ("rtsp://user@host/only-a-user", "rtsp://user@host/only-a-user"),
        ("method DESCRIBE failed: 401 Unauthorized", "method DESCRIBE failed: 401 Unauthorized"),
    ])
    func credentialsInURLsAreMasked(text: String, masked: String) {
        #expect(LogRedaction.maskingURLCredentials(text) == masked)
    }
}
