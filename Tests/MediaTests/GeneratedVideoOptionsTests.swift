import Testing
import SyntheticVideo
import SyntheticVideoCLI

/// The generated-video options shared by `conceptctl make-dataset`, `conceptctl feed` and `concept-bench learn`.
@Suite struct GeneratedVideoOptionsTests {
    @Test func defaultsAndOverrides() throws {
        let plain = try GeneratedVideoOptions.parse([])
        #expect(plain.backgrounds == 6 && plain.motions == 6 && plain.fps == 16)
        #expect(try plain.camera.resolved() == .none)
        #expect(try plain.camera.resolved(default: "camera") == SyntheticNuisance(named: "camera"))

        let set = try GeneratedVideoOptions.parse(["--backgrounds", "2", "--motions", "3", "--fps", "25",
                                                   "--nuisances", "camera", "--noise", "0.05"])
        #expect(set.backgroundClasses == Array(SyntheticBackground.allCases.prefix(2)))
        #expect(set.motionClasses == Array(SyntheticMotion.allCases.prefix(3)) && set.fps == 25)
        var expected = try SyntheticNuisance(named: "camera")
        expected.noise = 0.05
        #expect(try set.camera.resolved(default: "none") == expected, "an explicit --nuisances beats the command's default")
    }

    @Test(arguments: [
        ["--backgrounds", "0"], ["--backgrounds", "99"], ["--motions", "99"], ["--fps", "0"], ["--fps", "nan"],
        ["--nuisances", "fog"], ["--nuisances", "camera", "--noise", "-1"], ["--flicker", "5"],
    ])
    func badValuesAreRejected(_ arguments: [String]) {
        #expect(throws: (any Error).self, "\(arguments)") { _ = try GeneratedVideoOptions.parse(arguments) }
    }
}
