import Foundation
import Hummingbird

/// Requires `Authorization: Bearer <token>` on every request except the dashboard's static files (which hold no
/// data; the page sends the token on its own requests). Comparison takes the same time wherever the first
/// difference is.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]
    /// Paths served without a token.
    let openPaths: Set<String>

    init(token: String, openPaths: Set<String>) {
        self.token = Array(token.utf8)
        self.openPaths = openPaths
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if openPaths.contains(request.uri.path) { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            throw APIError.unauthorized("this API needs a bearer token (Authorization: Bearer ...)")
        }
        let prefix = "bearer "
        guard header.count > prefix.count, header.lowercased().hasPrefix(prefix) else {
            throw APIError.unauthorized("the Authorization header must be 'Bearer <token>'")
        }
        let given = Array(header.utf8.dropFirst(prefix.utf8.count))
        guard Self.constantTimeEqual(given, token) else { throw APIError.unauthorized("wrong bearer token") }
        return try await next(request, context)
    }

    /// Equal without an early exit (time does not depend on where the bytes differ).
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0, y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0
    }
}
