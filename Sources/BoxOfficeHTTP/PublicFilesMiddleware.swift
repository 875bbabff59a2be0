import Foundation
public import Hummingbird

/// The public directory (the ticket page), looked up only for what no route answers (a 404):
/// the API pays nothing. A path Hummingbird's `FileMiddleware` would refuse with a bare 400
/// (`..`, broken percent-encoding) keeps the route's own 404 problem instead.
public struct PublicFilesMiddleware<Context: RequestContext>: RouterMiddleware {
    let files: FileMiddleware<Context, LocalFileSystem>

    public init(directory: String) {
        self.files = FileMiddleware(
            directory, cacheControl: .init([(MediaType(type: .any), [.noCache])]), searchForIndexHtml: true
        ).withServeOnNotFoundResponse()
    }

    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let response = try await next(request, context)
        guard response.status == .notFound, request.method == .get || request.method == .head,
              let path = request.uri.path.removingPercentEncoding, !path.contains("..")
        else { return response }
        return try await files.handle(request, context: context) { _, _ in response }
    }
}
