public import Hummingbird

extension Request {
    /// The JSON body as `type`. Unlike `decode(as:context:)`, which turns decoding errors into
    /// an `HTTPError` carrying Swift's type names, this lets them reach `ProblemMiddleware`
    /// as they are: a 400 `invalid_body` naming the missing or mistyped field. A body over the
    /// context's limit is a 413 there too.
    public func decodeJSON<Value: Decodable>(as type: Value.Type, context: some RequestContext) async throws -> Value {
        try await context.requestDecoder.decode(type, from: self, context: context)
    }

    /// The whole body, up to the context's limit (over it: 413, as for `decodeJSON`).
    public func collectBody(context: some RequestContext) async throws -> ByteBuffer {
        try await body.collect(upTo: context.maxUploadSize)
    }
}
