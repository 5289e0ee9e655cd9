#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
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
        let directory = url.deletingLastPathComponent().path
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let tempPath = (directory.hasSuffix("/") ? directory : directory + "/")
            + ".\(url.lastPathComponent).tmp-\(getpid())-\(suffix)"

        let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ioError("cannot create a temporary file in directory", path: directory).with(file: path)
        }
        var failure: SafeTensorsError?
        var written = 0
        bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let result = posixWrite(fd, raw.baseAddress! + written, raw.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    failure = ioError("cannot write temporary file", path: tempPath).with(file: path)
                    return
                }
                written += result
            }
        }
        if failure == nil, fsync(fd) != 0 {
            failure = ioError("cannot fsync temporary file", path: tempPath).with(file: path)
        }
        if close(fd) != 0, failure == nil {
            failure = ioError("cannot close temporary file", path: tempPath).with(file: path)
        }
        if failure == nil, rename(tempPath, path) != 0 {
            failure = ioError("cannot rename temporary file onto", path: path)
        }
        if let failure {
            _ = unlink(tempPath)
            throw failure
        }

        // Make the rename durable. Some file systems cannot fsync directories (EINVAL); that is not an error.
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else { throw ioError("cannot open directory to fsync", path: directory).with(file: path) }
        defer { _ = close(directoryFD) }
        if fsync(directoryFD) != 0, errno != EINVAL {
            throw ioError("cannot fsync directory", path: directory).with(file: path)
        }
    }
}

/// POSIX write(2), named apart from `SafeTensorsFile.write(to:)`.
@inline(__always)
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, buffer, count)
    #elseif canImport(Musl)
    Musl.write(fd, buffer, count)
    #else
    Darwin.write(fd, buffer, count)
    #endif
}
