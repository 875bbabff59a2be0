import Foundation
public import Hummingbird

/// An error as the client sees it: `application/problem+json` (RFC 9457) with a stable `code`.
public struct Problem: HTTPResponseError, Sendable {
    public struct FieldError: Codable, Sendable, Equatable {
        public var field: String
        public var message: String

        public init(field: String, message: String) {
            self.field = field
            self.message = message
        }
    }

    public var status: HTTPResponse.Status
    /// Machine-readable and stable: clients branch on it.
    public var code: String
    /// For people; says what to do where it can.
    public var message: String
    public var fieldErrors: [FieldError]
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status,
        code: String,
        message: String,
        fieldErrors: [FieldError] = [],
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.fieldErrors = fieldErrors
        self.headers = headers
    }

    struct Body: Encodable {
        var type: String
        var title: String
        var status: Int
        var code: String
        var detail: String
        var errors: [FieldError]?
        var requestId: String?

        enum CodingKeys: String, CodingKey {
            case type, title, status, code, detail, errors
            case requestId = "request_id"
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = Body(
            type: "about:blank",
            title: status.reasonPhrase,
            status: status.code,
            code: code,
            detail: message,
            errors: fieldErrors.isEmpty ? nil : fieldErrors,
            requestId: context.id
        )
        let data = try JSONEncoder().encode(body)
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension Problem {
    public static func notFound(_ what: String) -> Problem {
        Problem(.notFound, code: "not_found", message: "\(what) was not found.")
    }

    public static func validation(_ errors: [FieldError]) -> Problem {
        Problem(
            .unprocessableContent,
            code: "validation_failed",
            message: errors.map { "\($0.field): \($0.message)" }.joined(separator: "; "),
            fieldErrors: errors
        )
    }

    public static func serviceUnavailable(_ service: String, retryAfterSeconds: Int = 1) -> Problem {
        var headers = HTTPFields()
        headers[.retryAfter] = String(retryAfterSeconds)
        return Problem(
            .serviceUnavailable,
            code: "\(service)_unavailable",
            message: "A backing service (\(service)) is unavailable; try again shortly.",
            headers: headers
        )
    }
}
