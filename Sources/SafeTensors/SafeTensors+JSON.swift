// A small, strict JSON reader and writer for safetensors headers.
//
// Hand-written rather than JSONSerialization so that it keeps key order (tensor names come back in file
// order), rejects duplicate keys, keeps integers exact (1e400, -0, 3.5 and 2^70 are told apart from valid
// dimensions instead of being rounded through Double), and bounds nesting depth so hostile input cannot
// exhaust the stack. Every index is checked explicitly, and the target is built with normal checks as well.

/// A parsed JSON value; objects keep their members in document order.
enum SafeTensorsJSON: Sendable {
    case object([(key: String, value: SafeTensorsJSON)])
    case array([SafeTensorsJSON])
    case string(String)
    case number(Number)
    case bool(Bool)
    case null

    /// A JSON number as written, with its exact integer value when it has one.
    struct Number: Sendable {
        /// The literal (shortened to 40 characters for messages).
        var text: String
        /// Written with a leading minus sign (so `-0` counts as negative).
        var isNegative: Bool
        /// Written without a fraction or exponent.
        var isIntegerLiteral: Bool
        /// The value when it is an integer literal that fits in `Int`.
        var intValue: Int?
    }

    /// "an object", "a string", ... for error messages.
    var typeDescription: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }
}

/// Parses one JSON document from UTF-8 bytes that have already been validated as UTF-8.
struct SafeTensorsJSONParser {
    /// Deepest nesting accepted; a safetensors header needs 3.
    static let maxDepth = 64

    private let bytes: UnsafeBufferPointer<UInt8>
    private var pos = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// Parses `bytes` as exactly one JSON value surrounded by optional whitespace.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(SafeTensorsError) -> SafeTensorsJSON {
        var parser = SafeTensorsJSONParser(bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.pos == bytes.count else { throw parser.error("unexpected data after the top-level value") }
        return value
    }

    // MARK: Values

    private mutating func parseValue(depth: Int) throws(SafeTensorsError) -> SafeTensorsJSON {
        guard depth < Self.maxDepth else { throw error("values nested deeper than \(Self.maxDepth) levels") }
        guard pos < bytes.count else { throw error("unexpected end of header, expected a value") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        default: throw error("unexpected character \(describeByte(bytes[pos])), expected a value")
        }
    }

    private mutating func parseObject(depth: Int) throws(SafeTensorsError) -> SafeTensorsJSON {
        pos += 1  // "{"
        var members: [(key: String, value: SafeTensorsJSON)] = []
        var seen = Set<String>()
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") {
            pos += 1
            return .object(members)
        }
        while true {
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else {
                throw error("expected a string key in object")
            }
            let keyStart = pos
            let key = try parseString()
            guard seen.insert(key).inserted else {
                pos = keyStart
                throw error("duplicate key \(SafeTensorsFile.quoted(key))", key: key)
            }
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw error("expected ':' after object key") }
            pos += 1
            skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            members.append((key, value))
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of header inside an object") }
            if bytes[pos] == UInt8(ascii: ",") {
                pos += 1
                skipWhitespace()
            } else if bytes[pos] == UInt8(ascii: "}") {
                pos += 1
                return .object(members)
            } else {
                throw error("expected ',' or '}' in object, found \(describeByte(bytes[pos]))")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(SafeTensorsError) -> SafeTensorsJSON {
        pos += 1  // "["
        var elements: [SafeTensorsJSON] = []
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") {
            pos += 1
            return .array(elements)
        }
        while true {
            elements.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of header inside an array") }
            if bytes[pos] == UInt8(ascii: ",") {
                pos += 1
                skipWhitespace()
            } else if bytes[pos] == UInt8(ascii: "]") {
                pos += 1
                return .array(elements)
            } else {
                throw error("expected ',' or ']' in array, found \(describeByte(bytes[pos]))")
            }
        }
    }

    // MARK: Strings

    private mutating func parseString() throws(SafeTensorsError) -> String {
        pos += 1  // opening quote
        let start = pos
        // Fast path: no escapes.
        while pos < bytes.count {
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") {
                let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
                pos += 1
                return text
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw error("unescaped control character \(describeByte(c)) in string") }
            pos += 1
        }
        guard pos < bytes.count else { throw error("unterminated string") }

