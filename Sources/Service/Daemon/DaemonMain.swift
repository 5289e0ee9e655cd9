import Foundation
import Logging
import LibAV
import TensorKernels

extension DaemonConfig {
    /// Loads `file`, or writes every problem (FILE:LINE: key.path: message, a line each) to `handle` and returns nil.
    public static func load(file: String, reportingTo handle: FileHandle) -> DaemonConfig? {
        do {
            return try load(file: file)
        } catch {
            handle.write(Data(error.lines.map { $0 + "\n" }.joined().utf8))
            return nil
        }
    }
}

/// `conceptd run`'s whole life as one call, shared by the `conceptd` executable and the test host.
public enum DaemonMain {
    /// Loads `configPath` (every problem to standard error and 78, EX_CONFIG, when it is invalid), sets up logging,
    /// libav's log routing and the compute threads, starts the daemon and runs it until SIGTERM/SIGINT. Returns the
    /// process's exit status: 0 after a clean stop, ``DaemonError``'s status when it cannot start or its final
    /// snapshot fails, 1 for any other start failure.
    public static func run(configPath: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                           seams: DaemonSeams = DaemonSeams()) async -> Int32 {
        guard let cfg = DaemonConfig.load(file: configPath, reportingTo: .standardError) else { return ConfigError.exitStatus }
        LogDestination.bootstrap(cfg.logging, environment: environment)
        let logger = Logger(label: "conceptd")
        // libav's own lines (decode errors, RTSP replies) as records with the source's name, rate-limited.
        MediaLibrary.routeLibavLogs(to: Logger(label: "conceptd.libav"), level: cfg.logging.level.libavLevel)
        logger.info("configuration loaded: \(cfg.summary)", metadata: ["config": "\(configPath)"])
        ComputeThreads.configure(cfg.training.threads)
        let daemon: Daemon
        do {
            daemon = try Daemon(config: cfg, configPath: configPath, logger: logger, environment: environment, seams: seams)
        } catch let error as DaemonError {
            logger.critical("cannot start: \(error)")
            return error.exitStatus
        } catch {
            logger.critical("cannot start: \(error)")
            return 1
        }
        do {
            try await daemon.run()
            return 0
        } catch let error as DaemonError {
            return error.exitStatus
        } catch {
            logger.critical("stopped on an error: \(error)")
            return 1
        }
    }
}
