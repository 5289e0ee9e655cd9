import ArgumentParser
import Foundation
import ConceptAPI

/// Options every API command shares.
struct ClientOptions: ParsableArguments {
    @Option(help: "The API's base URL (default: $CONCEPTD_URL or http://127.0.0.1:8787).")
    var url: String?

    @Option(help: "A file holding the bearer token (needed when conceptd listens beyond loopback).")
    var tokenFile: String?

    @Flag(help: "Print the API's JSON instead of a table.")
    var json = false

    @Option(help: "Seconds to wait for the daemon.")
    var timeout: Double = 30

    /// The client these options describe.
    func client() throws -> APIClient {
        let base = url ?? ProcessInfo.processInfo.environment["CONCEPTD_URL"] ?? "http://127.0.0.1:8787"
        var token: String?
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw ValidationError("cannot read the token file \(tokenFile)")
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !(token ?? "").isEmpty else { throw ValidationError("the token file \(tokenFile) is empty") }
        }
        do { return try APIClient(baseURL: base, token: token, timeout: timeout) } catch { throw ValidationError(error.description) }
    }

    /// Fetches `path` and prints it as JSON (pretty) or through `table`.
    func show<T: Codable>(_ path: String, as type: T.Type, table: (T) -> String) throws {
        let value: T = try callAPI { try client().get(path) }
        if json { print(try prettyJSON(value)) } else { print(table(value), terminator: "") }
    }
}

/// Runs an API call, turning client errors into a one-line message and exit status 1.
func callAPI<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as APIClientError {
        FileHandle.standardError.write(Data("conceptctl: \(error.description)\n".utf8))
        throw ExitCode(1)
    }
}

func prettyJSON(_ value: some Encodable) throws -> String {
    String(decoding: try API.encoder(pretty: true).encode(value), as: UTF8.self)
}

/// A plain text table: columns padded to the widest cell, numbers right-aligned.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: String...) { self.header = header }
    init(_ header: [String]) { self.header = header }

    mutating func add(_ cells: String...) { rows.append(cells) }

    var rendered: String {
        let all = [header] + rows
        let widths = (0..<header.count).map { c in all.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        func isNumber(_ s: String) -> Bool { Double(s.replacingOccurrences(of: "%", with: "")) != nil }
        var out = ""
        for (r, row) in all.enumerated() {
            let cells = (0..<header.count).map { c -> String in
                let cell = c < row.count ? row[c] : ""
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return r > 0 && isNumber(cell) ? pad + cell : cell + pad
            }
            out += cells.joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
        }
        return out
    }
}

/// Formats a number with `digits` decimals.
func fmt(_ v: Double, _ digits: Int = 3) -> String { v.isFinite ? String(format: "%.\(digits)f", v) : "\(v)" }
func fmt(_ v: Float, _ digits: Int = 3) -> String { fmt(Double(v), digits) }

/// "3m 12s"-style durations.
func duration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m \(s % 60)s" }
    if s < 86400 { return "\(s / 3600)h \(s % 3600 / 60)m" }
    return "\(s / 86400)d \(s % 86400 / 3600)h"
}
