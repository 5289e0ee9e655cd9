import Foundation
import Testing
@testable import Media
import LibAV
import SyntheticVideo
import SeededRandom

/// Camera nuisances of the generator: flicker is an affine change of each frame, noise has its σ, the sway is slow
/// and bounded, the scene under them is the clean one, and bad strengths are clear errors.
@Suite struct SyntheticNuisanceTests {
    static func clip(_ motion: SyntheticMotion = .still, _ nuisance: SyntheticNuisance, frames: Int = 12) throws -> SyntheticClip {
        try SyntheticClip(background: .checkerboard, motion: motion, width: 48, height: 48, frames: frames, seed: 77,
                          nuisance: nuisance)
    }

    /// Least-squares fit `b ≈ g a + o` over the pixels of one frame: gain, offset and the RMS residual (0...255 units).
    static func affineFit(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> (gain: Double, offset: Double, residual: Double) {
        let x = a.map(Double.init), y = b.map(Double.init), n = Double(x.count)
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0
        for i in x.indices { sxy += (x[i] - mx) * (y[i] - my); sxx += (x[i] - mx) * (x[i] - mx) }
        let g = sxy / sxx, o = my - g * mx
        var r = 0.0
        for i in x.indices { let e = y[i] - (g * x[i] + o); r += e * e }
        return (g, o, (r / n).squareRoot())
    }

    @Test func noneRendersTheCleanScene() throws {
        let clean = try SyntheticClip(background: .checkerboard, motion: .circle, width: 48, height: 48, frames: 6, seed: 77)
        #expect(try Self.clip(.circle, .none, frames: 6).render().pixels == clean.render().pixels)
        #expect(SyntheticNuisance.none.isNone && !SyntheticNuisance.camera.isNone)
    }

    @Test func flickerIsAnAffineChangePerFrameWithinItsBounds() throws {
        let clean = try Self.clip(.still, .none).render()
        let flicker = try Self.clip(.still, SyntheticNuisance(flicker: 0.06, offset: 0.03)).render()
        var gains: [Double] = []
        for f in 0..<clean.frameCount {
            let fit = Self.affineFit(clean.frame(f), flicker.frame(f))
            // Rounding to bytes (and clamping, which this mid-grey scene never reaches) is all that is not affine.
            #expect(fit.residual < 0.6, "frame \(f): residual \(fit.residual)")
            #expect(abs(fit.gain - 1) <= 0.06 + 0.01, "frame \(f): gain \(fit.gain)")
            #expect(abs(fit.offset) <= 0.03 * 255 + 2, "frame \(f): offset \(fit.offset)")
            gains.append(fit.gain)
        }
        #expect(Set(gains.map { ($0 * 1000).rounded() }).count > clean.frameCount / 2, "the gain changes from frame to frame")
    }

    @Test func noiseHasItsStandardDeviation() throws {
        let clean = try Self.clip(.still, .none).render()
        let noisy = try Self.clip(.still, SyntheticNuisance(noise: 0.02)).render()
        var sum = 0.0, squares = 0.0
        for (a, b) in zip(clean.pixels, noisy.pixels) { let e = Double(b) - Double(a); sum += e; squares += e * e }
        let n = Double(clean.pixels.count)
        let sigma = (squares / n - (sum / n) * (sum / n)).squareRoot() / 255
        #expect(abs(sigma - 0.02) < 0.002, "measured σ \(sigma)")
        #expect(abs(sum / n) < 0.2, "noise has zero mean")
    }

    @Test func swayIsSlowAndBounded() throws {
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<50 {
            let sway = SyntheticNuisance.Sway(shake: 2, rng: &rng)
            var previous = sway.offset(frame: 0)
            for f in 0..<200 {
                let o = sway.offset(frame: f)
                #expect(abs(o.dx) <= 2 && abs(o.dy) <= 2)
                #expect(abs(o.dx - previous.dx) <= 0.25 * 2 + 1e-9 && abs(o.dy - previous.dy) <= 0.25 * 2 + 1e-9)
                previous = o
            }
        }
    }

    @Test func shakeMovesTheWholeFrameAndKeepsTheScene() throws {
        let clean = try Self.clip(.still, .none, frames: 32).render()
        let shaken = try Self.clip(.still, SyntheticNuisance(shake: 1), frames: 32).render()
        var moved = 0
        for f in 0..<clean.frameCount {
            let a = clean.frame(f), b = shaken.frame(f)
            let mad = zip(a, b).map { abs(Double($0) - Double($1)) }.reduce(0, +) / Double(a.count)
            if mad > 1 { moved += 1 }
            // Sub-pixel to one-pixel shifts of the same scene: mean absolute difference well under the
            // checkerboard's contrast.
            #expect(mad < 40, "frame \(f): mean absolute difference \(mad)")
        }
        #expect(moved > clean.frameCount / 2, "the sway moves most frames (\(moved) of \(clean.frameCount))")
    }

    @Test func labelsAndSceneDoNotDependOnTheNuisances() throws {
        let items = try SyntheticDataset.plan(backgrounds: 3, motions: 3, clipsPerPair: 2, size: .init(width: 32, height: 32),
                                              frames: 4, seed: 9)
        let noisy = try SyntheticDataset.plan(backgrounds: 3, motions: 3, clipsPerPair: 2, size: .init(width: 32, height: 32),
                                              frames: 4, seed: 9, nuisance: .camera)
        #expect(items.map(\.entry) == noisy.map(\.entry))
        #expect(items.map(\.clip.seed) == noisy.map(\.clip.seed))
        #expect(noisy.allSatisfy { $0.clip.nuisance == .camera })
    }

    @Test func outOfRangeStrengthsAreClearErrors() throws {
        for (bad, field) in [(SyntheticNuisance(flicker: -0.1), "flicker"), (SyntheticNuisance(offset: .nan), "offset"),
                             (SyntheticNuisance(noise: 2), "noise"), (SyntheticNuisance(shake: 1e300), "shake")] {
            let error = #expect(throws: MediaError.self) { try Self.clip(.still, bad) }
            #expect(error?.message.contains(field) == true, "\(error?.message ?? "")")
        }
        #expect(throws: MediaError.self) { try SyntheticNuisance(named: "fog") }
        #expect(try SyntheticNuisance(named: "camera") == .camera)
    }

    @Test func aClipWrittenBeforeNuisancesDecodesWithNone() throws {
        let json = #"{"background":2,"motion":0,"width":32,"height":32,"frames":4,"seed":5}"#
        let clip = try JSONDecoder().decode(SyntheticClip.self, from: Data(json.utf8))
        #expect(clip.nuisance == .none)
        let roundTrip = try JSONDecoder().decode(SyntheticClip.self, from: JSONEncoder().encode(try Self.clip(.circle, .camera)))
        #expect(roundTrip.nuisance == .camera)
    }
}
