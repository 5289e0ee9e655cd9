/// URI surgery for sources: splicing credentials into network URIs and hiding passwords for logs.
enum SourceURI {
    /// The parts of `scheme://[userinfo@]rest`, nil when the URI has no authority.
    struct Authority {
        var scheme: Substring
        var userinfo: Substring?
        var rest: Substring
    }

    static func authority(_ uri: String) -> Authority? {
        guard let sep = uri.range(of: "://") else { return nil }
        let afterScheme = uri[sep.upperBound...]
        // The authority ends at the first '/', '?' or '#'; userinfo is what precedes its last '@'.
        let authEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? afterScheme.endIndex
        let auth = afterScheme[..<authEnd]
        if let at = auth.lastIndex(of: "@") {
            return Authority(scheme: uri[..<sep.lowerBound], userinfo: auth[..<at],
                             rest: afterScheme[afterScheme.index(after: at)...])
        }
        return Authority(scheme: uri[..<sep.lowerBound], userinfo: nil, rest: afterScheme)
    }

    /// The host part of a network URI (without port), for checks.
    static func host(_ uri: String) -> Substring? {
        guard let a = authority(uri) else { return nil }
        let end = a.rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? a.rest.endIndex
        let hostPort = a.rest[..<end]
        if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") { return hostPort[...close] }
        return hostPort.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first
    }

    /// `uri` with its user and password replaced. A nil `username` keeps the user already in the URI.
    static func splice(uri: String, username: String?, password: String?, encode: Bool = true) -> String {
        guard let a = authority(uri) else { return uri }
        let existingUser = a.userinfo.map { ui in ui.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)[0] }
        let user = username.map { encode ? percentEncodeUserinfo($0) : $0 } ?? existingUser.map(String.init) ?? ""
        var info = user
        if let password { info += ":" + (encode ? percentEncodeUserinfo(password) : password) }
        return "\(a.scheme)://\(info)@\(a.rest)"
    }

    /// `uri` with the password of its userinfo (if any) replaced by `***`.
    static func redacting(_ uri: String) -> String {
        guard let a = authority(uri), let ui = a.userinfo, let colon = ui.firstIndex(of: ":") else { return uri }
        return "\(a.scheme)://\(ui[..<colon]):***@\(a.rest)"
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters and the sub-delimiters that cannot end
    /// the userinfo: a password with `@`, `:`, `/` or `%` stays one password.
    static func percentEncodeUserinfo(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            let c = Character(Unicode.Scalar(b))
            let keep = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
                || "-._~!$&'()*+,;=".contains(c)
            if keep && b < 0x80 {
                out.append(c)
            } else {
                let hex = Array("0123456789ABCDEF")
                out += "%" + String(hex[Int(b >> 4)]) + String(hex[Int(b & 15)])
            }
        }
        return out
    }
}
