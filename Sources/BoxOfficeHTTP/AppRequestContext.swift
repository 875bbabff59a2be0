public import BoxOffice
public import Hummingbird
public import NIOCore

/// The context every route sees.
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AuthMiddleware` from a valid access token.
    public var identity: Identity?
    /// The peer of the connection (login throttling counts failures per address); nil when
    /// there is none, as in router tests.
    public let remoteAddress: SocketAddress?

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// Request bodies are small JSON documents; routes that take uploads raise their own limit.
    public var maxUploadSize: Int { 1024 * 1024 }
}
