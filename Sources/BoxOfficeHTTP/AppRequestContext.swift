public import BoxOffice
public import Hummingbird

/// The context every route sees.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AuthMiddleware` from a valid access token.
    public var identity: Identity?

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }

    /// Request bodies are small JSON documents; routes that take uploads raise their own limit.
    public var maxUploadSize: Int { 1024 * 1024 }
}
