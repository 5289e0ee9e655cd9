import CFFmpeg

/// An owned, opened `AVFormatContext` whose blocking calls all run under a deadline (interrupt callback).
package final class FormatInput {
    package private(set) var context: UnsafeMutablePointer<AVFormatContext>?
    package let deadline: Deadline
    /// Options passed to `avformat_open_input` that libav did not consume.
    package let unconsumedOptions: [String: String]

    /// Opens `url` (with an explicit input format such as `lavfi` or `video4linux2` when given) within
    /// `timeout` seconds.
    package init(url: String, format: String?, options: [String: String], deadline: Deadline, timeout: Double) throws {
        MediaLibrary.ensureInitialised()
        self.deadline = deadline
        var inputFormat: UnsafePointer<AVInputFormat>? = nil
        if let format {
            guard let f = av_find_input_format(format) else {
                throw MediaError(.invalidSource, "input format '\(format)' is not available in this libav build")
            }
            inputFormat = f
        }
        guard let allocated = avformat_alloc_context() else {
            throw MediaError(.libav, "avformat_alloc_context returned NULL")
        }
        allocated.pointee.interrupt_callback = deadline.interruptCallback
        allocated.pointee.opaque = LibavLogContext.currentOpaque
        let dictionary = try OptionDictionary(options)
        var ctx: UnsafeMutablePointer<AVFormatContext>? = allocated
        deadline.arm(seconds: timeout)
        let rc = avformat_open_input(&ctx, url, inputFormat, &dictionary.pointer)
        deadline.disarm()
        if rc < 0 {
            // avformat_open_input frees the context on failure.
            throw FormatInput.classify("avformat_open_input", rc, deadline: deadline, code: .openFailed)
        }
        context = ctx
        unconsumedOptions = dictionary.entries
    }

    deinit { avformat_close_input(&context) }

    package var pointer: UnsafeMutablePointer<AVFormatContext> { context! }

    /// Reads stream parameters (may read packets) within `timeout` seconds. An interrupted probe is an
    /// error even when libav returns success: the interrupt leaves the I/O context failed for every later read.
    package func findStreamInfo(timeout: Double) throws {
        deadline.arm(seconds: timeout)
        let rc = avformat_find_stream_info(pointer, nil)
        deadline.disarm()
        if rc < 0 || deadline.didFire || deadline.isCancelled {
            throw FormatInput.classify("avformat_find_stream_info", rc < 0 ? rc : cffmpeg_averror_exit(),
                                       deadline: deadline, code: .openFailed)
        }
    }

    /// Reads the next packet within `timeout` seconds; false at end of stream.
    package func read(into packet: Packet, timeout: Double) throws -> Bool {
        packet.unref()
        deadline.arm(seconds: timeout)
        let rc = av_read_frame(pointer, packet.pointer)
        deadline.disarm()
        if rc == cffmpeg_averror_eof() { return false }
        if rc < 0 { throw FormatInput.classify("av_read_frame", rc, deadline: deadline, code: .libav) }
        return true
    }

    /// Maps an interrupted call to `.timedOut` / `.cancelled`, everything else to `code`.
    package static func classify(_ function: String, _ rc: Int32, deadline: Deadline, code: MediaError.Code) -> MediaError {
        if deadline.isCancelled {
            return MediaError(.cancelled, "\(function) interrupted: source stopped", averror: rc)
        }
        // AVERROR_EXIT without a fresh fire: an earlier interrupt left the I/O context failed.
        if deadline.didFire || rc == cffmpeg_averror_exit() {
            return MediaError(.timedOut, "\(function) interrupted: deadline passed", averror: rc)
        }
        return MediaError.libav(function, rc, code: code)
    }
}
