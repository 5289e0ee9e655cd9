import Testing
@testable import Media
import LibAV

@Test func mediaLinksLibav() {
    #expect(MediaLibrary.libavformatVersion.hasPrefix("59") || MediaLibrary.libavformatVersion.first != "0")
}
