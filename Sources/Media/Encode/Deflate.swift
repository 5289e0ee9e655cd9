/// Checksums and a small DEFLATE compressor (RFC 1950/1951) for the PNG encoder: greedy LZ77 over a 32 KiB
/// window with hash chains, coded in one fixed-Huffman block. Not as tight as zlib's dynamic trees, but short,
/// allocation-light and always a valid stream.
public enum Deflate {
    /// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) of `bytes`, continuing from `crc` (0 to start).
    public static func crc32<C: Collection>(_ bytes: C, continuing crc: UInt32 = 0) -> UInt32 where C.Element == UInt8 {
        var c = ~crc
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return ~c
    }

    /// Adler-32 of `bytes` (RFC 1950).
    public static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        var i = 0
        while i < bytes.count {
            let end = Swift.min(i + 5552, bytes.count)           // largest run before b can overflow 32 bits
            while i < end { a += UInt32(bytes[i]); b += a; i += 1 }
            a %= 65521; b %= 65521
        }
        return b << 16 | a
    }

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// A zlib stream (`78 9C`, one fixed-Huffman DEFLATE block, Adler-32) of `bytes`.
    public static func zlib(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x9C]
        out += deflate(bytes)
        let adler = adler32(bytes)
        out += [UInt8(adler >> 24), UInt8(adler >> 16 & 0xFF), UInt8(adler >> 8 & 0xFF), UInt8(adler & 0xFF)]
        return out
    }

    /// A raw DEFLATE stream of `bytes`: one final block with the fixed Huffman code.
    public static func deflate(_ bytes: [UInt8]) -> [UInt8] {
        var w = BitWriter()
        w.reserve(bytes.count / 2 + 64)
        w.write(1, bits: 1)                                      // BFINAL
        w.write(1, bits: 2)                                      // BTYPE = 01, fixed Huffman
        let n = bytes.count
        let windowSize = 1 << 15, hashBits = 15, maxChain = 32, minMatch = 3, maxMatch = 258
        var head = [Int32](repeating: -1, count: 1 << hashBits)
        var prev = [Int32](repeating: -1, count: windowSize)
        bytes.withUnsafeBufferPointer { src in
            @inline(__always) func hash(_ i: Int) -> Int {
                let v = UInt32(src[i]) << 16 | UInt32(src[i + 1]) << 8 | UInt32(src[i + 2])
                return Int((v &* 2_654_435_761) >> UInt32(32 - hashBits))
            }
            @inline(__always) func insert(_ i: Int) {
                guard i + minMatch <= n else { return }
                let h = hash(i)
                prev[i & (windowSize - 1)] = head[h]
                head[h] = Int32(i)
            }
            var i = 0
            while i < n {
                var bestLength = 0, bestDistance = 0
                if i + minMatch <= n {
                    var candidate = Int(head[hash(i)])
                    var chain = maxChain
                    let limit = Swift.min(maxMatch, n - i)
                    while candidate >= 0, i - candidate <= windowSize - 1, chain > 0 {
                        if src[candidate + bestLength] == src[i + bestLength] || bestLength == 0 {
                            var l = 0
                            while l < limit && src[candidate + l] == src[i + l] { l += 1 }
                            if l > bestLength { bestLength = l; bestDistance = i - candidate; if l == limit { break } }
                        }
                        let next = Int(prev[candidate & (windowSize - 1)])
                        if next >= candidate { break }                  // stale entry from an older window pass
                        candidate = next
                        chain -= 1
                    }
                }
                if bestLength >= minMatch {
                    w.writeLength(bestLength)
                    w.writeDistance(bestDistance)
                    for j in i..<(i + bestLength) { insert(j) }
                    i += bestLength
                } else {
                    w.writeLiteral(Int(src[i]))
                    insert(i)
                    i += 1
                }
            }
        }
        w.writeLiteral(256)                                     // end of block
        return w.finish()
    }
}

/// LSB-first bit packing with the fixed Huffman code of RFC 1951 §3.2.6.
struct BitWriter {
    private(set) var bytes: [UInt8] = []
    private var buffer: UInt64 = 0
    private var count = 0

    mutating func reserve(_ n: Int) { bytes.reserveCapacity(n) }

    /// Appends the low `bits` bits of `value`, least significant first.
    @inline(__always) mutating func write(_ value: Int, bits: Int) {
        buffer |= UInt64(value) << UInt64(count)
        count += bits
        while count >= 8 { bytes.append(UInt8(truncatingIfNeeded: buffer)); buffer >>= 8; count -= 8 }
    }

    /// Appends a Huffman code (defined most significant bit first) of `bits` bits.
    @inline(__always) mutating func writeCode(_ code: Int, bits: Int) {
        var reversed = 0, c = code
        for _ in 0..<bits { reversed = reversed << 1 | (c & 1); c >>= 1 }
        write(reversed, bits: bits)
    }

    /// A literal/length symbol 0...287 in the fixed code.
    @inline(__always) mutating func writeLiteral(_ symbol: Int) {
        switch symbol {
        case 0...143: writeCode(0x30 + symbol, bits: 8)
        case 144...255: writeCode(0x190 + symbol - 144, bits: 9)
        case 256...279: writeCode(symbol - 256, bits: 7)
        default: writeCode(0xC0 + symbol - 280, bits: 8)
        }
    }

    static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
                             131, 163, 195, 227, 258]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
                               2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
                                13, 13]

    /// A match length 3...258: its symbol 257...285 and extra bits.
    mutating func writeLength(_ length: Int) {
        var code = Self.lengthBase.count - 1
        while Self.lengthBase[code] > length { code -= 1 }
        writeLiteral(257 + code)
        if Self.lengthExtra[code] > 0 { write(length - Self.lengthBase[code], bits: Self.lengthExtra[code]) }
    }

    /// A match distance 1...32768: a 5-bit code and extra bits.
    mutating func writeDistance(_ distance: Int) {
        var code = Self.distanceBase.count - 1
        while Self.distanceBase[code] > distance { code -= 1 }
        writeCode(code, bits: 5)
        if Self.distanceExtra[code] > 0 { write(distance - Self.distanceBase[code], bits: Self.distanceExtra[code]) }
    }

    /// Flushes the last partial byte (zero padded) and returns the stream.
    mutating func finish() -> [UInt8] {
        if count > 0 { bytes.append(UInt8(truncatingIfNeeded: buffer)); buffer = 0; count = 0 }
        return bytes
    }
}
