import CBLAS
import CCrypto
import CFFmpeg
import CMPI
import CSystemd
import Testing

/// One real call into each wrapped C library: proves that headers, pkg-config and linking work.
@Suite struct SystemLibrarySmokeTests {
    @Test func openBLASMultipliesTwoByTwo() {
        let a: [Float] = [1, 2, 3, 4]
        let b: [Float] = [5, 6, 7, 8]
        var c = [Float](repeating: 0, count: 4)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1, a, 2, b, 2, 0, &c, 2)
        #expect(c == [19, 22, 43, 50])
    }

    @Test func libcryptoDigestsWithSHA256() {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let input = Array("abc".utf8)
        #expect(EVP_Digest(input, input.count, &digest, &length, EVP_sha256(), nil) == 1)
        #expect(length == 32)
        #expect(Array(digest.prefix(4)) == [0xba, 0x78, 0x16, 0xbf])
    }

    @Test func libavReportsItsVersions() {
        // FFmpeg 5.1 is libavformat 59; anything older lacks the options the media layer relies on.
        #expect(avformat_version() >> 16 >= 59)
        #expect(avcodec_version() >> 16 >= 59)
        #expect(avutil_version() >> 16 >= 57)
        #expect(swscale_version() >> 16 >= 6)
        #expect(avdevice_version() >> 16 >= 59)
        #expect(avcodec_find_decoder(AV_CODEC_ID_H264) != nil)
        #expect(cffmpeg_averror_eof() < 0)
    }

    @Test func libsystemdAnswers() {
        // Not booted with systemd here (or in CI), but the call must link and return a valid answer.
        let booted = sd_booted()
        #expect(booted == 0 || booted == 1)
        // With no NOTIFY_SOCKET set, sd_notify returns 0 (nothing to do), never an error.
        unsetenv("NOTIFY_SOCKET")
        #expect(sd_notify(0, "STATUS=test") == 0)
    }

    @Test func openMPIReportsItsVersion() {
        // Without a launcher no MPI call may start the library here; the version query works before MPI_Init.
        var major: Int32 = 0, minor: Int32 = 0
        #expect(MPI_Get_version(&major, &minor) == cmpi_success())
        #expect(major >= 3)
    }
}
