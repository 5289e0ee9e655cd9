import CFFmpeg

/// An owned output `AVFormatContext` with its opened file, freed (and the file closed) in deinit.
package final class FormatOutput {
    package let context: UnsafeMutablePointer<AVFormatContext>
    private var headerWritten = false
    private var trailerWritten = false

    /// Allocates a muxer for `path` (the container follows the file name's extension: `.mp4`, `.mkv`, ...)
    /// and opens the file for writing. Output is bit-exact (no library version strings), so a fixed input
    /// gives a fixed file.
    package init(path: String) throws {
        var ctx: UnsafeMutablePointer<AVFormatContext>? = nil
        let rc = avformat_alloc_output_context2(&ctx, nil, nil, path)
        guard rc >= 0, let allocated = ctx else {
            throw MediaError(.encoderUnavailable, "no output container for '\(path)' (use a .mp4 or .mkv name)",
                             averror: rc < 0 ? rc : nil)
        }
        context = allocated
        allocated.pointee.flags |= AVFMT_FLAG_BITEXACT
        if allocated.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            let rc = avio_open(&allocated.pointee.pb, path, AVIO_FLAG_WRITE)
            // On failure deinit frees the context (`pb` stays NULL).
            if rc < 0 { throw MediaError(.fileSystem, "cannot open '\(path)' for writing", averror: rc) }
        }
    }

    deinit {
        // An abandoned output still gets its trailer: the muxer frees its state there, and the file holds
        // what was muxed.
        if headerWritten && !trailerWritten { _ = av_write_trailer(context) }
        if context.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            avio_closep(&context.pointee.pb)
        }
        avformat_free_context(context)
    }

    /// Whether streams must carry their codec headers out of band (`AV_CODEC_FLAG_GLOBAL_HEADER`).
    package var wantsGlobalHeader: Bool { context.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 }

    /// Adds a stream (owned by the context).
    package func addStream() throws -> UnsafeMutablePointer<AVStream> {
        guard let stream = avformat_new_stream(context, nil) else {
            throw MediaError(.libav, "avformat_new_stream returned NULL")
        }
        return stream
    }

    /// Writes the container header (may change the streams' time bases).
    package func writeHeader() throws {
        let rc = avformat_write_header(context, nil)
        if rc < 0 { throw MediaError.libav("avformat_write_header", rc) }
        headerWritten = true
    }

    /// Hands `packet` to the interleaving muxer (which takes its reference and leaves it empty).
    package func write(_ packet: Packet) throws {
        let rc = av_interleaved_write_frame(context, packet.pointer)
        if rc < 0 { throw MediaError.libav("av_interleaved_write_frame", rc) }
    }

    /// Writes the trailer (once) and flushes the file.
    package func writeTrailer() throws {
        guard headerWritten, !trailerWritten else { return }
        trailerWritten = true
        let rc = av_write_trailer(context)
        if rc < 0 { throw MediaError.libav("av_write_trailer", rc) }
        if let pb = context.pointee.pb {
            avio_flush(pb)
            if pb.pointee.error < 0 { throw MediaError.libav("avio_flush", pb.pointee.error, code: .fileSystem) }
        }
    }
}
