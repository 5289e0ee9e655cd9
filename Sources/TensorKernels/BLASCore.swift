import CBLAS
import Foundation

/// Which OpenBLAS kernels run, and the fix for CPUs that OpenBLAS does not recognise.
///
/// OpenBLAS picks its kernels once, when it loads, from the CPU's model number. A model newer than the library (an
/// Intel Xeon of family 6, model 207, under Debian's OpenBLAS 0.3.21) gets the generic `Prescott` kernels, which use
/// neither AVX2 nor AVX-512: a training step then takes three times as long. The choice cannot change after loading,
/// so ``restartWithVectorKernelsIfNeeded(program:)`` re-executes the process with `OPENBLAS_CORETYPE` set.
public enum BLASCore {
    /// The core type OpenBLAS is running (e.g. "Haswell", "SkylakeX", "Prescott").
    public static var current: String { String(cString: openblas_get_corename()) }

    /// The vector instructions the CPU and OS support (CPUID and XGETBV).
    public enum VectorLevel: Int, Sendable, CustomStringConvertible {
        case none = 0, avx2 = 1, avx512 = 2
        public var description: String {
            switch self {
            case .none: "none"
            case .avx2: "AVX2"
            case .avx512: "AVX-512"
            }
        }
        /// This machine's.
        public static var host: VectorLevel { VectorLevel(rawValue: Int(conceptd_cpu_vector_level())) ?? .none }
    }

    /// OpenBLAS core types whose kernels use AVX2 or AVX-512 (lowercased).
    public static let vectorCores: Set<String> = ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids", "excavator"]

    /// The `OPENBLAS_CORETYPE` to restart with: `SkylakeX` (AVX-512) or `Haswell` (AVX2) when OpenBLAS chose a core
    /// without vector kernels on a CPU that has them and the environment does not already name a core; nil otherwise
    /// (a set `OPENBLAS_CORETYPE`, even one naming a generic core, is the user's choice and is kept).
    public static func replacement(chosen: String, level: VectorLevel, environment: [String: String]) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil, !vectorCores.contains(chosen.lowercased()) else { return nil }
        switch level {
        case .avx512: return "SkylakeX"
        case .avx2: return "Haswell"
        case .none: return nil
        }
    }

    /// The variable a restart leaves for the new process: the core OpenBLAS had chosen.
    public static let restartedFromVariable = "CONCEPT_BLAS_RESTARTED_FROM"

    /// What runs, for logs and reports: "OpenBLAS SkylakeX kernels", and after a restart why.
    public static var summary: String {
        let core = current
        guard let from = ProcessInfo.processInfo.environment[restartedFromVariable] else { return "OpenBLAS \(core) kernels" }
        return "OpenBLAS \(core) kernels (OpenBLAS chose \(from) for this CPU model, without its \(VectorLevel.host); "
            + "restarted with OPENBLAS_CORETYPE=\(core))"
    }

    /// Re-executes this process (same PID, arguments and environment, plus `OPENBLAS_CORETYPE` and
    /// ``restartedFromVariable``) when ``replacement(chosen:level:environment:)`` names a core; call it first thing in
    /// `main`, before any other work. ``summary`` then says what happened. Returns when nothing needs doing, or when
    /// the exec fails (after one line on standard error): the process then goes on with the kernels it has.
    public static func restartWithVectorKernelsIfNeeded(program: String) {
        let chosen = current
        guard let core = replacement(chosen: chosen, level: .host, environment: ProcessInfo.processInfo.environment) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(restartedFromVariable, chosen, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        let reason = String(cString: strerror(errno))
        unsetenv("OPENBLAS_CORETYPE")
        unsetenv(restartedFromVariable)
        FileHandle.standardError.write(Data("""
            \(program): OpenBLAS chose its generic \(chosen) kernels on a CPU with \(VectorLevel.host), and restarting with \
            OPENBLAS_CORETYPE=\(core) failed (\(reason)): going on with them (set OPENBLAS_CORETYPE to choose)\n
            """.utf8))
    }
}
