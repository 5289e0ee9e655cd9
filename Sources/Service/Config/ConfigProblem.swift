/// A path to a key in the configuration, printed as `source[2].options.rtsp_transport`.
///
/// Array indices are 0-based, as in TOML's arrays: `source[0]` is the first `[[source]]` table.
public struct ConfigKeyPath: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// One step of a path: a table key or an array index.
    public enum Component: Sendable, Hashable {
        /// A key of a table.
        case key(String)
        /// An index into an array (0-based).
        case index(Int)
    }

    /// The steps from the document's root.
    public var components: [Component]

    /// A path from its steps.
    public init(_ components: [Component] = []) { self.components = components }

    /// A path of plain keys written with dots (`"training.batch_size"`); no indices, no quoting.
    public init(stringLiteral value: String) {
        components = value.isEmpty ? [] : value.split(separator: ".").map { .key(String($0)) }
    }

    /// The root (the whole document).
    public static let root = ConfigKeyPath()

    /// This path extended by a key.
    public func appending(_ key: String) -> ConfigKeyPath { ConfigKeyPath(components + [.key(key)]) }
    /// This path extended by an array index.
    public func appending(index: Int) -> ConfigKeyPath { ConfigKeyPath(components + [.index(index)]) }
    /// The enclosing path (the root's parent is the root).
    public var parent: ConfigKeyPath { ConfigKeyPath(Array(components.dropLast())) }
    /// Whether this is the document's root.
    public var isRoot: Bool { components.isEmpty }

    public var description: String {
        var out = ""
        for c in components {
            switch c {
            case .key(let k):
                if !out.isEmpty { out += "." }
                out += Self.isBare(k) ? k : "\"" + k.replacingBackslashesAndQuotes() + "\""
            case .index(let i): out += "[\(i)]"
            }
        }
        return out
    }

    /// Whether a key can be written without quotes in TOML (`A-Za-z0-9_-`).
    static func isBare(_ key: String) -> Bool {
        !key.isEmpty && key.unicodeScalars.allSatisfy { s in
            (s >= "a" && s <= "z") || (s >= "A" && s <= "Z") || (s >= "0" && s <= "9") || s == "_" || s == "-"
        }
    }
}

extension String {
    fileprivate func replacingBackslashesAndQuotes() -> String {
        var out = ""
        for ch in self {
            if ch == "\\" || ch == "\"" { out.append("\\") }
            out.append(ch)
        }
        return out
    }
}

/// One thing wrong with a configuration file: where (key path and, when known, line) and what.
public struct ConfigProblem: Sendable, Hashable, CustomStringConvertible {
    /// The key the problem is about; the root for whole-file problems (unreadable file, TOML syntax).
    public var keyPath: ConfigKeyPath
    /// The 1-based line in the file, when known.
    public var line: Int?
    /// What is wrong, for a person to read.
    public var message: String

    /// A problem at a key path and line.
    public init(_ keyPath: ConfigKeyPath, line: Int? = nil, _ message: String) {
        self.keyPath = keyPath
        self.line = line
        self.message = message
    }

    /// `path:line: key.path: message`, leaving out the parts that are not known.
    public func formatted(file: String?) -> String {
        var head = file ?? ""
        if let line { head += head.isEmpty ? "line \(line)" : ":\(line)" }
        var parts: [String] = []
        if !head.isEmpty { parts.append(head) }
        if !keyPath.isRoot { parts.append(keyPath.description) }
        parts.append(message)
        return parts.joined(separator: ": ")
    }

    /// `line N: key.path: message`.
    public var description: String { formatted(file: nil) }
}

/// A configuration that could not be read or is not valid: every problem found, in file order.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    private enum Code: Sendable { case unreadable, syntax, invalid }
    private let code: Code
    /// The file the configuration came from, if any.
    public let file: String?
    /// Every problem found, sorted by line (problems without a line last).
    public let problems: [ConfigProblem]

    private init(_ code: Code, file: String?, problems: [ConfigProblem]) {
        self.code = code
        self.file = file
        self.problems = problems
    }

    /// The exit status for a bad configuration: `EX_CONFIG` from sysexits.h. The unit's
    /// `RestartPreventExitStatus=78` keeps systemd from restarting a daemon that cannot start.
    public static let exitStatus: Int32 = 78

    /// The file could not be read.
    static func unreadable(file: String, _ message: String) -> ConfigError {
        .init(.unreadable, file: file, problems: [ConfigProblem(.root, message)])
    }

    /// The file is not valid TOML.
    static func syntax(file: String?, line: Int?, _ message: String) -> ConfigError {
        .init(.syntax, file: file, problems: [ConfigProblem(.root, line: line, message)])
    }

    /// The file is TOML but its content is not a valid configuration.
    static func invalid(file: String?, problems: [ConfigProblem]) -> ConfigError {
        let sorted = problems.enumerated().sorted { a, b in
            switch (a.element.line, b.element.line) {
            case let (x?, y?): x != y ? x < y : a.offset < b.offset
            case (.some, .none): true
            case (.none, .some): false
            case (.none, .none): a.offset < b.offset
            }
        }.map(\.element)
        return .init(.invalid, file: file, problems: sorted)
    }

    /// Whether the file could not be read at all (as opposed to being read and found wrong).
    public var isUnreadable: Bool { code == .unreadable }
    /// Whether the file is not valid TOML.
    public var isSyntaxError: Bool { code == .syntax }

    /// One line per problem, `path:line: key.path: message`.
    public var lines: [String] { problems.map { $0.formatted(file: file) } }

    public var description: String { lines.joined(separator: "\n") }
}
