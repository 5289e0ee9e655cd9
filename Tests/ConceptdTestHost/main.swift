import Foundation
import Service

// conceptd-testhost --config FILE [--stall-after-steps N] [--snapshot-pause SECONDS]
//
// The real daemon (`DaemonMain.run`, what `conceptd run` calls) with test seams injected: a trainer that hangs at
// step N (watchdog tests), or a pause after every snapshot file so that a SIGKILL lands inside a snapshot write.
// Built with the tests; never installed.

func usage(_ message: String) -> Never {
    FileHandle.standardError.write(Data("conceptd-testhost: \(message)\nusage: conceptd-testhost --config FILE [--stall-after-steps N] [--snapshot-pause SECONDS]\n".utf8))
    exit(64)
}

var config: String?
var seams = DaemonSeams()
var args = CommandLine.arguments.dropFirst()
while let flag = args.popFirst() {
    guard let value = args.popFirst() else { usage("\(flag) needs a value") }
    switch flag {
    case "--config": config = value
    case "--stall-after-steps":
        guard let n = Int(value), n >= 0 else { usage("--stall-after-steps takes a step count, got '\(value)'") }
        seams.stallAfterSteps = n
    case "--snapshot-pause":
        guard let s = Double(value), s >= 0, s.isFinite else { usage("--snapshot-pause takes seconds, got '\(value)'") }
        seams.afterSnapshotFile = { _ in Thread.sleep(forTimeInterval: s) }
    default: usage("unknown option \(flag)")
    }
}
guard let config else { usage("--config is required") }
exit(await DaemonMain.run(configPath: config, seams: seams))
