import CFFmpeg

/// An owned `SwsContext` converting decoded frames to packed BGR24 at a target size, rebuilt when the
/// source size or pixel format changes. BGR24 rather than RGB24: libswscale 6 has a SIMD (MMXEXT) vertical
/// scaler for BGR24 output and only C code for RGB24; the channel order is undone when clips are built.
package final class Scaler {
    private var context: OpaquePointer?
    private var key: (Int32, Int32, Int32, Int32, Int32) = (0, 0, -1, 0, 0)
    private var colorKey: (Int32, Int32) = (-1, -1)
    package let flags: Int32

    /// `flags`: libswscale flags (default `SWS_BILINEAR`, what `scale=...:flags=bilinear` uses).
    package init(flags: Int32 = SWS_BILINEAR) { self.flags = flags }

    deinit { sws_freeContext(context) }

    /// Scales `frame` to `width x height` BGR24 into `destination` (rows `stride` bytes apart).
    package func scale(_ frame: Frame, width: Int, height: Int, into destination: UnsafeMutablePointer<UInt8>, stride: Int)
        throws
    {
        let f = frame.pointer
        var format = f.pointee.format
        var fullRange = f.pointee.color_range == AVCOL_RANGE_JPEG
        // The deprecated "J" formats are full-range YUV; tell swscale explicitly.
        switch AVPixelFormat(rawValue: format) {
        case AV_PIX_FMT_YUVJ420P: format = AV_PIX_FMT_YUV420P.rawValue; fullRange = true
        case AV_PIX_FMT_YUVJ422P: format = AV_PIX_FMT_YUV422P.rawValue; fullRange = true
        case AV_PIX_FMT_YUVJ444P: format = AV_PIX_FMT_YUV444P.rawValue; fullRange = true
        case AV_PIX_FMT_YUVJ440P: format = AV_PIX_FMT_YUV440P.rawValue; fullRange = true
        default: break
        }
        let newKey = (f.pointee.width, f.pointee.height, format, Int32(width), Int32(height))
        let colorspace = f.pointee.colorspace.rawValue
        let newColorKey = (Int32(bitPattern: colorspace), fullRange ? Int32(1) : 0)
        if context == nil || newKey != key {
            sws_freeContext(context)
            context = sws_getContext(
                newKey.0, newKey.1, AVPixelFormat(rawValue: format), newKey.3, newKey.4, AV_PIX_FMT_BGR24,
                flags, nil, nil, nil)
            guard context != nil else {
                let name = av_get_pix_fmt_name(AVPixelFormat(rawValue: format)).map { String(cString: $0) } ?? "?"
                throw MediaError(.libav, "sws_getContext failed for \(newKey.0)x\(newKey.1) \(name)")
            }
            key = newKey
            colorKey = (-1, -1)
        }
        if newColorKey != colorKey {
            // Match the scale filter: the frame's matrix (601 when unspecified) and range.
            let table = sws_getCoefficients(colorspaceForSws(colorspace))
            let rgbTable = sws_getCoefficients(SWS_CS_DEFAULT)
            _ = sws_setColorspaceDetails(context, table, fullRange ? 1 : 0, rgbTable, 1, 0, 1 << 16, 1 << 16)
            colorKey = newColorKey
        }
        var dstData: [UnsafeMutablePointer<UInt8>?] = [destination, nil, nil, nil]
        var dstStride: [Int32] = [Int32(stride), 0, 0, 0]
        let d = f.pointee.data
        let l = f.pointee.linesize
        let srcData: [UnsafePointer<UInt8>?] = [
            UnsafePointer(d.0), UnsafePointer(d.1), UnsafePointer(d.2), UnsafePointer(d.3),
        ]
        let srcStride: [Int32] = [l.0, l.1, l.2, l.3]
        let rc = sws_scale(context, srcData, srcStride, 0, f.pointee.height, &dstData, &dstStride)
        if rc < 0 { throw MediaError.libav("sws_scale", rc) }
    }

    private func colorspaceForSws(_ space: UInt32) -> Int32 {
        switch AVColorSpace(rawValue: space) {
        case AVCOL_SPC_BT709: return SWS_CS_ITU709
        case AVCOL_SPC_FCC: return SWS_CS_FCC
        case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M
        case AVCOL_SPC_BT2020_NCL, AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020
        default: return SWS_CS_DEFAULT
        }
    }
}
