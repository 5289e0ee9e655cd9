import Foundation
import Testing
import TensorKernels

/// The choice of OpenBLAS kernels (``BLASCore``): when a restart is asked for, and the CPU check against the kernel's
/// own view of the CPU.
@Suite struct BLASCoreTests {
    @Test func aGenericCoreOnAVectorCPUIsReplacedUnlessTheUserChose() {
        let unset: [String: String] = ["PATH": "/usr/bin"]
        #expect(BLASCore.replacement(chosen: "Prescott", level: .avx512, environment: unset) == "SkylakeX")
        #expect(BLASCore.replacement(chosen: "Prescott", level: .avx2, environment: unset) == "Haswell")
        #expect(BLASCore.replacement(chosen: "Nehalem", level: .avx2, environment: unset) == "Haswell")
        #expect(BLASCore.replacement(chosen: "Sandybridge", level: .avx512, environment: unset) == "SkylakeX")
        // No vector instructions: the generic kernels are right.
        #expect(BLASCore.replacement(chosen: "Prescott", level: .none, environment: unset) == nil)
        // OpenBLAS already runs vector kernels (any spelling).
        for core in ["Haswell", "SKYLAKEX", "Zen", "Cooperlake", "SapphireRapids", "Excavator"] {
            #expect(BLASCore.replacement(chosen: core, level: .avx512, environment: unset) == nil, "\(core)")
        }
        // A set OPENBLAS_CORETYPE is the user's choice, even a generic one or an empty one.
        #expect(BLASCore.replacement(chosen: "Prescott", level: .avx512, environment: ["OPENBLAS_CORETYPE": "Prescott"]) == nil)
        #expect(BLASCore.replacement(chosen: "Prescott", level: .avx512, environment: ["OPENBLAS_CORETYPE": ""]) == nil)
    }

    /// CPUID and XGETBV agree with the flags Linux reports (which also account for what the kernel enabled).
    @Test func theVectorLevelMatchesTheKernelsFlags() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let line = try #require(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") })
        let flags = Set(line.split(separator: ":", maxSplits: 1).last!.split(separator: " ").map(String.init))
        let avx512 = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains)
        let avx2 = ["avx", "avx2", "fma"].allSatisfy(flags.contains)
        let expected: BLASCore.VectorLevel = avx2 && avx512 ? .avx512 : avx2 ? .avx2 : .none
        #expect(BLASCore.VectorLevel.host == expected, "flags say \(expected)")
    }
}
