import Foundation
import SafeTensors
import SeededRandom
import Testing

// MARK: - Helpers

/// A file from a raw header string (no padding added) and data bytes.
private func rawFile(_ header: String, data: [UInt8] = []) -> [UInt8] {
    rawFile(Array(header.utf8), data: data)
}

private func rawFile(_ header: [UInt8], data: [UInt8] = []) -> [UInt8] {
    var out: [UInt8] = []
    let n = UInt64(header.count)
    for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
    return out + header + data
}

/// Little-endian UInt64 length prefix followed by `rest`.
private func prefixed(_ length: UInt64, _ rest: [UInt8]) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) } + rest
}

/// Runs `body`, which must throw a `SafeTensorsError` of `kind` whose message contains every fragment.
private func expectError(
    _ kind: SafeTensorsError.Kind, _ fragments: [String] = [], key: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected a \(kind) error, got success", sourceLocation: sourceLocation)
    } catch let error as SafeTensorsError {
        #expect(error.kind == kind, "got \(error.kind): \(error)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(error.message.contains(fragment), "message \"\(error.message)\" lacks \"\(fragment)\"",
                    sourceLocation: sourceLocation)
        }
        if let key { #expect(error.key == key, "key of \(error)", sourceLocation: sourceLocation) }
        #expect(error.description.contains(error.message), sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected SafeTensorsError, got \(error)", sourceLocation: sourceLocation)
    }
}

/// Everything a successfully read file must satisfy, including a lossless re-serialisation.
private func checkInvariants(_ file: SafeTensorsFile, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(Set(file.names).count == file.names.count, "duplicate names", sourceLocation: sourceLocation)
    #expect(file.count == file.names.count, sourceLocation: sourceLocation)
    for name in file.names {
        guard let entry = file[name] else {
            Issue.record("no entry for listed name \(name)", sourceLocation: sourceLocation)
            continue
        }
        #expect(entry.elementCount >= 0, sourceLocation: sourceLocation)
        #expect(entry.bytes.count == entry.elementCount * entry.dtype.byteSize, "\(name)", sourceLocation: sourceLocation)
    }
    let reparsed = try? SafeTensorsFile(bytes: file.serialized())
    #expect(reparsed == file, "re-serialised file differs", sourceLocation: sourceLocation)
}

/// The reference directory: <repo root>/../shared/reference, else $CONCEPT_REFERENCE_DIR, else the copies in
/// Tests/ConceptModelTests/reference; nil when none has the files.
private let referenceDirectory: URL? = {
    let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var candidates = [repoRoot.appendingPathComponent("../shared/reference").standardizedFileURL]
    if let env = ProcessInfo.processInfo.environment["CONCEPT_REFERENCE_DIR"] {
        candidates.append(URL(fileURLWithPath: env))
    }
    candidates.append(repoRoot.appendingPathComponent("Tests/ConceptModelTests/reference"))
    return candidates.first {
        FileManager.default.fileExists(atPath: $0.appendingPathComponent("case_a.safetensors").path)
    }
}()

private func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A small valid file with every dtype, a scalar, a zero-size tensor and metadata.
private func sampleFile() throws -> SafeTensorsFile {
    var file = SafeTensorsFile()
    try file.set("weights", floats: [1.5, -2.25, 0, -0.0, .infinity, -.greatestFiniteMagnitude], shape: [2, 3])
    try file.set("scalar", floats: [3.25], shape: [])
    try file.set("count", int64s: [Int64.min], shape: [])
    try file.set("index", int64s: [0, -1, Int64.max, 42], shape: [4])
    try file.set("mask", uint8s: [0, 1, 255], shape: [3, 1])
    try file.set("empty", floats: [], shape: [0, 3])
    file.metadata = ["widths": "[4, 8, 8, 16]", "note": "quote \" backslash \\ newline \n tab \t ctrl \u{1} é ✓"]
    return file
}

/// A header that is not a UTF-8 JSON object, and a fragment its error message must contain.
struct SafeTensorsHeaderCase: Sendable, CustomTestStringConvertible {
    var label: String
    var header: [UInt8]
    var fragment: String
    var testDescription: String { label }
    init(_ label: String, _ header: [UInt8], _ fragment: String) {
        self.label = label
        self.header = header
        self.fragment = fragment
    }
}

