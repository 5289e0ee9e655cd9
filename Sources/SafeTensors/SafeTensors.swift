// safetensors files: an 8-byte little-endian header length N, N bytes of UTF-8 JSON header mapping each tensor
// name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data section) plus an optional
// "__metadata__" object of strings, then the raw little-endian tensor data.
//
// This file: the in-memory model and typed accessors. Reading lives in SafeTensors+Read.swift, the JSON header
// codec in SafeTensors+JSON.swift, serialisation and atomic file writes in SafeTensors+Write.swift.

/// The element types this implementation reads and writes.
public enum SafeTensorsDType: String, Sendable, Hashable, CaseIterable {
    /// 32-bit IEEE float.
    case f32 = "F32"
    /// 64-bit signed integer.
    case i64 = "I64"
    /// 8-bit unsigned integer.
    case u8 = "U8"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32: 4
        case .i64: 8
        case .u8: 1
        }
    }
}

/// One tensor of a safetensors file: its dtype, shape and raw little-endian bytes.
public struct SafeTensorsEntry: Sendable, Hashable {
    /// Element type.
    public var dtype: SafeTensorsDType
    /// Dimensions, outermost first; `[]` is a 0-d scalar with one element.
    public var shape: [Int]
    /// Raw little-endian element bytes, `elementCount * dtype.byteSize` of them.
    public var bytes: [UInt8]

    /// Makes an entry after checking the shape and that `bytes` holds exactly one value per element.
    public init(dtype: SafeTensorsDType, shape: [Int], bytes: [UInt8]) throws(SafeTensorsError) {
        let byteCount = try Self.checkedByteCount(dtype: dtype, shape: shape, key: nil)
        guard bytes.count == byteCount else {
            throw SafeTensorsError(
                .byteCountMismatch,
                "\(bytes.count) bytes given for shape \(SafeTensorsFile.describe(shape)) of \(dtype.rawValue), which needs \(byteCount)")
        }
        self.init(unchecked: dtype, shape: shape, bytes: bytes)
    }

