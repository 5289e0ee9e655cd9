/// An error reading, building or writing a safetensors file.
///
/// Compare `kind` to tell failures apart; `message` is a human-readable sentence that names the offending
/// tensor (also in `key`) and, for files, `file` holds the path.
public struct SafeTensorsError: Error, CustomStringConvertible, Sendable {
    /// The category of a failure, compared with `==` (for example `error.kind == .unsupportedDType`).
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Code: String, Hashable, Sendable {
            case fileTooShort
            case invalidHeaderLength
            case invalidHeader
            case invalidEntry
            case unsupportedDType
            case invalidShape
            case invalidOffsets
            case byteCountMismatch
            case overlappingEntries
            case invalidMetadata
            case tensorNotFound
            case dtypeMismatch
            case elementCountMismatch
            case invalidName
            case io
        }

        private let code: Code
        private init(_ code: Code) { self.code = code }

        /// The file is shorter than the 8-byte header length prefix.
        public static let fileTooShort = Kind(.fileTooShort)
        /// The header length prefix is larger than the rest of the file or than the 100 MB limit.
        public static let invalidHeaderLength = Kind(.invalidHeaderLength)
        /// The header is not valid UTF-8 JSON, not an object, or repeats a key.
        public static let invalidHeader = Kind(.invalidHeader)
        /// A tensor entry is not an object or lacks a well-typed `dtype`, `shape` or `data_offsets`.
        public static let invalidEntry = Kind(.invalidEntry)
        /// A tensor's dtype is unknown or not one of F32, I64, U8.
        public static let unsupportedDType = Kind(.unsupportedDType)
        /// A shape has a negative, non-integer or too large dimension, or its element count overflows.
        public static let invalidShape = Kind(.invalidShape)
        /// `data_offsets` are not two non-negative integers with begin <= end inside the data section.
        public static let invalidOffsets = Kind(.invalidOffsets)
        /// A tensor's byte range does not hold exactly element count * dtype size bytes.
        public static let byteCountMismatch = Kind(.byteCountMismatch)
        /// Two tensors' byte ranges overlap.
        public static let overlappingEntries = Kind(.overlappingEntries)
        /// `__metadata__` is not an object of string values.
        public static let invalidMetadata = Kind(.invalidMetadata)
        /// No tensor has the requested name.
        public static let tensorNotFound = Kind(.tensorNotFound)
        /// A tensor was read as a dtype it does not have.
        public static let dtypeMismatch = Kind(.dtypeMismatch)
        /// Values given to `set` do not match the product of the shape.
        public static let elementCountMismatch = Kind(.elementCountMismatch)
        /// A tensor name is reserved (`__metadata__`).
        public static let invalidName = Kind(.invalidName)
        /// Reading or writing the file failed in the operating system.
        public static let io = Kind(.io)

        /// The kind's name, for example `unsupportedDType`.
        public var description: String { code.rawValue }
    }

    /// What went wrong, for matching.
    public var kind: Kind
    /// A sentence describing the failure, naming the key when there is one.
    public var message: String
    /// The tensor (or header key) the failure is about, if any.
    public var key: String?
    /// The path of the file being read or written, if any.
    public var file: String?
    /// The underlying error, if any.
    public var cause: (any Error)?

    /// Makes an error of `kind` with a message and optional context.
    public init(_ kind: Kind, _ message: String, key: String? = nil, file: String? = nil, cause: (any Error)? = nil) {
        self.kind = kind
        self.message = message
        self.key = key
        self.file = file
        self.cause = cause
    }

    /// `safetensors[ <file>]: <message>[ (cause: ...)]`.
    public var description: String {
        var text = "safetensors"
        if let file { text += " \(file)" }
        text += ": \(message)"
        if let cause { text += " (cause: \(cause))" }
        return text
    }

    /// The same error with `file` set, used when a read from a path fails.
    func with(file path: String) -> SafeTensorsError {
        var copy = self
        copy.file = path
        return copy
    }
}
