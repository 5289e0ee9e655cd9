import Collective
import ConceptModel
import Foundation
import TensorKernels

// A trainer in a data-parallel world: every rank starts from rank 0's state, and the ranks check now and then that
// their weights are still bit-identical.

extension Trainer {
    /// The data-parallel world the learner steps in (`SingleProcess` by default).
    public var communicator: any Communicator { learner.communicator }

    /// Trains in `communicator`'s world from now on; call `synchronizeFromRoot()` next, on every rank.
    /// `synchronizeBatchNorm` false keeps each rank's batch-norm statistics its own (`sync_batchnorm = false`).
    public func join(_ communicator: any Communicator, synchronizeBatchNorm: Bool = true) {
        learner.join(communicator, synchronizeBatchNorm: synchronizeBatchNorm)
    }

    /// Gives every rank rank 0's whole state (weights, batch-norm statistics, momentum, queues, step, generator,
    /// per-source progress): rank 0 serialises a snapshot in memory and broadcasts it, the others load it. Other ranks
    /// need no snapshot files, and no file system is shared. Every rank must call it; in a world of one it does nothing.
    public func synchronizeFromRoot() throws {
        let world = communicator
        guard world.size > 1 else { return }
        do {
            let bytes = try world.broadcastBytes(world.isRoot ? Self.pack(try snapshotFiles()) : [])
            // Rank 0 loads the same bytes too: snapshots hold float32, so in the float64 verification build its own
            // state would otherwise differ from the others' by rounding.
            try restore(files: Self.unpack(bytes))
        } catch let error as CollectiveError {
            throw TrainerError.cluster("rank \(world.rank) could not take rank 0's state", cause: error)
        }
    }

    /// SHA-256 of the flat parameter buffer, as hex.
    public var parameterChecksum: String {
        let p = learner.model.parameters!
        var hash = SHA256()
        hash.update(UnsafeRawBufferPointer(start: p.values.pointer, count: p.count * MemoryLayout<Scalar>.stride))
        return hash.finalizeHex()
    }

    /// Compares every rank's parameter checksum with rank 0's; throws `.cluster`, naming the ranks that differ, when
    /// the weights have drifted apart (every rank must call it; in a world of one it does nothing).
    public func verifyParametersAgree() throws {
        let world = communicator
        guard world.size > 1 else { return }
        let all: [[UInt8]]
        do { all = try world.allGatherBytes(Array(parameterChecksum.utf8)) } catch {
            throw TrainerError.cluster("rank \(world.rank) could not gather the parameter checksums", cause: error)
        }
        let differing = (1..<world.size).filter { all[$0] != all[0] }
        guard differing.isEmpty else {
            throw TrainerError.cluster("at step \(state.step) the parameters of rank\(differing.count == 1 ? "" : "s") "
                + "\(differing.map(String.init).joined(separator: ", ")) differ from rank 0's")
        }
    }

    /// Files as one byte string: per file (in name order) an 8-byte little-endian name length, the name, an 8-byte
    /// length and the bytes.
    static func pack(_ files: [String: [UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        func length(_ n: Int) { withUnsafeBytes(of: UInt64(n).littleEndian) { out += $0 } }
        for name in files.keys.sorted() {
            let n = Array(name.utf8), data = files[name]!
            length(n.count); out += n
            length(data.count); out += data
        }
        return out
    }

    /// The files of `pack`; a truncated or malformed string is a `.cluster` error.
    static func unpack(_ bytes: [UInt8]) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        var at = 0
        func take(_ count: Int) throws -> ArraySlice<UInt8> {
            guard count >= 0, count <= bytes.count - at else { throw TrainerError.cluster("rank 0's state is truncated at byte \(at)") }
            defer { at += count }
            return bytes[at..<(at + count)]
        }
        func length() throws -> Int {
            let raw = try take(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard raw < UInt64(Int.max) else { throw TrainerError.cluster("rank 0's state has a length of \(raw)") }
            return Int(raw)
        }
        while at < bytes.count {
            let name = String(decoding: try take(try length()), as: UTF8.self)
            files[name] = Array(try take(try length()))
        }
        return files
    }
}
