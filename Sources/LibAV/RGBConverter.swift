import CFFmpeg

/// An owned `SwsContext` converting packed RGB24 frames to same-size yuv420p (BT.601, limited range), with
/// the padded staging buffer it reads from, both freed in deinit. libswscale's SIMD code reads past the end
/// of a row, so caller memory is copied into 64-byte-aligned rows with slack first.
package final class RGBConverter {
    private let context: OpaquePointer
    private let staging: UnsafeMutablePointer<UInt8>
    private let linesize: Int
    package let width: Int
    package let height: Int

    package init(width: Int, height: Int) throws {
        linesize = (width * 3 + 63) & ~63
        guard let raw = av_mallocz(linesize * height + 64) else {
            throw MediaError(.libav, "av_mallocz(\(linesize * height + 64)) returned NULL")
        }
        staging = raw.assumingMemoryBound(to: UInt8.self)
        guard let ctx = sws_getContext(
            Int32(width), Int32(height), AV_PIX_FMT_RGB24, Int32(width), Int32(height), AV_PIX_FMT_YUV420P,
            SWS_BICUBIC | SWS_ACCURATE_RND, nil, nil, nil)
        else {
            av_free(raw)
            throw MediaError(.libav, "sws_getContext failed for \(width)x\(height) rgb24 -> yuv420p")
        }
        context = ctx
        let table = sws_getCoefficients(SWS_CS_ITU601)
        _ = sws_setColorspaceDetails(ctx, table, 1, table, 0, 0, 1 << 16, 1 << 16)
        self.width = width
        self.height = height
    }

    deinit {
        sws_freeContext(context)
        av_free(staging)
    }

    /// Converts `rgb` (`height` rows of `width * 3` bytes, packed) into `frame`'s planes (allocated,
    /// writable, yuv420p).
    package func convert(_ rgb: UnsafePointer<UInt8>, into frame: Frame) throws {
        let row = width * 3
        for y in 0..<height { (staging + y * linesize).update(from: rgb + y * row, count: row) }
        let f = frame.pointer
        let src: [UnsafePointer<UInt8>?] = [UnsafePointer(staging), nil, nil, nil]
        let srcStride: [Int32] = [Int32(linesize), 0, 0, 0]
        let d = f.pointee.data
        let l = f.pointee.linesize
        let dst: [UnsafeMutablePointer<UInt8>?] = [d.0, d.1, d.2, d.3]
        let dstStride: [Int32] = [l.0, l.1, l.2, l.3]
        let rc = sws_scale(context, src, srcStride, 0, Int32(height), dst, dstStride)
        if rc < 0 { throw MediaError.libav("sws_scale", rc) }
    }
}