private let headerSyntaxCases: [SafeTensorsHeaderCase] = [
    SafeTensorsHeaderCase("empty header", [], "expected a value"),
    SafeTensorsHeaderCase("bad UTF-8", [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D], "UTF-8"),
    SafeTensorsHeaderCase("truncated UTF-8", Array("{\"é".utf8.dropLast()), "UTF-8"),
    SafeTensorsHeaderCase("unterminated object", Array("{".utf8), "not valid JSON"),
    SafeTensorsHeaderCase("unterminated string", Array("{\"abc".utf8), "unterminated string"),
    SafeTensorsHeaderCase("trailing data", Array("{} x".utf8), "after the top-level value"),
    SafeTensorsHeaderCase("trailing NULs", Array("{}".utf8) + [0, 0], "after the top-level value"),
    SafeTensorsHeaderCase("missing colon", Array("{\"a\" 1}".utf8), "expected ':'"),
    SafeTensorsHeaderCase("single quotes", Array("{'a':1}".utf8), "expected a string key"),
    SafeTensorsHeaderCase("trailing comma", Array("{\"a\":{},}".utf8), "expected a string key"),
    SafeTensorsHeaderCase("bad literal", Array("{\"a\":tru}".utf8), "expected true"),
    SafeTensorsHeaderCase("leading zero", Array("{\"a\":[01]}".utf8), "expected ',' or ']'"),
    SafeTensorsHeaderCase("bare minus", Array("{\"a\":[-]}".utf8), "expected a digit"),
    SafeTensorsHeaderCase("bad exponent", Array("{\"a\":[1e]}".utf8), "exponent"),
    SafeTensorsHeaderCase("lone surrogate", Array("{\"\\ud800\":1}".utf8), "surrogate"),
    SafeTensorsHeaderCase("bad escape", Array("{\"\\x\":1}".utf8), "invalid escape"),
    SafeTensorsHeaderCase("control character", Array("{\"a\u{1}\":1}".utf8), "control character"),
    SafeTensorsHeaderCase("deep nesting", Array(("{\"a\":" + String(repeating: "[", count: 100_000)).utf8), "nested deeper"),
    SafeTensorsHeaderCase("array", Array("[1, 2]".utf8), "an array, not a JSON object"),
    SafeTensorsHeaderCase("string", Array("\"F32\"".utf8), "a string, not a JSON object"),
]

// MARK: - Tests

@Suite("SafeTensors")
struct SafeTensorsTests {
    @Test("round trip of F32, I64 and U8 tensors with metadata, a scalar and a zero-size tensor")
    func roundTrip() throws {
        let file = try sampleFile()
        let bytes = file.serialized()
        #expect(bytes == file.serialized(), "serialisation is deterministic")

        // Header length is a multiple of 8 and the header is plain JSON that Foundation also accepts.
        let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(headerLength % 8 == 0)
        let header = try #require(
            JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as? [String: Any])
        #expect((header["__metadata__"] as? [String: String]) == file.metadata)
        let weights = try #require(header["weights"] as? [String: Any])
        #expect(weights["dtype"] as? String == "F32")
        #expect(weights["shape"] as? [Int] == [2, 3])
        #expect(bytes.count == 8 + headerLength + 6 * 4 + 4 + 8 + 4 * 8 + 3)

        let read = try SafeTensorsFile(bytes: bytes)
        #expect(read == file)
        #expect(read.names == ["weights", "scalar", "count", "index", "mask", "empty"])
        #expect(read.metadata == file.metadata)