        var utf8 = Array(UnsafeBufferPointer(rebasing: bytes[start..<pos]))
        while true {
            guard pos < bytes.count else { throw error("unterminated string") }
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") {
                pos += 1
                return String(decoding: utf8, as: UTF8.self)
            }
            if c < 0x20 { throw error("unescaped control character \(describeByte(c)) in string") }
            if c != UInt8(ascii: "\\") {
                utf8.append(c)
                pos += 1
                continue
            }
            pos += 1
            guard pos < bytes.count else { throw error("unterminated escape sequence") }
            let escape = bytes[pos]
            pos += 1
            switch escape {
            case UInt8(ascii: "\""): utf8.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): utf8.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): utf8.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                let unit = try parseHex4()
                var scalarValue = UInt32(unit)
                if (0xD800...0xDBFF).contains(unit) {
                    guard pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired UTF-16 surrogate in string escape")
                    }
                    pos += 2
                    let low = try parseHex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired UTF-16 surrogate in string escape") }
                    scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(unit) {
                    throw error("unpaired UTF-16 surrogate in string escape")
                }
                guard let scalar = Unicode.Scalar(scalarValue) else { throw error("invalid Unicode escape") }
                utf8.append(contentsOf: UTF8.encode(scalar)!)
            default:
                pos -= 1
                throw error("invalid escape sequence \\\(describeByte(escape))")
            }
        }
    }

    private mutating func parseHex4() throws(SafeTensorsError) -> UInt16 {
        guard pos + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit \(describeByte(c)) in \\u escape")
            }
            value = value << 4 | UInt16(digit)
            pos += 1
        }
        return value
    }

    // MARK: Numbers

    private mutating func parseNumber() throws(SafeTensorsError) -> SafeTensorsJSON.Number {
        let start = pos
        var isNegative = false
        if bytes[pos] == UInt8(ascii: "-") {
            isNegative = true
            pos += 1
        }
        guard pos < bytes.count, isDigit(bytes[pos]) else { throw error("invalid number: expected a digit") }
        let digitsStart = pos
        if bytes[pos] == UInt8(ascii: "0") {
            pos += 1
        } else {
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        }
        let digitsEnd = pos
        var isIntegerLiteral = true
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            pos += 1
            guard pos < bytes.count, isDigit(bytes[pos]) else { throw error("invalid number: expected a digit after '.'") }
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
            isIntegerLiteral = false
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < bytes.count, isDigit(bytes[pos]) else { throw error("invalid number: expected a digit in exponent") }
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
            isIntegerLiteral = false
        }

        var intValue: Int?
        if isIntegerLiteral {
            // Accumulate negatively so Int.min is representable; nil on overflow.
            var value = 0
            var overflow = false
            for i in digitsStart..<digitsEnd {
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (next, o2) = times10.subtractingReportingOverflow(Int(bytes[i] - UInt8(ascii: "0")))
                if o1 || o2 {
                    overflow = true
                    break
                }
                value = next
            }
            if !overflow {
                if isNegative {
                    intValue = value
                } else if value != Int.min {
                    intValue = -value
                }
            }
        }
        let length = pos - start
        let shown = UnsafeBufferPointer(rebasing: bytes[start..<(start + min(length, 40))])
        var text = String(decoding: shown, as: UTF8.self)
        if length > 40 { text += "…" }
        return .init(text: text, isNegative: isNegative, isIntegerLiteral: isIntegerLiteral, intValue: intValue)
    }

    // MARK: Helpers

    private mutating func expectLiteral(_ literal: StaticString) throws(SafeTensorsError) {
        let count = literal.utf8CodeUnitCount
        guard pos + count <= bytes.count else { throw error("invalid literal, expected \(literal)") }
        let expected = UnsafeBufferPointer(start: literal.utf8Start, count: count)
        for i in 0..<count where bytes[pos + i] != expected[i] {
            throw error("invalid literal, expected \(literal)")
        }
        pos += count
    }

    private mutating func skipWhitespace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private func describeByte(_ c: UInt8) -> String {
        if c >= 0x21 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        return "0x" + (c < 16 ? "0" : "") + String(c, radix: 16, uppercase: true)
    }

    private func error(_ what: String, key: String? = nil) -> SafeTensorsError {
        SafeTensorsError(.invalidHeader, "header is not valid JSON at byte \(pos) of the header: \(what)", key: key)
    }
}

/// Appends JSON text to a byte buffer (used by the writer).
enum SafeTensorsJSONWriter {
    /// Appends `string` as a quoted JSON string, escaping quotes, backslashes and control characters.
    static func appendString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for c in string.utf8 {
            switch c {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(c >> 4)])
                out.append(hex[Int(c & 0xF)])
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends an ASCII literal.
    static func append(_ text: String, to out: inout [UInt8]) {
        out.append(contentsOf: text.utf8)
    }
}
