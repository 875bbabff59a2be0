import Foundation
public import Hummingbird

/// Serves `openapi.yaml`, read once when the router is built.
public struct OpenAPIController: Sendable {
    let document: ByteBuffer?

    public init(path: String) {
        document = FileManager.default.contents(atPath: path).map { ByteBuffer(bytes: $0) }
    }

    public func addRoutes(to router: Router<AppRequestContext>) {
        /// The OpenAPI document of this API.
        router.get("/openapi.yaml") { _, _ in
            guard let document else { throw Problem.notFound("The OpenAPI document") }
            var headers = HTTPFields()
            headers[.contentType] = "application/yaml"
            headers[.cacheControl] = "public, max-age=300"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: document))
        }
    }
}
