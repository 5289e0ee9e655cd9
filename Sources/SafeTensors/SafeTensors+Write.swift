import DurableFiles
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension SafeTensorsFile {
    /// The file's bytes: tensors in `names` order, packed without gaps, then `__metadata__` (sorted keys, omitted
    /// when empty); the header is padded with spaces to a multiple of 8 bytes.
    public func serialized() -> [UInt8] {
        var header: [UInt8] = []
        header.reserveCapacity(64 + names.count * 96)
        header.append(UInt8(ascii: "{"))
        var offset = 0
        var first = true
        for (name, entry) in zip(names, orderedEntries) {
            if !first { header.append(UInt8(ascii: ",")) }
            first = false
            SafeTensorsJSONWriter.appendString(name, to: &header)
            SafeTensorsJSONWriter.append(":{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":[", to: &header)
            SafeTensorsJSONWriter.append(entry.shape.map(String.init).joined(separator: ","), to: &header)
            let end = offset + entry.bytes.count
            SafeTensorsJSONWriter.append("],\"data_offsets\":[\(offset),\(end)]}", to: &header)
            offset = end
        }
        if !metadata.isEmpty {
            if !first { header.append(UInt8(ascii: ",")) }
            SafeTensorsJSONWriter.appendString(Self.metadataKey, to: &header)
            header.append(contentsOf: [UInt8(ascii: ":"), UInt8(ascii: "{")])
            for (i, key) in metadata.keys.sorted().enumerated() {
                if i > 0 { header.append(UInt8(ascii: ",")) }
                SafeTensorsJSONWriter.appendString(key, to: &header)
                header.append(UInt8(ascii: ":"))
                SafeTensorsJSONWriter.appendString(metadata[key] ?? "", to: &header)
            }
            header.append(UInt8(ascii: "}"))
        }
        header.append(UInt8(ascii: "}"))
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }

        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + offset)
        let length = UInt64(header.count)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: length >> (8 * UInt64(i)))) }
        out.append(contentsOf: header)
        for entry in orderedEntries { out.append(contentsOf: entry.bytes) }
        return out
    }

    /// Writes atomically: temp file in the same directory, fsync, rename, fsync of the directory. Readers see
    /// either the old file or the complete new one; on failure the temp file is removed and `io` is thrown.
    public func write(to url: URL) throws(SafeTensorsError) {
        try Self.writeAtomically(serialized(), to: url)
    }

    /// The atomic write behind `write(to:)`.
    static func writeAtomically(_ bytes: [UInt8], to url: URL) throws(SafeTensorsError) {
        let path = url.path
        guard url.isFileURL, !url.lastPathComponent.isEmpty, url.lastPathComponent != "/" else {
            throw SafeTensorsError(.io, "cannot write to \(quoted(url.absoluteString)): not a file path", file: path)
        }
        do { try DurableFile.replace(path, with: bytes) } catch {
            throw SafeTensorsError(.io, error.message, file: path)
        }
    }
}