        let floats = try read.floats("weights")
        #expect(floats.map(\.bitPattern)
            == [1.5, -2.25, 0, -0.0, .infinity, -.greatestFiniteMagnitude].map { (x: Float) in x.bitPattern })
        #expect(try read.shape("weights") == [2, 3])
        #expect(try read.floats("scalar") == [3.25])
        #expect(try read.shape("scalar") == [])
        #expect(read["scalar"]?.elementCount == 1)
        #expect(try read.int64s("count") == [Int64.min])
        #expect(try read.int64s("index") == [0, -1, Int64.max, 42])
        #expect(try read.uint8s("mask") == [0, 1, 255])
        #expect(try read.shape("mask") == [3, 1])
        #expect(try read.floats("empty") == [])
        #expect(try read.shape("empty") == [0, 3])
        #expect(read["empty"]?.elementCount == 0)
        #expect(read["missing"] == nil)

        // Raw bytes are little-endian.
        #expect(Array(try #require(read["index"]).bytes[8..<16]) == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(read["scalar"]?.bytes == [0x00, 0x00, 0x50, 0x40])  // 3.25f = 0x40500000
        checkInvariants(read)
    }

    @Test("replacing keeps a tensor's position; removing drops it; entries move between files")
    func editing() throws {
        var file = try sampleFile()
        try file.set("index", int64s: [7], shape: [1, 1])
        #expect(file.names == ["weights", "scalar", "count", "index", "mask", "empty"])
        #expect(try file.int64s("index") == [7])
        #expect(file.remove("scalar")?.dtype == .f32)
        #expect(file.remove("scalar") == nil)
        #expect(file.names == ["weights", "count", "index", "mask", "empty"])
        #expect(try file.int64s("index") == [7])

        var other = SafeTensorsFile()
        try other.set("copied", entry: try #require(file["weights"]))
        #expect(try other.floats("copied") == (try file.floats("weights")))
        let entry = try SafeTensorsEntry(dtype: .u8, shape: [2], bytes: [9, 8])
        try other.set("made", entry: entry)
        #expect(try SafeTensorsFile(bytes: other.serialized()) == other)
    }

    @Test("API misuse gets specific errors")
    func apiErrors() throws {
        var file = try sampleFile()
        expectError(.dtypeMismatch, ["'index'", "I64", "expected F32"], key: "index") { _ = try file.floats("index") }
        expectError(.dtypeMismatch, ["'weights'", "F32", "expected I64"], key: "weights") { _ = try file.int64s("weights") }
        expectError(.dtypeMismatch, ["'weights'", "expected U8"]) { _ = try file.uint8s("weights") }
        expectError(.tensorNotFound, ["'nope'"], key: "nope") { _ = try file.floats("nope") }
        expectError(.tensorNotFound, ["'nope'"]) { _ = try file.shape("nope") }
        expectError(.elementCountMismatch, ["'x'", "5 values", "[2, 3]", "6 elements"], key: "x") {
            try file.set("x", floats: [1, 2, 3, 4, 5], shape: [2, 3])
        }
        expectError(.elementCountMismatch, ["'s'", "0 values"]) { try file.set("s", int64s: [], shape: []) }
        expectError(.invalidShape, ["'x'", "dimension 1 is -2"]) { try file.set("x", uint8s: [], shape: [0, -2]) }
        expectError(.invalidShape, ["overflows"]) { try file.set("x", floats: [], shape: [Int.max, 3]) }
        expectError(.invalidShape, ["byte size", "overflows"]) { try file.set("x", int64s: [], shape: [Int.max / 4]) }
        expectError(.invalidName, ["__metadata__", "reserved"]) { try file.set("__metadata__", floats: [1], shape: []) }
        expectError(.byteCountMismatch, ["3 bytes", "needs 4"]) {
            _ = try SafeTensorsEntry(dtype: .f32, shape: [], bytes: [1, 2, 3])
        }
        var bad = try #require(file["weights"])
        bad.shape = [5]
        expectError(.byteCountMismatch, ["'w'", "24 bytes", "needs 20"]) { try file.set("w", entry: bad) }
        #expect(file["x"] == nil && file["w"] == nil, "failed sets leave the file unchanged")
        bad.shape = [-1]
        #expect(bad.elementCount == -1)
    }

    // MARK: Reference files

    @Test("reads the four reference files written by Python's safetensors",
          .enabled(if: referenceDirectory != nil, "reference files absent: need ../shared/reference or $CONCEPT_REFERENCE_DIR"),
          arguments: ["a", "b", "c", "d"])
    func referenceFile(_ name: String) throws {
        let url = try #require(referenceDirectory).appendingPathComponent("case_\(name).safetensors")
        let raw = try Data(contentsOf: url)
        let file = try SafeTensorsFile(contentsOf: url)

        // Cross-check names, dtypes, shapes and byte ranges against Foundation's independent JSON parser.
        let headerLength = raw.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try #require(
            JSONSerialization.jsonObject(with: raw.subdata(in: 8..<(8 + headerLength))) as? [String: Any])
        #expect(Set(file.names) == Set(header.keys).subtracting(["__metadata__"]))
        #expect(file.metadata == header["__metadata__"] as? [String: String])
        for tensor in file.names {
            let info = try #require(header[tensor] as? [String: Any])
            let entry = try #require(file[tensor])
            #expect(entry.dtype.rawValue == info["dtype"] as? String)
            #expect(entry.shape == info["shape"] as? [Int])
            let offsets = try #require(info["data_offsets"] as? [Int])
            #expect(entry.bytes.count == entry.elementCount * entry.dtype.byteSize, "\(tensor)")
            #expect(entry.bytes.count == offsets[1] - offsets[0])
            let start = 8 + headerLength + offsets[0]
            #expect(entry.bytes == [UInt8](raw[start..<(start + entry.bytes.count)]), "\(tensor) bytes")
        }
        // File order: the data section is laid out in header order.
        let begins = file.names.compactMap { ((header[$0] as? [String: Any])?["data_offsets"] as? [Int])?.first }
        #expect(begins == begins.sorted())
        #expect(file.names.first == "input.frames")

        let frames = try file.floats("input.frames")
        #expect(frames.count == file["input.frames"]?.elementCount)
        #expect(frames.allSatisfy { $0.isFinite })
        #expect(try file.shape("input.frames").count == 5)
        #expect(file.metadata["widths"]?.hasPrefix("[") == true)
        let tracked = try #require(file["param.encoder.stem.1.num_batches_tracked"])
        #expect(tracked.dtype == .i64)
        #expect(tracked.shape == [])
        #expect(try file.int64s("param.encoder.stem.1.num_batches_tracked").count == 1)
        #expect(Set(file.names.compactMap { file[$0]?.dtype }) == [.f32, .i64, .u8])

        if name == "a" {
            #expect(try file.shape("input.frames") == [4, 3, 5, 32, 32])
            #expect(file.metadata["widths"] == "[4, 8, 8, 16]")
        }
        checkInvariants(file)
    }

    // MARK: Malformed files

    @Test("short files and bad header lengths")
    func headerLengthErrors() {
        expectError(.fileTooShort, ["0 bytes", "8-byte"]) { _ = try SafeTensorsFile(bytes: []) }
        expectError(.fileTooShort, ["7 bytes"]) { _ = try SafeTensorsFile(bytes: [2, 0, 0, 0, 0, 0, 0]) }
        expectError(.invalidHeaderLength, ["200", "larger than the 10 bytes"]) {
            _ = try SafeTensorsFile(bytes: prefixed(200, Array(repeating: 0x20, count: 10)))
        }
        expectError(.invalidHeaderLength, ["exceeds", "100000000"]) {
            _ = try SafeTensorsFile(bytes: prefixed(1 << 40, Array("{}".utf8)))
        }
        expectError(.invalidHeaderLength, ["18446744073709551615"]) {
            _ = try SafeTensorsFile(bytes: prefixed(UInt64.max, Array("{}".utf8)))
        }
        expectError(.invalidHeaderLength, ["exceeds"]) {
            _ = try SafeTensorsFile(bytes: prefixed(100_000_001, []))
        }
    }

    @Test("headers that are not UTF-8 JSON objects", arguments: headerSyntaxCases)
    func headerSyntaxError(_ test: SafeTensorsHeaderCase) {
        expectError(.invalidHeader, [test.fragment]) { _ = try SafeTensorsFile(bytes: rawFile(test.header)) }
    }

    @Test("duplicate keys are rejected")
    func duplicateKeys() {
        expectError(.invalidHeader, ["duplicate key 'a'"], key: "a") {
            _ = try SafeTensorsFile(bytes: rawFile(#"{"a":{"dtype":"U8","shape":[],"data_offsets":[0,1]},"a":{}}"#, data: [1]))
        }
        expectError(.invalidHeader, ["duplicate key 'dtype'"]) {
            _ = try SafeTensorsFile(bytes: rawFile(#"{"a":{"dtype":"U8","dtype":"U8","shape":[],"data_offsets":[0,1]}}"#, data: [1]))
        }
    }

    @Test("entries with missing, mistyped or unsupported fields")
    func entryErrors() {
        func read(_ entry: String, data: [UInt8] = Array(repeating: 0, count: 64)) throws {
            _ = try SafeTensorsFile(bytes: rawFile("{\"t\":\(entry)}", data: data))
        }
        expectError(.invalidEntry, ["'t'", "an array, not an object"], key: "t") { try read("[1]") }
        expectError(.invalidEntry, ["'t'", "a number, not an object"]) { try read("1") }
        expectError(.invalidEntry, ["'t'", "no \"dtype\""], key: "t") { try read(#"{"shape":[],"data_offsets":[0,4]}"#) }
        expectError(.invalidEntry, ["'t'", "no \"shape\""]) { try read(#"{"dtype":"F32","data_offsets":[0,4]}"#) }
        expectError(.invalidEntry, ["'t'", "no \"data_offsets\""]) { try read(#"{"dtype":"F32","shape":[]}"#) }
        expectError(.invalidEntry, ["\"dtype\" is a number"]) { try read(#"{"dtype":4,"shape":[],"data_offsets":[0,4]}"#) }
        expectError(.invalidEntry, ["\"shape\" is a string"]) { try read(#"{"dtype":"F32","shape":"[]","data_offsets":[0,4]}"#) }
        expectError(.invalidEntry, ["\"shape\" is null"]) { try read(#"{"dtype":"F32","shape":null,"data_offsets":[0,4]}"#) }
        expectError(.invalidEntry, ["\"data_offsets\" is an object"]) {
            try read(#"{"dtype":"F32","shape":[],"data_offsets":{}}"#)
        }
        expectError(.unsupportedDType, ["'t'", "unsupported dtype 'BF16'", "F32, I64, U8"], key: "t") {
            try read(#"{"dtype":"BF16","shape":[],"data_offsets":[0,2]}"#)
        }
        expectError(.unsupportedDType, ["unsupported dtype 'F16'"]) { try read(#"{"dtype":"F16","shape":[],"data_offsets":[0,2]}"#) }
        expectError(.unsupportedDType, ["unknown dtype 'f32'"]) { try read(#"{"dtype":"f32","shape":[],"data_offsets":[0,4]}"#) }
        // Unknown extra fields are ignored, as in the reference implementation.
        #expect(throws: Never.self) { try read(#"{"dtype":"U8","shape":[2],"data_offsets":[0,2],"extra":[{}]}"#) }
    }

    @Test("bad shapes: negative, non-integer, huge, overflowing")
    func shapeErrors() {
        func read(_ shape: String) throws {
            _ = try SafeTensorsFile(bytes: rawFile("{\"t\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[0,0]}}"))
        }
        expectError(.invalidShape, ["'t'", "dimension 0 is -1", "non-negative"], key: "t") { try read("[-1]") }
        expectError(.invalidShape, ["dimension 1 is -0"]) { try read("[0,-0]") }
        expectError(.invalidShape, ["is 3.5, not an integer"]) { try read("[3.5]") }
        expectError(.invalidShape, ["is 2.0, not an integer"]) { try read("[2.0]") }
        expectError(.invalidShape, ["is 1e400, not an integer"]) { try read("[1e400]") }
        expectError(.invalidShape, ["is 1E2, not an integer"]) { try read("[1E2]") }
        expectError(.invalidShape, ["is 99999999999999999999999, too large"]) { try read("[0,99999999999999999999999]") }
        expectError(.invalidShape, ["9223372036854775808, too large"]) { try read("[9223372036854775808]") }
        expectError(.invalidShape, ["-9223372036854775808, not a non-negative"]) { try read("[-9223372036854775808]") }
        expectError(.invalidShape, ["is a string"]) { try read("[\"2\"]") }
        expectError(.invalidShape, ["is null"]) { try read("[null]") }
        expectError(.invalidShape, ["is an array"]) { try read("[[2]]") }
        expectError(.invalidShape, ["element count", "overflows"]) { try read("[4611686018427387904,4]") }
        expectError(.invalidShape, ["element count", "overflows"]) { try read("[9223372036854775807,9223372036854775807]") }
        expectError(.invalidShape, ["byte size", "overflows"]) { try read("[2305843009213693952]") }
        let manyDims = "[" + Array(repeating: "1", count: 40).joined(separator: ",") + ",3]"
        expectError(.byteCountMismatch, ["(41 dims)", "needs 12"]) { try read(manyDims) }
    }

    @Test("bad data_offsets, byte counts and overlaps")
    func offsetErrors() {
        func read(_ offsets: String, shape: String = "[2]", data: Int = 16) throws {
            let header = "{\"t\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":\(offsets)}}"
            _ = try SafeTensorsFile(bytes: rawFile(header, data: Array(repeating: 7, count: data)))
        }
        expectError(.invalidOffsets, ["'t'", "has 1 elements, expected 2"], key: "t") { try read("[8]") }
        expectError(.invalidOffsets, ["has 3 elements"]) { try read("[0,8,8]") }
        expectError(.invalidOffsets, ["has 0 elements"]) { try read("[]") }
        expectError(.invalidOffsets, ["begin is -1"]) { try read("[-1,7]") }
        expectError(.invalidOffsets, ["end is 8.0, not an integer"]) { try read("[0,8.0]") }
        expectError(.invalidOffsets, ["end is 1e400"]) { try read("[0,1e400]") }
        expectError(.invalidOffsets, ["begin is a string"]) { try read("[\"0\",8]") }
        expectError(.invalidOffsets, ["end is 18446744073709551616, too large"]) { try read("[0,18446744073709551616]") }
        expectError(.invalidOffsets, ["begin 12 is greater than end 4"]) { try read("[12,4]") }
        expectError(.invalidOffsets, ["end 24 is beyond the 16-byte data section"]) { try read("[16,24]") }
        expectError(.invalidOffsets, ["end 9223372036854775807 is beyond"]) {
            try read("[9223372036854775799,9223372036854775807]")
        }
        expectError(.byteCountMismatch, ["'t'", "span 4 bytes", "[2] of F32 needs 8"], key: "t") { try read("[0,4]") }
        expectError(.byteCountMismatch, ["span 0 bytes", "[] of F32 needs 4"]) { try read("[0,0]", shape: "[]") }
        // Gaps and trailing bytes are allowed.
        #expect(throws: Never.self) { try read("[4,12]", data: 20) }

        let overlapping = #"{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        expectError(.overlappingEntries, ["'a' [0, 8)", "'b' [4, 12)", "overlap"], key: "b") {
            _ = try SafeTensorsFile(bytes: rawFile(overlapping, data: Array(repeating: 0, count: 12)))
        }
        let same = #"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#
        expectError(.overlappingEntries, ["overlap"]) {
            _ = try SafeTensorsFile(bytes: rawFile(same, data: Array(repeating: 0, count: 4)))
        }
        // Zero-size tensors may share offsets with anything.
        let empties = #"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[0],"data_offsets":[2,2]},"c":{"dtype":"I64","shape":[3,0],"data_offsets":[2,2]}}"#
        #expect(throws: Never.self) { _ = try SafeTensorsFile(bytes: rawFile(empties, data: [1, 2, 3, 4])) }
    }

    @Test("bad metadata")
    func metadataErrors() throws {
        expectError(.invalidMetadata, ["\"__metadata__\" value for 'epoch' is a number, not a string"], key: "epoch") {
            _ = try SafeTensorsFile(bytes: rawFile(#"{"__metadata__":{"ok":"1","epoch":3}}"#))
        }
        expectError(.invalidMetadata, ["is an array, not an object"]) {
            _ = try SafeTensorsFile(bytes: rawFile(#"{"__metadata__":["a"]}"#))
        }
        expectError(.invalidMetadata, ["value for 'n' is an object"]) {
            _ = try SafeTensorsFile(bytes: rawFile(#"{"__metadata__":{"n":{}}}"#))
        }
        let file = try SafeTensorsFile(bytes: rawFile(#"  {"__metadata__":{"k":"v\u00e9\ud83d\ude00\n"}}  "#))
        #expect(file.metadata == ["k": "vé😀\n"])
        #expect(file.names.isEmpty)
    }

    @Test("reading a missing file or a directory throws io errors naming the path")
    func readFileErrors() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("missing.safetensors")
        expectError(.io, ["missing.safetensors", "No such file"]) { _ = try SafeTensorsFile(contentsOf: missing) }
        expectError(.io, ["directory"]) { _ = try SafeTensorsFile(contentsOf: directory) }
        let bad = directory.appendingPathComponent("bad.safetensors")
        try Data([1, 2, 3]).write(to: bad)
        do {
            _ = try SafeTensorsFile(contentsOf: bad)
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .fileTooShort)
            #expect(error.file == bad.path)
            #expect(error.description.contains(bad.path))
        }
    }

    // MARK: Fuzzing

    @Test("fuzz: truncations, mutations, random bytes and random JSON headers never crash", .timeLimit(.minutes(1)))
    func fuzz() throws {
        let base = try sampleFile().serialized()
        var successes = 0
        var kinds: [String: Int] = [:]
        func probe(_ bytes: [UInt8]) -> Bool {
            do {
                let file = try SafeTensorsFile(bytes: bytes)
                checkInvariants(file)
                successes += 1
                return true
            } catch {
                #expect(!error.message.isEmpty)
                kinds[error.kind.description, default: 0] += 1
                return false
            }
        }

        // (a) Every truncation: only the whole file is valid (it has no trailing bytes).
        for length in 0...base.count {
            let ok = probe(Array(base.prefix(length)))
            #expect(ok == (length == base.count), "truncation to \(length) of \(base.count)")
        }
        // ... and a dense sample of truncations of a reference file.
        if let directory = referenceDirectory {
            let reference = try [UInt8](Data(contentsOf: directory.appendingPathComponent("case_b.safetensors")))
            for length in stride(from: 0, to: reference.count, by: 997) + [reference.count - 1] {
                #expect(!probe(Array(reference.prefix(length))), "reference truncated to \(length)")
            }
        }

        // (b) Random mutations of the header and length prefix, and random splices.
        var rng = SeededGenerator(seed: 0x5AFE_7E45)
        let headerEnd = 8 + base[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let jsonBytes = Array("{}[]\":,-.0123456789eE tfn\\u".utf8)
        for _ in 0..<4000 {
            var bytes = base
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                switch rng.next() % 6 {
                case 0:  // flip a bit anywhere in prefix + header
                    let i = Int.random(in: 0..<headerEnd, using: &rng)
                    bytes[i] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                case 1:  // replace a header byte with a JSON-significant one
                    bytes[Int.random(in: 8..<headerEnd, using: &rng)] = jsonBytes.randomElement(using: &rng)!
                case 2:  // random byte in the length prefix
                    bytes[Int.random(in: 0..<8, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                case 3:  // splice random bytes into the header
                    let at = Int.random(in: 8...headerEnd, using: &rng)
                    let count = Int.random(in: 1...8, using: &rng)
                    bytes.insert(contentsOf: (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
                case 4:  // delete a range of the header
                    let at = Int.random(in: 8..<headerEnd, using: &rng)
                    bytes.removeSubrange(at..<min(at + Int.random(in: 1...6, using: &rng), headerEnd))
                default:  // random byte anywhere
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            _ = probe(bytes)
        }

        // (c) Fully random byte strings, some with a plausible length prefix.
        for _ in 0..<3000 {
            let length = Int.random(in: 0..<300, using: &rng)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if length >= 8, Bool.random(using: &rng) {
                let n = UInt64.random(in: 0...UInt64(length - 8), using: &rng)
                for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: n >> (8 * UInt64(i))) }
            }
            _ = probe(bytes)
        }

        // (d) Random JSON-ish headers: mostly well-formed entries, some fields replaced with random JSON.
        for _ in 0..<3000 {
            let (header, dataLength) = randomHeader(&rng)
            let data = (0..<dataLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = probe(rawFile(header, data: data))
        }

        // The fuzzer must have reached both success and many distinct failure kinds.
        #expect(successes > 100, "successes: \(successes)")
        #expect(kinds.count >= 10, "failure kinds: \(kinds)")
    }

    // MARK: Atomic writes

    @Test("write is atomic: overwrite leaves one complete file and no temp files")
    func atomicWrite() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("model.safetensors")

        let first = try sampleFile()
        try first.write(to: url)
        #expect(try SafeTensorsFile(contentsOf: url) == first)

        var second = SafeTensorsFile()
        try second.set("big", floats: (0..<100_000).map(Float.init), shape: [100, 1000])
        second.metadata = ["step": "2"]
        try second.write(to: url)
        let read = try SafeTensorsFile(contentsOf: url)
        #expect(read == second)
        #expect(try Data(contentsOf: url) == Data(second.serialized()))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["model.safetensors"])

        // Writing over a directory fails at the rename and cleans up its temp file.
        let subdirectory = directory.appendingPathComponent("taken")
        try FileManager.default.createDirectory(at: subdirectory, withIntermediateDirectories: false)
        expectError(.io, ["rename", "taken"]) { try first.write(to: subdirectory) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            == ["model.safetensors", "taken"])
    }

    @Test("writing into a missing or unwritable directory throws a clear error")
    func writeErrors() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try sampleFile()

        let missing = directory.appendingPathComponent("no-such-dir/model.safetensors")
        expectError(.io, ["temporary file", "no-such-dir", "No such file or directory"]) { try file.write(to: missing) }

        let plain = directory.appendingPathComponent("plain-file")
        try Data([0]).write(to: plain)
        expectError(.io, ["plain-file", "Not a directory"]) {
            try file.write(to: plain.appendingPathComponent("model.safetensors"))
        }

        // A read-only directory: permissions stop ordinary users; root is stopped by /proc instead.
        if getuid() != 0 {
            let locked = directory.appendingPathComponent("locked")
            try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: false)
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: locked.path)
            defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: locked.path) }
            expectError(.io, ["locked", "Permission denied"]) { try file.write(to: locked.appendingPathComponent("m.safetensors")) }
        } else {
            expectError(.io, ["temporary file", "/proc"]) {
                try file.write(to: URL(fileURLWithPath: "/proc/model.safetensors"))
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["plain-file"])
    }
}

// MARK: - Random headers for the fuzzer

private func randomHeader(_ rng: inout SeededGenerator) -> (String, Int) {
    var members: [String] = []
    var offset = 0
    let dtypes: [(String, Int)] = [("F32", 4), ("I64", 8), ("U8", 1)]
    for i in 0..<Int.random(in: 0...4, using: &rng) {
        let (dtype, size) = dtypes.randomElement(using: &rng)!
        let shape = (0..<Int.random(in: 0...3, using: &rng)).map { _ in Int.random(in: 0...3, using: &rng) }
        let bytes = shape.reduce(1, *) * size
        if Int.random(in: 0..<6, using: &rng) == 0 { offset = max(0, offset - Int.random(in: 1...8, using: &rng)) }
        var fields = [
            "\"dtype\":\"\(dtype)\"",
            "\"shape\":[\(shape.map(String.init).joined(separator: ","))]",
            "\"data_offsets\":[\(offset),\(offset + bytes)]",
        ]
        offset += bytes
        if Int.random(in: 0..<3, using: &rng) == 0 {  // corrupt one field
            let j = Int.random(in: 0..<fields.count, using: &rng)
            let name = ["\"dtype\"", "\"shape\"", "\"data_offsets\""][j]
            fields[j] = "\(name):\(randomJSON(&rng, depth: 0))"
        }
        if Int.random(in: 0..<8, using: &rng) == 0 { fields.removeLast() }
        if Int.random(in: 0..<8, using: &rng) == 0 { fields.append("\"extra\":\(randomJSON(&rng, depth: 0))") }
        fields.shuffle(using: &rng)
        let name = Int.random(in: 0..<10, using: &rng) == 0 ? randomString(&rng) : "\"t\(i)\""
        members.append("\(name):{\(fields.joined(separator: ","))}")
    }
    switch Int.random(in: 0..<6, using: &rng) {
    case 0: members.append("\"__metadata__\":{\"a\":\"b\",\"c\":\(randomString(&rng))}")
    case 1: members.append("\"__metadata__\":\(randomJSON(&rng, depth: 0))")
    case 2: members.append("\(randomString(&rng)):\(randomJSON(&rng, depth: 0))")
    default: break
    }
    members.shuffle(using: &rng)
    var header = "{" + members.joined(separator: ",") + "}"
    if Int.random(in: 0..<10, using: &rng) == 0 { header = randomJSON(&rng, depth: 0) }
    header += String(repeating: " ", count: Int.random(in: 0...7, using: &rng))
    let slack = Int.random(in: 0..<4, using: &rng) == 0 ? Int.random(in: -8...8, using: &rng) : 0
    return (header, max(0, offset + slack))
}

private func randomString(_ rng: inout SeededGenerator) -> String {
    ["\"\"", "\"F32\"", "\"I64\"", "\"U8\"", "\"BF16\"", "\"__metadata__\"", "\"\\u0000\"", "\"\\ud800\"",
     "\"\\ud83d\\ude00\"", "\"é\"", "\"a\\\"b\"", "\"\\n\"", "\"t0\""].randomElement(using: &rng)!
}

private func randomJSON(_ rng: inout SeededGenerator, depth: Int) -> String {
    switch Int.random(in: 0..<(depth > 3 ? 3 : 6), using: &rng) {
    case 0:
        return ["0", "1", "-0", "3.5", "1e400", "-1", "1E2", "0.0", "99999999999999999999999", "9223372036854775807",
                "9223372036854775808", "-9223372036854775808", "4611686018427387904", "12",
                String(Int.random(in: 0...100, using: &rng))].randomElement(using: &rng)!
    case 1: return randomString(&rng)
    case 2: return ["true", "false", "null"].randomElement(using: &rng)!
    case 3, 4:
        let elements = (0..<Int.random(in: 0...3, using: &rng)).map { _ in randomJSON(&rng, depth: depth + 1) }
        return "[" + elements.joined(separator: ",") + "]"
    default:
        let keys = ["\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"x\""]
        let members = (0..<Int.random(in: 0...3, using: &rng)).map { i in
            "\(keys[(i + Int.random(in: 0..<keys.count, using: &rng)) % keys.count]):\(randomJSON(&rng, depth: depth + 1))"
        }
        return "{" + members.joined(separator: ",") + "}"
    }
}
