import ConceptModel
import Foundation
import Testing
import ConceptTestSupport
import SeededRandom
import Autograd
import TensorKernels

/// The loss weights `concept-bench learn --losses` sets: each term can be switched off (the paper's Table 4).
@Suite struct LossSwitchTests {
    @Test func weightsScaleEachTermOfTheTotal() throws {
        var rng = SeededGenerator(seed: 9)
        var base = try reducedTinyConfig(frames: 2, side: 16, concepts: 4)
        base.queueLength = 0
        let frames = try randomFrames(2, base, &rng)
        let reference = try ConceptLearner(config: base, seed: 1).forward(frames: frames, staticIndex: [0, 1], useLocal: true).losses
        #expect(abs(reference.total - (reference.aln + reference.loc + reference.fid + 0.01 * reference.div)) < 1e-4 * abs(reference.total))
        for (w, alpha, beta, gamma) in [(0, 1, 1, 0.01), (1, 0, 1, 0.01), (1, 1, 0, 0.01), (1, 1, 1, 0), (0, 0, 0, 0)] as [(Scalar, Scalar, Scalar, Scalar)] {
            var c = base
            c.alnWeight = w; c.alpha = alpha; c.beta = beta; c.gamma = gamma
            let l = try ConceptLearner(config: c, seed: 1).forward(frames: frames, staticIndex: [0, 1], useLocal: true).losses
            // The terms themselves do not depend on the weights; the total is their weighted sum.
            #expect(l.aln == reference.aln && l.fid == reference.fid && l.div == reference.div && l.loc == reference.loc)
            let expected = w * l.aln + alpha * l.loc + beta * l.fid + gamma * l.div
            #expect(abs(l.total - expected) <= 1e-4 * Swift.max(1, abs(expected)), "weights \((w, alpha, beta, gamma)): total \(l.total), expected \(expected)")
        }
    }

    @Test func alnWeightIsInTheMetadataOnlyWhenSwitched() throws {
        let paper = try ModelConfig.preset("tiny")
        #expect(paper.metadata["aln_weight"] == nil, "the default must not change configuration hashes of existing snapshots")
        var off = paper
        off.alnWeight = 0
        #expect(off.metadata["aln_weight"] != nil)
        #expect(try ModelConfig(metadata: off.metadata) == off)
        off.alnWeight = -1
        #expect(throws: ModelError.self) { try off.validate() }
    }
}