    init(unchecked dtype: SafeTensorsDType, shape: [Int], bytes: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// The product of `shape` (1 for a 0-d scalar, 0 if any dimension is 0); -1 if a dimension is negative or the
    /// product overflows, which only an entry edited by hand can have.
    public var elementCount: Int { Self.checkedElementCount(shape) ?? -1 }

    /// The product of `shape`, or nil when a dimension is negative or the product overflows `Int`.
    /// A zero dimension makes the count 0 whatever the other dimensions are.
    static func checkedElementCount(_ shape: [Int]) -> Int? {
        var count = 1
        var overflow = false
        for dim in shape {
            if dim < 0 { return nil }
            if dim == 0 { return shape.contains(where: { $0 < 0 }) ? nil : 0 }
            if !overflow {
                let (product, o) = count.multipliedReportingOverflow(by: dim)
                count = product
                overflow = o
            }
        }
        return overflow ? nil : count
    }

    /// Byte size of a tensor of `shape` and `dtype`, or an `invalidShape` error naming `key`.
    static func checkedByteCount(dtype: SafeTensorsDType, shape: [Int], key: String?) throws(SafeTensorsError) -> Int {
        let subject = key.map { "tensor \(SafeTensorsFile.quoted($0)): " } ?? ""
        if let index = shape.firstIndex(where: { $0 < 0 }) {
            throw SafeTensorsError(
                .invalidShape, "\(subject)shape dimension \(index) is \(shape[index]), not a non-negative integer", key: key)
        }
        guard let count = checkedElementCount(shape) else {
            throw SafeTensorsError(
                .invalidShape, "\(subject)element count of shape \(SafeTensorsFile.describe(shape)) overflows", key: key)
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else {
            throw SafeTensorsError(
                .invalidShape,
                "\(subject)byte size of shape \(SafeTensorsFile.describe(shape)) of \(dtype.rawValue) overflows", key: key)
        }
        return byteCount
    }
}

/// A whole safetensors file in memory: named tensors in order plus string metadata.
public struct SafeTensorsFile: Sendable, Equatable {
    /// The `__metadata__` strings (written with sorted keys; omitted when empty).
    public var metadata: [String: String] = [:]
    /// Tensor names in file order (after reading) or insertion order (when building).
    public private(set) var names: [String] = []
    /// Entries parallel to `names`.
    private var entries: [SafeTensorsEntry] = []
    /// Position of each name in `names`.
    private var index: [String: Int] = [:]

    /// The key reserved for metadata in the header; not allowed as a tensor name.
    public static let metadataKey = "__metadata__"

    /// An empty file, for writing.
    public init() {}

    /// Number of tensors.
    public var count: Int { names.count }

    /// The tensor named `name`, or nil.
    public subscript(name: String) -> SafeTensorsEntry? {
        guard let i = index[name] else { return nil }
        return entries[i]
    }

    /// The tensor named `name`, or a `tensorNotFound` error.
    public func entry(_ name: String) throws(SafeTensorsError) -> SafeTensorsEntry {
        guard let i = index[name] else {
            throw SafeTensorsError(.tensorNotFound, "no tensor named \(Self.quoted(name))", key: name)
        }
        return entries[i]
    }

    /// The shape of tensor `name`.
    public func shape(_ name: String) throws(SafeTensorsError) -> [Int] {
        try entry(name).shape
    }

    /// The values of F32 tensor `name`, in row-major order.
    public func floats(_ name: String) throws(SafeTensorsError) -> [Float] {
        let bytes = try typedBytes(name, .f32)
        return Self.decode(bytes, as: Float.self) { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
    }

    /// The values of I64 tensor `name`, in row-major order.
    public func int64s(_ name: String) throws(SafeTensorsError) -> [Int64] {
        let bytes = try typedBytes(name, .i64)
        return Self.decode(bytes, as: Int64.self) { Int64(littleEndian: $0) }
    }

    /// The values of U8 tensor `name`, in row-major order.
    public func uint8s(_ name: String) throws(SafeTensorsError) -> [UInt8] {
        try typedBytes(name, .u8)
    }

    /// Adds or replaces F32 tensor `name`; `floats.count` must equal the product of `shape`.
    public mutating func set(_ name: String, floats: [Float], shape: [Int]) throws(SafeTensorsError) {
        try checkCount(name, floats.count, shape, .f32)
        let bytes = Self.encode(floats) { Float(bitPattern: $0.bitPattern.littleEndian) }
        insert(name, SafeTensorsEntry(unchecked: .f32, shape: shape, bytes: bytes))
    }

    /// Adds or replaces I64 tensor `name`; `int64s.count` must equal the product of `shape`.
    public mutating func set(_ name: String, int64s: [Int64], shape: [Int]) throws(SafeTensorsError) {
        try checkCount(name, int64s.count, shape, .i64)
        let bytes = Self.encode(int64s) { $0.littleEndian }
        insert(name, SafeTensorsEntry(unchecked: .i64, shape: shape, bytes: bytes))
    }

    /// Adds or replaces U8 tensor `name`; `uint8s.count` must equal the product of `shape`.
    public mutating func set(_ name: String, uint8s: [UInt8], shape: [Int]) throws(SafeTensorsError) {
        try checkCount(name, uint8s.count, shape, .u8)
        insert(name, SafeTensorsEntry(unchecked: .u8, shape: shape, bytes: uint8s))
    }

    /// Adds or replaces tensor `name` with an entry (for example one taken from another file), after checking it.
    public mutating func set(_ name: String, entry: SafeTensorsEntry) throws(SafeTensorsError) {
        try checkName(name)
        let byteCount = try SafeTensorsEntry.checkedByteCount(dtype: entry.dtype, shape: entry.shape, key: name)
        guard entry.bytes.count == byteCount else {
            throw SafeTensorsError(
                .byteCountMismatch,
                "tensor \(Self.quoted(name)): \(entry.bytes.count) bytes given for shape \(Self.describe(entry.shape)) of \(entry.dtype.rawValue), which needs \(byteCount)",
                key: name)
        }
        insert(name, entry)
    }

    /// Removes tensor `name` and returns it, or returns nil if there is none.
    @discardableResult
    public mutating func remove(_ name: String) -> SafeTensorsEntry? {
        guard let i = index.removeValue(forKey: name) else { return nil }
        names.remove(at: i)
        let removed = entries.remove(at: i)
        for j in i..<names.count { index[names[j]] = j }
        return removed
    }

    // MARK: Internals

    /// Entries in `names` order, for the writer.
    var orderedEntries: [SafeTensorsEntry] { entries }

    /// Appends a new name or replaces an existing one in place. The entry must already be valid.
    mutating func insert(_ name: String, _ entry: SafeTensorsEntry) {
        if let i = index[name] {
            entries[i] = entry
        } else {
            index[name] = names.count
            names.append(name)
            entries.append(entry)
        }
    }

    private func typedBytes(_ name: String, _ dtype: SafeTensorsDType) throws(SafeTensorsError) -> [UInt8] {
        let entry = try entry(name)
        guard entry.dtype == dtype else {
            throw SafeTensorsError(
                .dtypeMismatch,
                "tensor \(Self.quoted(name)) has dtype \(entry.dtype.rawValue), expected \(dtype.rawValue)", key: name)
        }
        return entry.bytes
    }

    private func checkName(_ name: String) throws(SafeTensorsError) {
        guard name != Self.metadataKey else {
            throw SafeTensorsError(.invalidName, "\(Self.quoted(name)) is reserved for metadata, not a tensor name", key: name)
        }
    }

    private func checkCount(_ name: String, _ count: Int, _ shape: [Int], _ dtype: SafeTensorsDType) throws(SafeTensorsError) {
        try checkName(name)
        _ = try SafeTensorsEntry.checkedByteCount(dtype: dtype, shape: shape, key: name)
        let expected = SafeTensorsEntry.checkedElementCount(shape) ?? -1
        guard count == expected else {
            throw SafeTensorsError(
                .elementCountMismatch,
                "tensor \(Self.quoted(name)): \(count) values given for shape \(Self.describe(shape)), which has \(expected) elements",
                key: name)
        }
    }

    /// Copies little-endian bytes into values (memcpy: no alignment needed), converting on big-endian hosts.
    static func decode<T>(_ bytes: [UInt8], as type: T.Type, fromLittleEndian convert: (T) -> T) -> [T] {
        let size = MemoryLayout<T>.stride
        let n = bytes.count / size
        return [T](unsafeUninitializedCapacity: n) { out, initialized in
            if n > 0, let destination = out.baseAddress {
                bytes.withUnsafeBytes { raw in
                    if let source = raw.baseAddress {
                        UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: n * size)
                    }
                }
            }
            #if _endian(big)
            for i in 0..<n { out[i] = convert(out[i]) }
            #endif
            initialized = n
        }
    }

    /// Copies values into little-endian bytes.
    static func encode<T>(_ values: [T], toLittleEndian convert: (T) -> T) -> [UInt8] {
        #if _endian(big)
        let values = values.map(convert)
        #endif
        return values.withUnsafeBytes { Array($0) }
    }

    /// A key in quotes for messages, shortened when very long.
    static func quoted(_ key: String) -> String {
        let limit = 200
        if key.utf8.count <= limit { return "'\(key)'" }
        return "'\(String(key.prefix(limit)))…'"
    }

    /// A shape like `[2, 3]` for messages, shortened when it has very many dimensions.
    static func describe(_ shape: [Int]) -> String {
        let limit = 16
        let shown = shape.prefix(limit).map(String.init).joined(separator: ", ")
        return shape.count > limit ? "[\(shown), … (\(shape.count) dims)]" : "[\(shown)]"
    }
}
