import Foundation
import Testing
@testable import ConceptModel
import Autograd
import SafeTensors
import SeededRandom

/// Weights in and out: torchvision's names, round trips, and clear errors that leave the model untouched.
@Suite struct WeightsTests {
    static func smallConfig() throws -> ModelConfig {
        var c = try ModelConfig.preset("tiny")
        c.widths = [4, 8, 8, 12]; c.stem = 5; c.ks = 6; c.kd = 5; c.topK = 2
        c.frames = 2; c.height = 16; c.width = 16; c.queueLength = 4; c.sigma = .mlp
        return c
    }

    @Test func paperEncoderHasTorchvisionsR2Plus1D18Layout() throws {
        let url = try #require(Bundle.module.url(forResource: "fixtures/r2plus1d_18.keys", withExtension: "tsv"))
        var expected: [String: [Int]] = [:]
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false)
            let shape = parts.count > 1 && !parts[1].isEmpty ? parts[1].split(separator: ",").map { Int($0)! } : []
            if !parts[0].hasPrefix("fc.") { expected[String(parts[0])] = shape }
        }
        #expect(expected.count == 222)
        let model = try ConceptModel(config: ModelConfig.preset("paper"))
        let state = try model.stateDict()
        var ours: [String: [Int]] = [:]
        for name in state.names where name.hasPrefix("encoder.") { ours[String(name.dropFirst(8))] = try state.shape(name) }
        #expect(Set(ours.keys) == Set(expected.keys), "missing: \(Set(expected.keys).subtracting(ours.keys).sorted().prefix(5)), extra: \(Set(ours.keys).subtracting(expected.keys).sorted().prefix(5))")
        for (k, shape) in expected { #expect(ours[k] == shape, "\(k): ours \(ours[k] ?? []), torchvision \(shape)") }
    }

    @Test func torchvisionStateDictLoadsIntoTheEncoder() throws {
        // A file in torchvision's naming (no `encoder.` prefix, with the classifier `fc.*` that we ignore).
        let source = try ConceptModel(config: Self.smallConfig(), seed: 1)
        var tv = SafeTensorsFile()
        let state = try source.stateDict()
        for name in state.names where name.hasPrefix("encoder.") { try tv.set(String(name.dropFirst(8)), entry: state[name]!) }
        try tv.set("fc.weight", floats: [Float](repeating: 0.5, count: 10 * 12), shape: [10, 12])
        try tv.set("fc.bias", floats: [Float](repeating: 0, count: 10), shape: [10])
        let target = try ConceptModel(config: Self.smallConfig(), seed: 2)
        try target.loadTorchvisionEncoder(from: SafeTensorsFile(bytes: tv.serialized()))
        let a = Dictionary(uniqueKeysWithValues: source.namedParameters() + source.namedBuffers())
        for (name, t) in target.namedParameters() + target.namedBuffers() {
            if name.hasPrefix("encoder.") { #expect(t.values == a[name]!.values, "\(name) not loaded") }
            else if !name.contains(".1.") {   // heads (batch norms start at 1/0 in both models)
                #expect(t.values != a[name]!.values, "\(name) must keep its own initialisation")
            }
        }
    }

    @Test func exportedWeightsRoundTripThroughAFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("conceptd-weights-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let learner = try ConceptLearner(config: Self.smallConfig(), seed: 3)
        var rng = SeededGenerator(seed: 9)
        let frames = Tensor.normal([3, 3, 3, 16, 16], using: &rng)
        _ = try learner.step(frames: frames, staticIndex: [0, 1, 0], useLocal: true)   // moves weights and BN buffers
        let url = dir.appendingPathComponent("model.safetensors")
        try learner.model.stateDict().write(to: url)
        let restored = try ConceptModel(config: Self.smallConfig(), seed: 4)
        try restored.load(from: SafeTensorsFile(contentsOf: url))
        let a = learner.model.namedParameters() + learner.model.namedBuffers(), b = restored.namedParameters() + restored.namedBuffers()
        for (x, y) in zip(a, b) { #expect(x.0 == y.0 && x.1.values == y.1.values, "\(x.0)") }
        #expect(restored.namedBatchNorms().allSatisfy { $0.1.numBatchesTracked == 1 })
    }

    @Test func badWeightsAreClearErrorsAndChangeNothing() throws {
        let model = try ConceptModel(config: Self.smallConfig(), seed: 5)
        let before = model.namedParameters().map { $0.1.values }
        var file = try model.stateDict()
        try file.set("proto_s", floats: [Float](repeating: 1, count: 7 * 12), shape: [7, 12])   // wrong shape
        #expect(throws: ModelError.self) { try model.load(from: file) }
        var missing = try model.stateDict()
        missing.remove("recon_d.2.bias")
        do { try model.load(from: missing); Issue.record("a missing tensor must be an error") }
        catch { #expect("\(error)".contains("recon_d.2.bias")) }
        var wrongType = try model.stateDict()
        try wrongType.set("proto_d", int64s: [Int64](repeating: 1, count: 5 * 12), shape: [5, 12])
        #expect(throws: (any Error).self) { try model.load(from: wrongType) }
        #expect(model.namedParameters().map { $0.1.values } == before, "a failed load must leave the model unchanged")
        let bytes = try model.stateDict().serialized()
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(bytes: Array(bytes.prefix(bytes.count / 2))) }
    }
}
