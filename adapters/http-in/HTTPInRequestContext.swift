import Hummingbird

/// The request context of an `http-in` listener: Hummingbird's core context plus the TCP
/// peer's IP address (for `trusted-proxies`).
struct HTTPInRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The address the connection came from, as text (`127.0.0.1`, `::1`).
    let peerAddress: String?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peerAddress = source.channel.remoteAddress?.ipAddress
    }
}
