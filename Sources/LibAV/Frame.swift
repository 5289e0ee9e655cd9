import CFFmpeg

/// An owned `AVFrame`, freed in deinit.
package final class Frame {
    package let pointer: UnsafeMutablePointer<AVFrame>

    package init() throws {
        guard let p = av_frame_alloc() else { throw MediaError(.libav, "av_frame_alloc returned NULL") }
        pointer = p
    }

    deinit {
        var p: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&p)
    }

    /// Drops the frame's buffers.
    package func unref() { av_frame_unref(pointer) }

    /// Takes over `other`'s buffers (and leaves `other` empty).
    package func take(from other: Frame) {
        av_frame_unref(pointer)
        av_frame_move_ref(pointer, other.pointer)
    }

    package var width: Int { Int(pointer.pointee.width) }
    package var height: Int { Int(pointer.pointee.height) }
    package var format: AVPixelFormat { AVPixelFormat(rawValue: pointer.pointee.format) }
    package var isEmpty: Bool { pointer.pointee.buf.0 == nil && pointer.pointee.data.0 == nil }
}

/// An owned `AVPacket`, freed in deinit.
package final class Packet {
    package let pointer: UnsafeMutablePointer<AVPacket>

    package init() throws {
        guard let p = av_packet_alloc() else { throw MediaError(.libav, "av_packet_alloc returned NULL") }
        pointer = p
    }

    deinit {
        var p: UnsafeMutablePointer<AVPacket>? = pointer
        av_packet_free(&p)
    }

    /// Drops the packet's buffer.
    package func unref() { av_packet_unref(pointer) }

    package var streamIndex: Int32 { pointer.pointee.stream_index }
}
