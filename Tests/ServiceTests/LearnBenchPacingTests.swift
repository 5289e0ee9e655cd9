import Foundation
import Testing
import ConceptTestSupport

/// `concept-bench learn --steps` (the built binary) is paced by steps: the stream's rounds enter the replay buffer at
/// fixed steps, so two runs with one seed train on the same batches and end with the same weights, however loaded the
/// machine is (the suite runs other tests beside these).
@Suite("concept-bench learn paced by steps")
struct LearnBenchPacingTests {
    /// A small run: 2 x 2 generated classes, 16-frame videos, batch 4, a round every 3 steps, no real videos.
    static func learn(_ extra: [String], work: TempDir) throws -> (status: Int32, out: String) {
        let args = ["learn", "--steps", "12", "--round-steps", "3", "--batch", "4", "--backgrounds", "2", "--motions", "2",
                    "--probe-clips-per-pair", "4", "--clips-per-pair", "1", "--frames", "16", "--videos", "",
                    "--threads", "2", "--work", work.path + "/run-\(UUID().uuidString.prefix(8))"] + extra
        let r = try runProcess(try BenchCommandTests.bench(), args, environment: ["PATH": "/usr/bin:/bin"])
        return (r.status, r.stdout + r.stderr)
    }

    static func field(_ out: String, _ prefix: String) -> String? {
        out.split(separator: "\n").first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    @Test("two runs with one seed end with the same weights and probes; another seed does not")
    func repeatable() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let a = try Self.learn(["--probe-every-steps", "6"], work: dir), b = try Self.learn(["--probe-every-steps", "6"], work: dir)
        let c = try Self.learn(["--probe-every-steps", "6", "--seed", "2"], work: dir)
        for r in [a, b, c] { #expect(r.status == 0, "\(r.out)") }
        let wa = Self.field(a.out, "final weights: sha256 "), wb = Self.field(b.out, "final weights: sha256 ")
        let wc = Self.field(c.out, "final weights: sha256 ")
        #expect(wa != nil && wa?.count == 64, "\(a.out)")
        #expect(wa == wb, "same seed, same steps: the weights differ\n\(a.out)\n\(b.out)")
        #expect(wa != wc, "another seed gave the same weights")
        // The probe at step 6 and the final probes agree too.
        let probe = { (o: String) in o.split(separator: "\n").first { $0.contains("probe at step 6:") }.map { $0.replacingOccurrences(of: #"\[[0-9.]+ s\]"#, with: "", options: .regularExpression) } }
        #expect(probe(a.out) != nil && probe(a.out) == probe(b.out), "\(a.out)\n\(b.out)")
        let headline = { (o: String) in Self.field(o, "RESULT learn ")?.replacingOccurrences(of: #"minutes=[0-9.]+ "#, with: "", options: .regularExpression) }
        #expect(headline(a.out) != nil && headline(a.out) == headline(b.out), "\(a.out)\n\(b.out)")
        // Four rounds written (the fourth asked for after the release at step 9), three of them in the buffer.
        #expect(a.out.contains("stream: 4 initial generated videos + 16 fresh ones (4 rounds, one every so many steps); 16 clips seen"), "\(a.out)")
    }

    @Test("a buffer that can never fill a batch is a clear error, not a hang")
    func starved() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let r = try Self.learn(["--round-steps", "0", "--batch", "8"], work: dir)
        #expect(r.status != 0)
        #expect(r.out.contains("Error: the replay buffer holds 4 clips, fewer than a batch of 8, and the stream brings no more"), "\(r.out)")
    }

    @Test("a short initial buffer takes the next rounds early, the same way every time")
    func early() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let a = try Self.learn(["--batch", "8", "--steps", "4"], work: dir), b = try Self.learn(["--batch", "8", "--steps", "4"], work: dir)
        #expect(a.status == 0 && b.status == 0, "\(a.out)\n\(b.out)")
        #expect(Self.field(a.out, "final weights: sha256 ") == Self.field(b.out, "final weights: sha256 "))
        #expect(Self.field(a.out, "final weights: sha256 ") != nil, "\(a.out)")
    }

    @Test("--save-weights writes the final weights; --init-weights starts from them, and refuses weights that do not fit")
    func saveAndStartFromWeights() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let saved = dir.path + "/a.safetensors"
        let a = try Self.learn(["--save-weights", saved], work: dir)
        #expect(a.status == 0, "\(a.out)")
        #expect(FileManager.default.fileExists(atPath: saved), "no weights written\n\(a.out)")
        let hash = try #require(Self.field(a.out, "final weights: sha256 "), "\(a.out)")
        let sum = try runProcess("/usr/bin/sha256sum", [saved])
        #expect(sum.stdout.hasPrefix(hash + " "), "the file is not the final weights: \(sum.stdout)")

        // Starting from them: the run says so, and its training changes them further.
        let b = try Self.learn(["--init-weights", saved, "--steps", "3"], work: dir)
        #expect(b.status == 0, "\(b.out)")
        #expect(b.out.contains("starting from \(saved) (weights sha256 \(hash.prefix(16)))"), "\(b.out)")
        let c = try Self.learn(["--steps", "3"], work: dir)
        #expect(Self.field(b.out, "final weights: sha256 ") != Self.field(c.out, "final weights: sha256 "), "the starting weights made no difference")

        // Weights of another model (split heads have other tensors), a missing file and a file that is not
        // safetensors are errors before the probe set is made.
        for (weights, extra, message) in [(saved, ["--set", "v_heads=split"], "does not fit the model"),
                                          (dir.path + "/missing.safetensors", [], "--init-weights " + dir.path + "/missing.safetensors"),
                                          (dir.path + "/a.safetensors.txt", [], "--init-weights " + dir.path + "/a.safetensors.txt")] {
            FileManager.default.createFile(atPath: dir.path + "/a.safetensors.txt", contents: Data("not weights".utf8))
            let r = try Self.learn(["--init-weights", weights] + extra, work: dir)
            #expect(r.status != 0 && r.out.contains(message) && !r.out.contains("probe set:"), "\(r.out)")
        }
    }

    @Test("a run of --steps refuses --probe-every in minutes, and a run of --minutes the step pacing options",
          arguments: [(["--steps", "5", "--probe-every", "2"], "use --probe-every-steps"),
                      (["--minutes", "1", "--round-steps", "5"], "pace a run of --steps"),
                      (["--probe-every-steps", "5"], "pace a run of --steps"),
                      (["--steps", "5", "--round-steps=-1"], "must be >= 0")])
    func mixedPacing(args: [String], message: String) throws {
        let r = try runProcess(try BenchCommandTests.bench(), ["learn"] + args, environment: ["PATH": "/usr/bin:/bin"])
        #expect(r.status != 0 && r.stderr.contains(message), "\(r.stderr)")
    }
}
