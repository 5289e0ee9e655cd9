import Foundation
import Glibc

/// `conceptd launch`: starts a data-parallel job with Open MPI's `mpirun` and stands in for it towards systemd or a
/// shell. mpirun itself cannot pass SIGTERM on (it ends the job, and exits 1 even when every rank stopped cleanly),
/// but it forwards SIGUSR2, on which every rank finishes the step the job is in, rank 0 writes the final snapshot and
/// all exit 0. The launcher turns SIGTERM, SIGINT and SIGHUP into one SIGUSR2 for mpirun and exits with mpirun's
/// status, so `kill -TERM` (or `systemctl stop`) stops the whole job gracefully with status 0.
public enum ClusterLauncher {
    /// The launcher's failures before mpirun runs.
    public struct LaunchError: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    /// The command line: `mpirun --stdin none [--hostfile H] [-np N] [options...] conceptd run --config C` (no rank
    /// reads standard input: mpirun runs in its own process group, which must not read a terminal).
    public static func command(mpirun: String, conceptd: String, config: String, hostfile: String?, ranks: Int?,
                               options: [String]) -> [String] {
        var args = [mpirun, "--stdin", "none"]
        if let hostfile { args += ["--hostfile", hostfile] }
        if let ranks { args += ["-np", String(ranks)] }
        return args + options + [conceptd, "run", "--config", config]
    }

    /// Runs `command` (mpirun first) with a clean signal mask and default dispositions, forwards SIGTERM, SIGINT and
    /// SIGHUP as SIGUSR2, and returns its exit status (128 + signal if it was killed).
    public static func run(_ command: [String]) throws -> Int32 {
        guard let first = command.first, FileManager.default.isExecutableFile(atPath: first) else {
            throw LaunchError(message: "\(command.first ?? "mpirun") is not an executable: `make deps` installs openmpi-bin")
        }
        // The signals arrive through dispatch sources, not their default action (which would kill the launcher).
        let forwarded = [SIGTERM, SIGINT, SIGHUP]
        for s in forwarded { signal(s, SIG_IGN) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), defaults = sigset_t()
        sigemptyset(&empty)
        sigemptyset(&defaults)
        for s in forwarded + [SIGUSR2] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        // Its own process group: Ctrl-C in a terminal reaches the launcher alone (mpirun would end the job on it), and
        // the launcher stops the job gracefully.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        var argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, first, nil, &attributes, &argv, environ)
        guard rc == 0 else { throw LaunchError(message: "cannot start \(first): \(String(cString: strerror(rc)))") }
        let child = pid
        let sources = forwarded.map { s -> DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
            source.setEventHandler {
                FileHandle.standardError.write(Data("conceptd launch: signal \(s): asking every rank to stop after its step (SIGUSR2 to mpirun)\n".utf8))
                kill(child, SIGUSR2)
            }
            source.resume()
            return source
        }
        defer { for s in sources { s.cancel() } }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }
}
