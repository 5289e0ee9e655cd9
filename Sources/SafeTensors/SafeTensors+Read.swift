import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension SafeTensorsFile {
    /// Largest header accepted, as in the reference implementation (100 MB).
    public static let maxHeaderLength = 100_000_000

    /// Parses a whole safetensors file. Any malformed input throws a `SafeTensorsError` naming the problem
    /// (and the tensor); no input crashes or hangs the reader.
    public init(bytes: [UInt8]) throws(SafeTensorsError) {
        var result: Result<SafeTensorsFile, SafeTensorsError> = .success(SafeTensorsFile())
        bytes.withUnsafeBufferPointer { buffer in
            do throws(SafeTensorsError) {
                result = .success(try Self.parse(buffer))
            } catch {
                result = .failure(error)
            }
        }
        self = try result.get()
    }

    /// Reads and parses the file at `url`; errors carry its path in `file`.
    public init(contentsOf url: URL) throws(SafeTensorsError) {
        let path = url.path
        let bytes = try Self.readFile(path)
        do {
            try self.init(bytes: bytes)
        } catch {
            throw error.with(file: path)
        }
    }

    // MARK: Parsing

    private static func parse(_ file: UnsafeBufferPointer<UInt8>) throws(SafeTensorsError) -> SafeTensorsFile {
        guard file.count >= 8 else {
            throw SafeTensorsError(
                .fileTooShort, "file is \(file.count) bytes, shorter than the 8-byte header length prefix")
        }
        var length64: UInt64 = 0
        for i in 0..<8 { length64 |= UInt64(file[i]) << (8 * UInt64(i)) }
        let available = file.count - 8
        guard length64 <= UInt64(maxHeaderLength) else {
            throw SafeTensorsError(
                .invalidHeaderLength, "header length \(length64) exceeds the limit of \(maxHeaderLength) bytes")
        }
        let headerLength = Int(length64)
        guard headerLength <= available else {
            throw SafeTensorsError(
                .invalidHeaderLength,
                "header length \(headerLength) is larger than the \(available) bytes after the length prefix")
        }
        let header = UnsafeBufferPointer(rebasing: file[8..<(8 + headerLength)])
        if let bad = firstInvalidUTF8(header) {
            throw SafeTensorsError(.invalidHeader, "header is not valid UTF-8 (first bad byte at offset \(bad) of the header)")
        }
        let json = try SafeTensorsJSONParser.parse(header)
        guard case .object(let members) = json else {
            throw SafeTensorsError(.invalidHeader, "header is \(json.typeDescription), not a JSON object")
        }

        let dataStart = 8 + headerLength
        let dataLength = file.count - dataStart
        var result = SafeTensorsFile()
        var layouts: [(name: String, dtype: SafeTensorsDType, shape: [Int], begin: Int, end: Int)] = []
        layouts.reserveCapacity(members.count)
        for (key, value) in members {
            if key == metadataKey {
                result.metadata = try parseMetadata(value)
            } else {
                let (dtype, shape, begin, end) = try parseEntry(key, value, dataLength: dataLength)
                layouts.append((key, dtype, shape, begin, end))
            }
        }
        try checkOverlaps(layouts.map { ($0.name, $0.begin, $0.end) })

        for layout in layouts {
            let range = (dataStart + layout.begin)..<(dataStart + layout.end)
            let bytes = Array(UnsafeBufferPointer(rebasing: file[range]))
            result.insert(layout.name, SafeTensorsEntry(unchecked: layout.dtype, shape: layout.shape, bytes: bytes))
        }
        return result
    }

    /// Validates one header entry against the data section; returns its dtype, shape and byte range.
    private static func parseEntry(
        _ key: String, _ value: SafeTensorsJSON, dataLength: Int
    ) throws(SafeTensorsError) -> (SafeTensorsDType, [Int], Int, Int) {
        let name = quoted(key)
        guard case .object(let fields) = value else {
            throw SafeTensorsError(.invalidEntry, "entry for tensor \(name) is \(value.typeDescription), not an object", key: key)
        }
        func field(_ field: String) throws(SafeTensorsError) -> SafeTensorsJSON {
            guard let found = fields.first(where: { $0.key == field }) else {
                throw SafeTensorsError(.invalidEntry, "tensor \(name) has no \"\(field)\"", key: key)
            }
            return found.value
        }

        // dtype
        let dtypeValue = try field("dtype")
        guard case .string(let dtypeName) = dtypeValue else {
            throw SafeTensorsError(
                .invalidEntry, "tensor \(name): \"dtype\" is \(dtypeValue.typeDescription), not a string", key: key)
        }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            let known = ["F64", "F16", "BF16", "F8_E4M3", "F8_E5M2", "I32", "I16", "I8", "U64", "U32", "U16", "BOOL",
                         "C64", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2"]
            let supported = SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", ")
            let what = known.contains(dtypeName) ? "unsupported dtype" : "unknown dtype"
            throw SafeTensorsError(
                .unsupportedDType, "tensor \(name) has \(what) \(quoted(dtypeName)) (supported: \(supported))", key: key)
        }

        // shape
        let shapeValue = try field("shape")
        guard case .array(let dims) = shapeValue else {
            throw SafeTensorsError(
                .invalidEntry, "tensor \(name): \"shape\" is \(shapeValue.typeDescription), not an array", key: key)
        }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for (i, dim) in dims.enumerated() {
            shape.append(try nonNegativeInteger(dim) { problem in
                SafeTensorsError(.invalidShape, "tensor \(name): shape dimension \(i) \(problem)", key: key)
            })
        }
        let byteCount = try SafeTensorsEntry.checkedByteCount(dtype: dtype, shape: shape, key: key)

        // data_offsets
        let offsetsValue = try field("data_offsets")
        guard case .array(let offsets) = offsetsValue else {
            throw SafeTensorsError(
                .invalidEntry, "tensor \(name): \"data_offsets\" is \(offsetsValue.typeDescription), not an array",
                key: key)
        }
        guard offsets.count == 2 else {
            throw SafeTensorsError(
                .invalidOffsets, "tensor \(name): \"data_offsets\" has \(offsets.count) elements, expected 2 [begin, end]",
                key: key)
        }
        let begin = try nonNegativeInteger(offsets[0]) { problem in
            SafeTensorsError(.invalidOffsets, "tensor \(name): data_offsets begin \(problem)", key: key)
        }
        let end = try nonNegativeInteger(offsets[1]) { problem in
            SafeTensorsError(.invalidOffsets, "tensor \(name): data_offsets end \(problem)", key: key)
        }
        guard begin <= end else {
            throw SafeTensorsError(
                .invalidOffsets, "tensor \(name): data_offsets begin \(begin) is greater than end \(end)", key: key)
        }
        guard end <= dataLength else {
            throw SafeTensorsError(
                .invalidOffsets, "tensor \(name): data_offsets end \(end) is beyond the \(dataLength)-byte data section",
                key: key)
        }
        guard end - begin == byteCount else {
            throw SafeTensorsError(
                .byteCountMismatch,
                "tensor \(name): data_offsets span \(end - begin) bytes but shape \(describe(shape)) of \(dtype.rawValue) needs \(byteCount)",
                key: key)
        }
        return (dtype, shape, begin, end)
    }

    /// An `Int` >= 0 written as a plain integer literal; anything else gets `makeError(problem)`.
    private static func nonNegativeInteger(
        _ value: SafeTensorsJSON, _ makeError: (String) -> SafeTensorsError
    ) throws(SafeTensorsError) -> Int {
        guard case .number(let number) = value else {
            throw makeError("is \(value.typeDescription), not a non-negative integer")
        }
        guard number.isIntegerLiteral else { throw makeError("is \(number.text), not an integer") }
        guard !number.isNegative else { throw makeError("is \(number.text), not a non-negative integer") }
        guard let int = number.intValue else { throw makeError("is \(number.text), too large") }
        return int
    }

    private static func parseMetadata(_ value: SafeTensorsJSON) throws(SafeTensorsError) -> [String: String] {
        guard case .object(let members) = value else {
            throw SafeTensorsError(
                .invalidMetadata, "\"\(metadataKey)\" is \(value.typeDescription), not an object of strings",
                key: metadataKey)
        }
        var metadata: [String: String] = [:]
        metadata.reserveCapacity(members.count)
        for (key, value) in members {
            guard case .string(let string) = value else {
                throw SafeTensorsError(
                    .invalidMetadata,
                    "\"\(metadataKey)\" value for \(quoted(key)) is \(value.typeDescription), not a string", key: key)
            }
            metadata[key] = string
        }
        return metadata
    }

    /// Throws if two non-empty byte ranges overlap. Gaps and trailing bytes are allowed.
    private static func checkOverlaps(_ ranges: [(name: String, begin: Int, end: Int)]) throws(SafeTensorsError) {
        let sorted = ranges.filter { $0.begin < $0.end }.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        guard sorted.count > 1 else { return }
        for i in 1..<sorted.count {
            let a = sorted[i - 1], b = sorted[i]
            if b.begin < a.end {
                throw SafeTensorsError(
                    .overlappingEntries,
                    "tensors \(quoted(a.name)) [\(a.begin), \(a.end)) and \(quoted(b.name)) [\(b.begin), \(b.end)) overlap",
                    key: b.name)
            }
        }
    }

    /// Offset of the first byte that is not part of valid UTF-8, or nil when all of it is valid.
    static func firstInvalidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        // Fast path: pure ASCII.
        var i = 0
        while i < bytes.count, bytes[i] < 0x80 { i += 1 }
        if i == bytes.count { return nil }
        // Lossless decoding reproduces the input exactly; the first difference is the first invalid byte.
        let decoded = String(decoding: bytes, as: UTF8.self)
        var j = 0
        for c in decoded.utf8 {
            if j >= bytes.count || bytes[j] != c { return j }
            j += 1
        }
        return j == bytes.count ? nil : j
    }

    // MARK: File input

    /// Reads a whole file with POSIX calls (one copy, clear errno messages).
    static func readFile(_ path: String) throws(SafeTensorsError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError("cannot open file for reading", path: path) }
        defer { _ = close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ioError("cannot stat file", path: path) }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw SafeTensorsError(.io, "cannot read \(quoted(path)): it is a directory", file: path)
        }
        var bytes = [UInt8](repeating: 0, count: max(Int(info.st_size), 0) + 1)
        var filled = 0
        while true {
            if filled == bytes.count {
                bytes.append(contentsOf: repeatElement(0, count: max(bytes.count, 65536)))
            }
            let result = bytes.withUnsafeMutableBytes { raw in
                read(fd, raw.baseAddress! + filled, raw.count - filled)
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw ioError("cannot read file", path: path)
            }
            if result == 0 { break }
            filled += result
        }
        bytes.removeSubrange(filled...)
        return bytes
    }

    /// An `io` error for the current `errno`.
    static func ioError(_ what: String, path: String, errnoValue: Int32 = errno) -> SafeTensorsError {
        let reason = String(cString: strerror(errnoValue))
        return SafeTensorsError(.io, "\(what) \(quoted(path)): \(reason) (errno \(errnoValue))", file: path)
    }
}
