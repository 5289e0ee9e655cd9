import Foundation
import Hummingbird
import ConceptAPI

/// An error the API answers with a JSON body (`{"error": {"status": ..., "message": ...}}`) and a 4xx/5xx status.
public struct APIError: Error, HTTPResponseError, CustomStringConvertible, Sendable {
    /// What went wrong, for matching (`error.code == .notFound`); each maps to one HTTP status.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: Hashable, Sendable {
            case badRequest, unauthorized, notFound, methodNotAllowed, payloadTooLarge, unavailable, failed
        }
        fileprivate let base: Base
        fileprivate init(_ base: Base) { self.base = base }
        /// 400: a malformed value in the request.
        public static let badRequest = Code(.badRequest)
        /// 401: the bearer token is missing or wrong.
        public static let unauthorized = Code(.unauthorized)
        /// 404: no such resource.
        public static let notFound = Code(.notFound)
        /// 405: the path exists, the method does not.
        public static let methodNotAllowed = Code(.methodNotAllowed)
        /// 413: a request body where none is taken, or one over the limit.
        public static let payloadTooLarge = Code(.payloadTooLarge)
        /// 503: not available yet.
        public static let unavailable = Code(.unavailable)
        /// 500: the daemon could not do what was asked.
        public static let failed = Code(.failed)
        public var description: String { "\(base)" }
    }

    /// What went wrong.
    public let code: Code
    /// What went wrong, for the client.
    public let message: String
    /// The underlying error, if any (not sent to the client).
    public let cause: (any Error & Sendable)?

    /// An error with `code`, `message` and an optional `cause`.
    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// 400: a malformed value in the request.
    public static func badRequest(_ m: String) -> APIError { .init(.badRequest, m) }
    /// 401: the bearer token is missing or wrong.
    public static func unauthorized(_ m: String) -> APIError { .init(.unauthorized, m) }
    /// 404: no such resource.
    public static func notFound(_ m: String) -> APIError { .init(.notFound, m) }
    /// 405: the path exists, the method does not.
    public static func methodNotAllowed(_ m: String) -> APIError { .init(.methodNotAllowed, m) }
    /// 413: a request body where none is taken, or one over the limit.
    public static func payloadTooLarge(_ m: String) -> APIError { .init(.payloadTooLarge, m) }
    /// 503: not available yet (no data, no probe configured).
    public static func unavailable(_ m: String) -> APIError { .init(.unavailable, m) }
    /// 500: the daemon could not do what was asked (e.g. a snapshot write failed).
    public static func failed(_ m: String) -> APIError { .init(.failed, m) }

    /// The HTTP status.
    public var status: HTTPResponse.Status {
        switch code.base {
        case .badRequest: .badRequest
        case .unauthorized: .unauthorized
        case .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .payloadTooLarge: .contentTooLarge
        case .unavailable: .serviceUnavailable
        case .failed: .internalServerError
        }
    }

    public var description: String { "\(status.code) \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if code == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"conceptd\"" }
        let body = (try? API.encoder().encode(API.ErrorBody(status: status.code, message: message))) ?? Data()
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Refuses requests without exactly one `Host` header (400), as HTTP/1.1 requires (RFC 9112, section 3.2).
struct HostHeaderMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The HTTP/1 codec moves the first Host header into the authority; a second one stays a header field.
        guard let authority = request.head.authority, !authority.isEmpty else {
            throw APIError.badRequest("the request has no Host header")
        }
        guard !request.headers.contains(where: { $0.name.canonicalName == "host" }) else { throw APIError.badRequest("the request has more than one Host header") }
        return try await next(request, context)
    }
}

/// Turns every error that escapes a handler (a router 404, a decoding error, anything else) into the API's JSON
/// error body, so clients never see an empty or HTML error.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as HTTPError {
            let message = error.body ?? (error.status == .notFound ? "no such endpoint: \(request.method) \(request.uri.path)" : error.status.reasonPhrase)
            let mapped: APIError = switch error.status.code {
            case 401: .unauthorized(message)
            case 404: .notFound(message)
            case 405: .methodNotAllowed(message)
            case 413: .payloadTooLarge(message)
            case 500...: .failed(message)
            default: .badRequest(message)
            }
            return try mapped.response(from: request, context: context)
        } catch {
            context.logger.error("API request failed: \(error)", metadata: ["path": "\(request.uri.path)"])
            return try APIError.failed("internal error: \(error)").response(from: request, context: context)
        }
    }
}
