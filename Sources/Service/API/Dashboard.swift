import Hummingbird
import NIOCore

/// The dashboard: plain HTML, JavaScript and CSS compiled into the binary (SwiftPM `embedInCode` resources), served
/// at `/`. It reads the same `/v1` JSON as every other client; with a token it takes it from the URL fragment
/// (`/#token=...`, never sent to the server in the URL) and sends it as a bearer header.
enum Dashboard {
    enum Asset { case html, script, style }

    static func response(_ asset: Asset) -> Response {
        let (bytes, type): ([UInt8], String) = switch asset {
        case .html: (PackageResources.index_html, "text/html; charset=utf-8")
        case .script: (PackageResources.dashboard_js, "text/javascript; charset=utf-8")
        case .style: (PackageResources.dashboard_css, "text/css; charset=utf-8")
        }
        return Response(status: .ok,
                        headers: [.contentType: type, .cacheControl: "no-cache",
                                  .contentSecurityPolicy: "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'"],
                        body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
