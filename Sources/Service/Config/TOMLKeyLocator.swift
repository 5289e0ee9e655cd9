/// Finds the line of each key in a TOML document, so that problems found after parsing (unknown keys, values out
/// of range) can name a line. TOMLKit reports lines only for syntax errors.
///
/// This is a small scanner for *valid* TOML (it runs after TOMLKit accepted the text): it follows table headers,
/// arrays of tables, dotted keys, inline tables and arrays, and skips strings of every kind and comments.
struct TOMLKeyLocator: Sendable {
    /// The first line on which each path is defined.
    private(set) var lines: [ConfigKeyPath: Int] = [:]

    init(_ text: String) {
        var s = Scanner(bytes: Array(text.utf8))
        s.document()
        lines = s.lines
    }

    /// The line where `path` itself is defined.
    func line(of path: ConfigKeyPath) -> Int? { lines[path] }

    /// The line of `path`, or of its nearest enclosing table or array that has one.
    func nearestLine(of path: ConfigKeyPath) -> Int? {
        var p = path
        while true {
            if let l = lines[p] { return l }
            if p.isRoot { return nil }
            p = p.parent
        }
    }
}

private struct Scanner {
    let bytes: [UInt8]
    var i = 0
    var line = 1
    var lines: [ConfigKeyPath: Int] = [:]
    /// Number of `[[...]]` tables seen so far for each (resolved) array-of-tables path.
    var arrayCounts: [ConfigKeyPath: Int] = [:]
    var prefix = ConfigKeyPath.root

    init(bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { i >= bytes.count }
    func peek(_ k: Int = 0) -> UInt8? { i + k < bytes.count ? bytes[i + k] : nil }

    mutating func advance() {
        if bytes[i] == UInt8(ascii: "\n") { line += 1 }
        i += 1
    }

    mutating func record(_ path: ConfigKeyPath, _ at: Int) {
        if lines[path] == nil { lines[path] = at }
    }

    mutating func skipSpaces() {
        while let c = peek(), c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") { advance() }
    }

    /// Spaces, newlines and comments.
    mutating func skipBlank() {
        while let c = peek() {
            if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") || c == UInt8(ascii: "\n") {
                advance()
            } else if c == UInt8(ascii: "#") {
                skipLine()
            } else { return }
        }
    }

    /// Up to (not past) the next newline.
    mutating func skipLine() {
        while let c = peek(), c != UInt8(ascii: "\n") { advance() }
    }

    mutating func document() {
        while true {
            skipBlank()
            guard let c = peek() else { return }
            if c == UInt8(ascii: "[") {
                header()
            } else {
                keyValue(in: prefix)
            }
            skipLine()
        }
    }

    mutating func header() {
        let at = line
        let isArray = peek(1) == UInt8(ascii: "[")
        advance(); if isArray { advance() }
        let keys = keyParts()
        skipSpaces()
        if peek() == UInt8(ascii: "]") { advance() }
        if isArray, peek() == UInt8(ascii: "]") { advance() }

        var p = ConfigKeyPath.root
        for (n, k) in keys.enumerated() {
            p = p.appending(k)
            let last = n == keys.count - 1
            if last && isArray {
                record(p, at)
                let count = arrayCounts[p, default: 0]
                arrayCounts[p] = count + 1
                p = p.appending(index: count)
            } else if let count = arrayCounts[p] {
                p = p.appending(index: count - 1)
            }
            record(p, at)
        }
        prefix = p
    }

    /// A dotted key: `a."b c".'d'`.
    mutating func keyParts() -> [String] {
        var parts: [String] = []
        while true {
            skipSpaces()
            guard let c = peek() else { return parts }
            if c == UInt8(ascii: "\"") {
                parts.append(basicString())
            } else if c == UInt8(ascii: "'") {
                parts.append(literalString())
            } else {
                let start = i
                while let c = peek(), isBareKeyByte(c) { advance() }
                parts.append(String(decoding: bytes[start..<i], as: UTF8.self))
            }
            skipSpaces()
            if peek() == UInt8(ascii: ".") { advance() } else { return parts }
        }
    }

