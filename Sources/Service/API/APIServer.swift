import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import ConceptReports
import ConceptAPI
import Learner

/// What the HTTP API reads from, and asks of, the running daemon.
public protocol APIBackend: Sendable {
    /// `GET /v1/status`.
    func apiStatus() -> API.Status
    /// `GET /v1/sources`.
    func apiSources() -> [API.Source]
    /// `GET /v1/training`.
    func apiTraining() -> API.Training
    /// `GET /v1/concepts` (optionally one branch).
    func apiConcepts(branch: API.ConceptBranch?) -> API.Concepts
    /// `GET /v1/concepts/{branch}/{k}` (nil: index out of range).
    func apiConcept(branch: API.ConceptBranch, index: Int) -> API.ConceptDetail?
    /// A gallery thumbnail of a concept (PNG).
    func apiGalleryPNG(branch: API.ConceptBranch, index: Int, item: Int) -> [UInt8]?
    /// `GET /v1/sources/{name}/attention.png` (nil: not inspected yet).
    func apiAttentionPNG(source: String) -> [UInt8]?
    /// `GET /v1/probe`.
    func apiProbe() -> API.Probe
    /// `POST /v1/snapshot`: writes one now and waits for it.
    func apiSnapshot() async -> SnapshotOutcome
    /// The Prometheus exposition of the daemon's metrics (refreshed on each call).
    func apiMetrics() -> [UInt8]
}

/// The HTTP API (Hummingbird 2): JSON under `/v1`, `/metrics`, and the dashboard at `/`.
public enum APIServer {
    /// Paths that never need a token (static dashboard files: no data in them).
    static let openPaths: Set<String> = ["/", "/index.html", "/dashboard.js", "/dashboard.css", "/favicon.ico"]

    /// The router with every endpoint.
    public static func router(backend: some APIBackend, token: String?) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        router.add(middleware: HostHeaderMiddleware())
        if let token { router.add(middleware: BearerTokenMiddleware(token: token, openPaths: openPaths)) }
        router.add(middleware: MetricsMiddleware())

