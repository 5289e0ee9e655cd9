import CCrypto
import Glibc

/// SHA-256 through libcrypto (OpenSSL's EVP digests), for snapshot manifests and fingerprints: fed in pieces, so
/// a file is hashed as it is written or read, without a copy.
public struct SHA256: ~Copyable {
    private let context: OpaquePointer

    /// An empty hash state.
    public init() {
        guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
            fatalError("libcrypto cannot start a SHA-256 digest")
        }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Feeds the bytes of `buffer`.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        guard EVP_DigestUpdate(context, base, buffer.count) == 1 else { fatalError("libcrypto SHA-256 update failed") }
    }

    /// Feeds `bytes`.
    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The digest as lowercase hex (the state is used up).
    public consuming func finalizeHex() -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(context, &digest, &length) == 1 else { fatalError("libcrypto SHA-256 final failed") }
        let hexDigits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(Int(length) * 2)
        for byte in digest.prefix(Int(length)) {
            text.append(hexDigits[Int(byte >> 4)])
            text.append(hexDigits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The hex digest of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        var s = SHA256()
        s.update(bytes)
        return s.finalizeHex()
    }
}