    func isBareKeyByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
    }

    mutating func keyValue(in base: ConfigKeyPath) {
        let at = line
        let keys = keyParts()
        var p = base
        for k in keys {
            p = p.appending(k)
            record(p, at)
        }
        skipSpaces()
        if peek() == UInt8(ascii: "=") { advance() }
        skipSpaces()
        value(at: p)
    }

    mutating func value(at path: ConfigKeyPath) {
        guard let c = peek() else { return }
        switch c {
        case UInt8(ascii: "\""):
            if peek(1) == UInt8(ascii: "\""), peek(2) == UInt8(ascii: "\"") { multiLine(quote: c) } else { _ = basicString() }
        case UInt8(ascii: "'"):
            if peek(1) == UInt8(ascii: "'"), peek(2) == UInt8(ascii: "'") { multiLine(quote: c) } else { _ = literalString() }
        case UInt8(ascii: "["):
            array(at: path)
        case UInt8(ascii: "{"):
            inlineTable(at: path)
        default:
            while let c = peek(), !isValueEnd(c) { advance() }
        }
    }

    func isValueEnd(_ c: UInt8) -> Bool {
        c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") || c == UInt8(ascii: "\n")
            || c == UInt8(ascii: ",") || c == UInt8(ascii: "]") || c == UInt8(ascii: "}") || c == UInt8(ascii: "#")
    }

    mutating func array(at path: ConfigKeyPath) {
        advance()  // [
        var index = 0
        var expectValue = true
        while true {
            skipBlank()
            guard let c = peek() else { return }
            if c == UInt8(ascii: "]") { advance(); return }
            if c == UInt8(ascii: ",") { advance(); index += 1; expectValue = true; continue }
            let p = path.appending(index: index)
            if expectValue { record(p, line) }
            value(at: p)
            expectValue = false
        }
    }

    mutating func inlineTable(at path: ConfigKeyPath) {
        advance()  // {
        while true {
            skipBlank()
            guard let c = peek() else { return }
            if c == UInt8(ascii: "}") { advance(); return }
            if c == UInt8(ascii: ",") { advance(); continue }
            keyValue(in: path)
        }
    }

    /// A `"..."` string; returns its decoded text (used for quoted keys).
    mutating func basicString() -> String {
        advance()  // "
        var out: [UInt8] = []
        while let c = peek() {
            if c == UInt8(ascii: "\"") { advance(); break }
            if c == UInt8(ascii: "\\"), let e = peek(1) {
                advance(); advance()
                switch e {
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let n = e == UInt8(ascii: "u") ? 4 : 8
                    var v: UInt32 = 0
                    for _ in 0..<n {
                        guard let h = peek(), let d = hexValue(h) else { break }
                        v = v * 16 + d
                        advance()
                    }
                    if let s = Unicode.Scalar(v) { out.append(contentsOf: Array(String(Character(s)).utf8)) }
                default: out.append(e)
                }
                continue
            }
            out.append(c)
            advance()
        }
        return String(decoding: out, as: UTF8.self)
    }

    func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(c - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// A `'...'` string; returns its text.
    mutating func literalString() -> String {
        advance()  // '
        let start = i
        while let c = peek(), c != UInt8(ascii: "'") { advance() }
        let s = String(decoding: bytes[start..<i], as: UTF8.self)
        if !atEnd { advance() }
        return s
    }

    /// `"""..."""` or `'''...'''`; a closing run may carry up to two extra quotes that belong to the content.
    mutating func multiLine(quote q: UInt8) {
        advance(); advance(); advance()
        while let c = peek() {
            if q == UInt8(ascii: "\""), c == UInt8(ascii: "\\") { advance(); if !atEnd { advance() }; continue }
            if c == q, peek(1) == q, peek(2) == q {
                advance(); advance(); advance()
                var extra = 0
                while extra < 2, peek() == q { advance(); extra += 1 }
                return
            }
            advance()
        }
    }
}
