import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The thread that owns a connection's rabbitmq-c state (rabbitmq-c connections are not thread-safe).
///
/// The connection thread claims it when its loop starts; every function that touches the rabbitmq-c
/// connection or the state that belongs to the loop checks it first, as swift-nio's
/// `preconditionInEventLoop` does, so a call from another thread stops the process at once instead of
/// corrupting a frame on the wire. The check is a thread-local read and an atomic load.
final class ThreadOwnership: Sendable {
    private let owner = Atomic<UInt>(0)

    /// Makes the calling thread the owner (the connection thread, when its loop starts).
    func claim() {
        owner.store(Self.currentThread, ordering: .releasing)
    }

    /// Whether the calling thread is the owner.
    var isOwner: Bool { owner.load(ordering: .acquiring) == Self.currentThread }

    /// Stops the process when called from any other thread than the owner.
    func precondition(_ function: StaticString = #function, file: StaticString = #fileID, line: UInt = #line) {
        Swift.precondition(
            isOwner, "\(function) touches rabbitmq-c state off the connection's own thread", file: file, line: line)
    }

    private static var currentThread: UInt {
        #if canImport(Darwin)
            UInt(bitPattern: pthread_self())
        #else
            UInt(pthread_self())
        #endif
    }
}
