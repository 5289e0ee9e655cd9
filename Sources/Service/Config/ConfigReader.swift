/// Collects problems while the configuration is read; each problem gets the line of its key.
final class ProblemLog {
    private(set) var problems: [ConfigProblem] = []
    let locator: TOMLKeyLocator

    init(locator: TOMLKeyLocator) { self.locator = locator }

    /// Records a problem at the line of `path` (or of its nearest enclosing table).
    func add(_ path: ConfigKeyPath, _ message: String) {
        problems.append(ConfigProblem(path, line: locator.nearestLine(of: path), message))
    }

    var isEmpty: Bool { problems.isEmpty }
}

/// Reads one TOML table: typed getters that record a problem for a wrong type or range and return nil, and a
/// check that reports every key no getter asked for (typos).
final class TableReader {
    let path: ConfigKeyPath
    let log: ProblemLog
    private let entries: [(key: String, value: TOMLNode)]
    private var known: [String] = []

    init(_ entries: [(key: String, value: TOMLNode)], path: ConfigKeyPath, log: ProblemLog) {
        self.entries = entries
        self.path = path
        self.log = log
    }

    /// An empty table (a section that is absent), so that defaults apply without special cases.
    static func empty(path: ConfigKeyPath, log: ProblemLog) -> TableReader { TableReader([], path: path, log: log) }

    /// The raw value of a key, marking the key as known.
    func node(_ key: String) -> TOMLNode? {
        if !known.contains(key) { known.append(key) }
        return entries.first { $0.key == key }?.value
    }

    /// Whether the table has the key (marking it as known).
    func has(_ key: String) -> Bool { node(key) != nil }

    func problem(_ key: String, _ message: String) { log.add(path.appending(key), message) }

    private func wrongType(_ key: String, _ expected: String, _ got: TOMLNode) {
        problem(key, "expected \(expected), got \(got.typeName) \(got.shortDescription)")
    }

    /// Records a problem if a required key is absent; returns whether it is present.
    @discardableResult
    func require(_ key: String, _ what: String = "") -> Bool {
        if has(key) { return true }
        log.add(path, "missing required key '\(key)'" + (what.isEmpty ? "" : " (\(what))"))
        return false
    }

    func string(_ key: String, nonEmpty: Bool = true) -> String? {
        guard let n = node(key) else { return nil }
        guard case .string(let s) = n else { wrongType(key, "a string", n); return nil }
        if nonEmpty && s.trimmingSpaces.isEmpty { problem(key, "must not be empty"); return nil }
        return s
    }

    func bool(_ key: String) -> Bool? {
        guard let n = node(key) else { return nil }
        guard case .bool(let b) = n else { wrongType(key, "true or false", n); return nil }
        return b
    }

    /// An integer in `min...max`.
    func int(_ key: String, min: Int? = nil, max: Int? = nil, hint: String = "") -> Int? {
        guard let n = node(key) else { return nil }
        guard case .int(let v) = n else {
            if case .double(let d) = n, d.rounded() == d, d.isFinite {
                problem(key, "expected an integer, got the float \(d) (write \(Int(exactly: d).map(String.init) ?? "an integer") without a decimal point)")
            } else {
                wrongType(key, "an integer", n)
            }
            return nil
        }
        if let min, v < min { problem(key, Self.rangeMessage(v, min: min, max: max) + hint); return nil }
        if let max, v > max { problem(key, Self.rangeMessage(v, min: min, max: max) + hint); return nil }
        return v
    }

    static func rangeMessage(_ v: Int, min: Int?, max: Int?) -> String {
        switch (min, max) {
        case let (lo?, hi?): "must be in \(lo)...\(hi), got \(v)"
        case let (lo?, nil): "must be at least \(lo), got \(v)"
        case let (nil, hi?): "must be at most \(hi), got \(v)"
        default: "out of range: \(v)"
        }
    }

