import Foundation
import Glibc
import LibAV

/// Starts detached threads with `pthread_create` and reports its failure. Foundation's `Thread.start()` drops the
/// result of `pthread_create`, so a refused thread leaves a caller waiting for work that never begins; a source whose
/// thread cannot start must fail instead.
package enum DetachedThread {
    /// The body's box, handed to the new thread through a retained pointer.
    private final class Body {
        let name: String
        let run: () -> Void
        init(_ name: String, _ run: @escaping () -> Void) { (self.name, self.run) = (name, run) }
    }

    /// Runs `body` on a new detached thread named `name` (at most 15 bytes are kept) with a stack of `stackSize`
    /// bytes. Throws `MediaError` `.threadUnavailable` (nothing runs) when the system refuses the thread.
    package static func start(name: String, stackSize: Int, _ body: @escaping @Sendable () -> Void) throws {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let sizeResult = pthread_attr_setstacksize(&attributes, stackSize)
        guard sizeResult == 0 else {
            throw MediaError(.threadUnavailable, "cannot start thread \(name): stack size \(stackSize): \(String(cString: strerror(sizeResult)))")
        }
        let context = Unmanaged.passRetained(Body(String(name.utf8.prefix(15)) ?? "thread", body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { context in
            let body = Unmanaged<Body>.fromOpaque(context!).takeRetainedValue()
            Thread.current.name = body.name
            body.run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw MediaError(.threadUnavailable, "cannot start thread \(name): pthread_create: \(String(cString: strerror(result)))")
        }
    }
}
