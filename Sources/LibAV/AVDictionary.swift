import CFFmpeg

/// An owned `AVDictionary` (libav options), freed in deinit.
package final class OptionDictionary {
    package var pointer: OpaquePointer?

    package init(_ entries: [String: String]) throws {
        for (key, value) in entries.sorted(by: { $0.key < $1.key }) {
            let rc = av_dict_set(&pointer, key, value, 0)
            if rc < 0 { throw MediaError.libav("av_dict_set(\(key))", rc, code: .invalidOptions) }
        }
    }

    deinit { av_dict_free(&pointer) }

    /// The entries left in the dictionary (after an open call: the options libav did not consume).
    package var entries: [String: String] {
        var result: [String: String] = [:]
        var entry: UnsafeMutablePointer<AVDictionaryEntry>? = nil
        while let e = av_dict_get(pointer, "", entry, AV_DICT_IGNORE_SUFFIX) {
            result[String(cString: e.pointee.key)] = String(cString: e.pointee.value)
            entry = e
        }
        return result
    }
}
