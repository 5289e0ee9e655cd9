import TOMLKit

/// A parsed TOML value copied out of TOMLKit into plain, sendable Swift values.
///
/// TOMLKit's tables are classes over a C++ tree; the configuration reader works on this copy instead.
enum TOMLNode: Sendable {
    case table([(key: String, value: TOMLNode)])
    case array([TOMLNode])
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    /// A date, time or date-time; no configuration key takes one, so only its TOML text is kept.
    case dateTime(String)

    /// Parses a TOML document; throws TOMLKit's `TOMLParseError` (with a line) for bad syntax.
    static func parse(_ text: String) throws -> TOMLNode {
        TOMLNode(try TOMLTable(string: text))
    }

    init(_ table: TOMLTable) {
        self = .table(table.keys.compactMap { key in table[key].map { (key, TOMLNode($0)) } })
    }

    init(_ value: any TOMLValueConvertible) {
        switch value.type {
        case .table: self = value.table.map(TOMLNode.init) ?? .table([])
        case .array: self = .array(value.array.map { $0.map(TOMLNode.init) } ?? [])
        case .string: self = .string(value.string ?? "")
        case .int: self = .int(value.int ?? 0)
        case .double: self = .double(value.double ?? .nan)
        case .bool: self = .bool(value.bool ?? false)
        case .date, .time, .dateTime: self = .dateTime(value.debugDescription)
        }
    }

    /// The TOML type's name as users read it in messages.
    var typeName: String {
        switch self {
        case .table: "a table"
        case .array: "an array"
        case .string: "a string"
        case .int: "an integer"
        case .double: "a float"
        case .bool: "a boolean"
        case .dateTime: "a date/time"
        }
    }

    /// A short rendering of the value for messages (strings quoted, long values cut).
    var shortDescription: String {
        let s: String = switch self {
        case .table(let kv): "{" + kv.map(\.key).joined(separator: ", ") + "}"
        case .array(let a): "[\(a.count) items]"
        case .string(let v): "\"\(v)\""
        case .int(let v): String(v)
        case .double(let v): String(v)
        case .bool(let v): String(v)
        case .dateTime(let v): v
        }
        return s.count > 60 ? String(s.prefix(57)) + "..." : s
    }
}