        // Dashboard.
        router.get("/") { _, _ in Dashboard.response(.html) }
        router.get("/index.html") { _, _ in Dashboard.response(.html) }
        router.get("/dashboard.js") { _, _ in Dashboard.response(.script) }
        router.get("/dashboard.css") { _, _ in Dashboard.response(.style) }
        router.get("/favicon.ico") { _, _ in Response(status: .noContent) }

        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: backend.apiMetrics())))
        }

        let v1 = router.group(RouterPath(API.prefix))
        v1.get("status") { _, _ in try json(backend.apiStatus()) }
        v1.get("training") { _, _ in try json(backend.apiTraining()) }
        v1.get("probe") { _, _ in try json(backend.apiProbe()) }
        v1.get("sources") { _, _ in try json(backend.apiSources()) }
        v1.get("sources/:name") { _, context in
            let name = try sourceName(context)
            guard let s = backend.apiSources().first(where: { $0.name == name }) else {
                throw APIError.notFound("no source named '\(name)'")
            }
            return try json(s)
        }
        v1.get("sources/:name/attention.png") { _, context in
            let name = try sourceName(context)
            guard backend.apiSources().contains(where: { $0.name == name }) else { throw APIError.notFound("no source named '\(name)'") }
            guard let image = backend.apiAttentionPNG(source: name) else {
                throw APIError.notFound("source '\(name)' has no inspected clip yet")
            }
            return png(image)
        }
        v1.get("concepts") { request, _ in
            let branch = try request.uri.queryParameters.get("branch").map { try parseBranch(String($0)) }
            return try json(backend.apiConcepts(branch: branch))
        }
        v1.get("concepts/:branch/:index") { _, context in
            let (branch, index) = try conceptAddress(context)
            guard let detail = backend.apiConcept(branch: branch, index: index) else {
                throw APIError.notFound("no \(branch.rawValue) concept \(index)")
            }
            return try json(detail)
        }
        v1.get("concepts/:branch/:index/gallery/:item") { _, context in
            let (branch, index) = try conceptAddress(context)
            let raw = try context.parameters.require("item")
            let itemText = raw.hasSuffix(".png") ? String(raw.dropLast(4)) : raw
            guard let item = Int(itemText), item >= 0, item < 1000 else { throw APIError.badRequest("gallery item must be a number, got '\(raw)'") }
            guard let data = backend.apiGalleryPNG(branch: branch, index: index, item: item) else {
                throw APIError.notFound("\(branch.rawValue) concept \(index) has no gallery item \(item)")
            }
            return png(data)
        }
        v1.post("snapshot") { request, _ in
            try await requireNoBody(request, "POST /v1/snapshot")
            switch await backend.apiSnapshot() {
            case .written(let step, let path): return try json(API.SnapshotWritten(step: step, path: path), status: .created)
            case .failed(_, let reason): throw APIError.failed("snapshot failed: \(reason)")
            }
        }
        for path in ["status", "training", "probe", "sources", "concepts"] {
            v1.on(RouterPath(path), method: .post) { _, _ -> Response in throw APIError.methodNotAllowed("\(path) is read-only: use GET") }
        }
        v1.get("snapshot") { _, _ -> Response in throw APIError.methodNotAllowed("use POST /v1/snapshot to write a snapshot") }
        return router
    }

    /// The application bound to `address`; `onListening` runs with the bound URL once it accepts connections.
    public static func application(backend: some APIBackend, listen: ListenAddress, token: String?, logger: Logger,
                                   onListening: @escaping @Sendable (String) async -> Void) -> some ApplicationProtocol & Service {
        Application(
            router: router(backend: backend, token: token),
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "conceptd/\(conceptdVersion)"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? listen.port
                let host = listen.host.contains(":") ? "[\(listen.host)]" : listen.host
                await onListening("http://\(host):\(port)")
            },
            logger: logger)
    }

    // MARK: - helpers

    /// Refuses a request that carries a body (413), announces one (`Content-Length` other than 0: 413; any
    /// `Transfer-Encoding`: 400) or whose body cannot be read (a broken chunked encoding, a connection closed short of
    /// its `Content-Length`: 400), before the handler does anything.
    static func requireNoBody(_ request: Request, _ what: String) async throws {
        if let encoding = request.headers[.transferEncoding] {
            throw APIError.badRequest("\(what) takes no body (Transfer-Encoding: \(encoding.prefix(40)))")
        }
        if let length = request.headers[.contentLength], length != "0" {
            throw APIError.payloadTooLarge("\(what) takes no body (Content-Length: \(length.prefix(40)))")
        }
        var request = request
        do {
            let body = try await request.collectBody(upTo: 0)
            if body.readableBytes > 0 { throw APIError.payloadTooLarge("\(what) takes no body") }
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError.payloadTooLarge("\(what) takes no body")
        } catch {
            throw APIError.badRequest("\(what): unreadable request body: \(error)")
        }
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try API.encoder().encode(value)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func png(_ bytes: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "image/png", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func sourceName(_ context: BasicRequestContext) throws -> String {
        let raw = try context.parameters.require("name")
        guard let name = raw.removingPercentEncoding, !name.isEmpty, name.utf8.count <= 200 else {
            throw APIError.badRequest("malformed source name")
        }
        return name
    }

    static func parseBranch(_ text: String) throws -> API.ConceptBranch {
        guard let b = API.ConceptBranch(rawValue: text) else {
            throw APIError.badRequest("branch must be 'static' or 'dynamic', got '\(text.prefix(40))'")
        }
        return b
    }

    static func conceptAddress(_ context: BasicRequestContext) throws -> (API.ConceptBranch, Int) {
        let branch = try parseBranch(try context.parameters.require("branch"))
        let raw = try context.parameters.require("index")
        guard let index = Int(raw), index >= 0 else { throw APIError.badRequest("concept index must be a non-negative integer, got '\(raw.prefix(40))'") }
        return (branch, index)
    }
}
