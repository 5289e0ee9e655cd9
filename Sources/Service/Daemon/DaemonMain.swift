import Collective
import Foundation
import Logging
import LibAV
import OpenMPI
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
        var logger = Logger(label: "conceptd")
        // Started by mpirun: one rank of a data-parallel job (Open MPI's world); otherwise a world of one.
        let communicator: any Communicator
        let mpi = MPICommunicator.launchedByMPI(environment: environment)
        if mpi {
            do { communicator = try MPICommunicator.world() } catch {
                logger.critical("cannot join the MPI job: \(error)")
                return DaemonError.protocolStatus
            }
            logger[metadataKey: "rank"] = "\(communicator.rank)"
        } else {
            communicator = SingleProcess()
        }
        // libav's own lines (decode errors, RTSP replies) as records with the source's name, rate-limited.
        MediaLibrary.routeLibavLogs(to: Logger(label: "conceptd.libav"), level: cfg.logging.level.libavLevel)
        logger.info("configuration loaded: \(cfg.summary)", metadata: ["config": "\(configPath)"])
        ComputeThreads.configure(cfg.training.threads)
        logger.info("compute: \(ComputeThreads.count) threads, \(BLASCore.summary)")
        let daemon: Daemon
        do {
            daemon = try Daemon(config: cfg, configPath: configPath, logger: logger, environment: environment,
                                communicator: communicator, seams: seams)
        } catch let error as DaemonError {
            logger.critical("cannot start: \(error)")
            return error.exitStatus
        } catch {
            logger.critical("cannot start: \(error)")
            return 1
        }
        do {
            try await daemon.run()
            // Every rank stopped at the same step (the loop decides together): MPI ends cleanly.
            if mpi { MPICommunicator.finalize() }
            return 0
        } catch let error as DaemonError {
            // A job that is out of step ends without MPI_Finalize: mpirun then stops every other rank.
            if mpi, error.code != .cluster { MPICommunicator.finalize() }
            return error.exitStatus
        } catch {
            logger.critical("stopped on an error: \(error)")
            return 1
        }
    }
}