    /// A finite number (integers accepted) with optional bounds; `above` is an exclusive lower bound.
    func double(_ key: String, above: Double? = nil, min: Double? = nil, max: Double? = nil, below: Double? = nil) -> Double? {
        guard let n = node(key) else { return nil }
        let v: Double
        switch n {
        case .double(let d): v = d
        case .int(let i): v = Double(i)
        default: wrongType(key, "a number", n); return nil
        }
        guard v.isFinite else { problem(key, "must be a finite number, got \(v)"); return nil }
        var bounds: [String] = []
        var ok = true
        if let above { bounds.append("> \(above)"); ok = ok && v > above }
        if let min { bounds.append(">= \(min)"); ok = ok && v >= min }
        if let below { bounds.append("< \(below)"); ok = ok && v < below }
        if let max { bounds.append("<= \(max)"); ok = ok && v <= max }
        if !ok { problem(key, "must be \(bounds.joined(separator: " and ")), got \(v)"); return nil }
        return v
    }

    /// One of an enum's raw values.
    func choice<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type) -> E? where E.RawValue == String {
        guard let s = string(key) else { return nil }
        if let e = E(rawValue: s) { return e }
        let options = E.allCases.map(\.rawValue)
        problem(key, "must be one of \(options.joined(separator: ", ")), got \"\(s)\"" + Self.suggestion(for: s, among: options))
        return nil
    }

    /// A sub-table (`[a.b]` or an inline table).
    func table(_ key: String) -> TableReader? {
        guard let n = node(key) else { return nil }
        guard case .table(let kv) = n else { wrongType(key, "a table", n); return nil }
        return TableReader(kv, path: path.appending(key), log: log)
    }

    /// An array whose elements must all be strings.
    func stringArray(_ key: String) -> [String]? {
        guard let n = node(key) else { return nil }
        guard case .array(let items) = n else { wrongType(key, "an array of strings", n); return nil }
        var out: [String] = []
        for item in items {
            guard case .string(let s) = item else { wrongType(key, "an array of strings", n); return nil }
            out.append(s)
        }
        return out
    }

    /// A table whose values must all be strings (libav options).
    func stringTable(_ key: String) -> [String: String]? {
        guard let n = node(key) else { return nil }
        guard case .table(let kv) = n else { wrongType(key, "a table of strings", n); return nil }
        var out: [String: String] = [:]
        for (k, v) in kv {
            switch v {
            case .string(let s): out[k] = s
            case .int, .double, .bool:
                log.add(path.appending(key).appending(k),
                        "libav options are strings: write \(k) = \"\(v.shortDescription)\"")
            default:
                log.add(path.appending(key).appending(k), "expected a string, got \(v.typeName)")
            }
        }
        return out
    }

    /// An array of tables (`[[source]]`); each element's reader has the path `key[i]`.
    func arrayOfTables(_ key: String) -> [TableReader]? {
        guard let n = node(key) else { return nil }
        guard case .array(let items) = n else {
            if case .table = n {
                problem(key, "expected an array of tables: write [[\(key)]] (two brackets) for each entry")
            } else {
                wrongType(key, "an array of tables ([[\(key)]])", n)
            }
            return nil
        }
        var out: [TableReader] = []
        for (i, item) in items.enumerated() {
            let p = path.appending(key).appending(index: i)
            guard case .table(let kv) = item else { log.add(p, "expected a table, got \(item.typeName)"); continue }
            out.append(TableReader(kv, path: p, log: log))
        }
        return out
    }

    /// Reports every key that no getter asked for, with the closest known key as a suggestion.
    func rejectUnknownKeys() {
        for (key, _) in entries where !known.contains(key) {
            let hint = Self.suggestion(for: key, among: known)
            log.add(path.appending(key), "unknown key '\(key)'"
                + (hint.isEmpty ? (known.isEmpty ? "" : " (known keys: \(known.joined(separator: ", ")))") : hint))
        }
    }

    /// ` (did you mean 'x'?)` for the closest candidate within a small edit distance, else "".
    static func suggestion(for word: String, among candidates: [String]) -> String {
        let w = Array(word.lowercased())
        var best: (String, Int)?
        for c in candidates {
            let d = editDistance(w, Array(c.lowercased()))
            if d <= Swift.max(2, c.count / 3), best.map({ d < $0.1 }) ?? true { best = (c, d) }
        }
        return best.map { " (did you mean '\($0.0)'?)" } ?? ""
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        var cur = prev
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}

extension String {
    var trimmingSpaces: Substring {
        let s = drop(while: { $0.isWhitespace })
        var end = s.endIndex
        while end > s.startIndex, s[s.index(before: end)].isWhitespace { end = s.index(before: end) }
        return s[..<end]
    }
}
