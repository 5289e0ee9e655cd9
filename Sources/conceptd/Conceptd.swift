import ArgumentParser
import Foundation
import Logging
import Service
import TensorKernels

/// conceptd: learns static and dynamic visual concepts from live video.
@main
struct Conceptd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conceptd",
        abstract: "Learn static and dynamic visual concepts from live video.",
        discussion: "Run as a systemd service (systemd/conceptd.service) or in the foreground: conceptd --config FILE.",
        subcommands: [Run.self, CheckConfig.self, LogRecord.self, Launch.self],
        defaultSubcommand: Run.self)

    /// Restarts with OpenBLAS's vector kernels if it chose generic ones (``BLASCore``), then runs the command.
    static func main() async {
        BLASCore.restartWithVectorKernelsIfNeeded(program: "conceptd")
        await main(nil)
    }
}

/// Loads a configuration or exits with status 78 (EX_CONFIG) after printing every problem to `handle`.
func loadConfigOrExit(_ path: String, printingTo handle: FileHandle) throws -> DaemonConfig {
    guard let config = DaemonConfig.load(file: path, reportingTo: handle) else { throw ExitCode(ConfigError.exitStatus) }
    return config
}

/// The daemon.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the daemon (the default command).")

    @Option(name: .long, help: "The configuration file.")
    var config: String = "/etc/conceptd/conceptd.toml"

    func run() async throws {
        let status = await DaemonMain.run(configPath: config)
        if status != 0 { throw ExitCode(status) }
    }
}

/// `conceptd launch`: a data-parallel job through mpirun, stopped gracefully by SIGTERM.
struct Launch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "Run the configuration's [cluster] as an Open MPI job (mpirun ... conceptd run --config FILE).",
        discussion: """
            Starts mpirun with the hostfile and rank count given, then any mpirun options after --, then this conceptd \
            with `run --config FILE` on every rank. SIGTERM, SIGINT and SIGHUP become one SIGUSR2 for mpirun, which \
            forwards it: every rank finishes the step the job is in, rank 0 writes the final snapshot, and the \
            launcher exits with mpirun's status (0). Open MPI refuses root unless told: pass --allow-run-as-root after \
            -- or set OMPI_ALLOW_RUN_AS_ROOT=1 and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1.
            """)

    @Option(name: .long, help: "The cluster's configuration file (every rank reads the same path).")
    var config: String = "/etc/conceptd/cluster.toml"

    @Option(name: .long, help: "Open MPI's hostfile (one line per machine, e.g. `cam-node-1 slots=1`).")
    var hostfile: String?

    @Option(name: .customLong("np"), help: "Ranks to start (default: [cluster] ranks of the configuration).")
    var ranks: Int?

    @Option(name: .long, help: "The mpirun executable.")
    var mpirun: String = "/usr/bin/mpirun"

    @Argument(parsing: .postTerminator, help: "Further mpirun options (after --).")
    var options: [String] = []

    func run() throws {
        let cfg = try loadConfigOrExit(config, printingTo: .standardError)
        guard let cluster = cfg.cluster else {
            FileHandle.standardError.write(Data("\(config) has no [cluster] section: run it with `conceptd run`\n".utf8))
            throw ExitCode(ConfigError.exitStatus)
        }
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let command = ClusterLauncher.command(mpirun: mpirun, conceptd: me, config: config, hostfile: hostfile,
                                              ranks: ranks ?? cluster.ranks, options: options)
        do {
            let status = try ClusterLauncher.run(command)
            if status != 0 { throw ExitCode(status) }
        } catch let error as ClusterLauncher.LaunchError {
            FileHandle.standardError.write(Data("conceptd launch: \(error)\n".utf8))
            throw ExitCode(69)  // EX_UNAVAILABLE
        }
    }
}

/// `conceptd check-config FILE`.
struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check a configuration file and print every problem.",
        discussion: """
            Prints each problem as FILE:LINE: KEY.PATH: MESSAGE and exits with status 78 (EX_CONFIG) if there is \
            any; prints a summary and the compute it would use (threads, OpenBLAS kernels) and exits 0 when the file is valid. Credentials (password_credential, \
            token_credential) are read from $CREDENTIALS_DIRECTORY as the daemon would, and the state, snapshot and \
            watch-folder directories are checked for the user running the check (run it as the service's user).
            """)

    @Argument(help: "The configuration file.")
    var file: String

    @Flag(name: .long, help: "Also print the resolved configuration (secrets redacted).")
    var show = false

    func run() async throws {
        let cfg = try loadConfigOrExit(file, printingTo: .standardOutput)
        let text = (try? String(contentsOfFile: file, encoding: .utf8))
        let problems = cfg.directoryProblems(text: text)
        if !problems.isEmpty {
            for p in problems { print(p.formatted(file: file)) }
            throw ExitCode(ConfigError.exitStatus)
        }
        print("\(file): ok: \(cfg.summary)")
        print("compute: \(cfg.training.threads > 0 ? cfg.training.threads : ComputeThreads.defaultCount) threads, \(BLASCore.summary) (CPU vector level: \(BLASCore.VectorLevel.host))")
        if show { print(cfg.description) }
    }
}

/// `conceptd log MESSAGE`: one record through the daemon's logging, to check where logs go.
struct LogRecord: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Write one log record the way the daemon logs (journal or text), to check the logging setup.")

    @Option(name: .long, help: "Take [logging] from this configuration file.")
    var config: String?

    @Option(name: .long, help: "Override the format: auto, journal or text.")
    var format: LogFormat?

    @Option(name: .long, help: "The record's level: trace, debug, info, notice, warning, error, critical.")
    var level: LogLevel = .info

    @Option(name: .customLong("field"), help: "A metadata field NAME=VALUE (repeatable).")
    var fields: [String] = []

    @Argument(help: "The message.")
    var message: String

    func validate() throws {
        for f in fields where !f.contains("=") { throw ValidationError("--field takes NAME=VALUE, got '\(f)'") }
    }

    func run() async throws {
        var settings = LoggingSettings()
        if let config { settings = try loadConfigOrExit(config, printingTo: .standardError).logging }
        if let format { settings.format = format }
        let recordLevel = level
        if recordLevel.swiftLogLevel < settings.level.swiftLogLevel { settings.level = recordLevel }
        LogDestination.bootstrap(settings, environment: ProcessInfo.processInfo.environment)
        var metadata: Logger.Metadata = [:]
        for f in fields {
            let kv = f.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            metadata[String(kv[0])] = .string(String(kv[1]))
        }
        Logger(label: "conceptd").log(level: recordLevel.swiftLogLevel, "\(message)", metadata: metadata)
    }
}

extension LogFormat: ExpressibleByArgument {}
extension LogLevel: ExpressibleByArgument {}
