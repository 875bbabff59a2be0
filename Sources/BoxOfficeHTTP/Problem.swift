public import BoxOffice
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
    /// Extra machine-readable members of the body, e.g. `seats` naming the seats taken.
    public var details: [String: DetailValue]
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status,
        code: String,
        message: String,
        fieldErrors: [FieldError] = [],
        details: [String: DetailValue] = [:],
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.fieldErrors = fieldErrors
        self.details = details
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
        var details: [String: DetailValue]

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            // Extra members first, so that the standard ones win a clash of names.
            for (name, value) in details { try container.encode(value, forKey: Key(stringValue: name)) }
            try container.encode(type, forKey: Key(stringValue: "type"))
            try container.encode(title, forKey: Key(stringValue: "title"))
            try container.encode(status, forKey: Key(stringValue: "status"))
            try container.encode(code, forKey: Key(stringValue: "code"))
            try container.encode(detail, forKey: Key(stringValue: "detail"))
            try container.encodeIfPresent(errors, forKey: Key(stringValue: "errors"))
            try container.encodeIfPresent(requestId, forKey: Key(stringValue: "request_id"))
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
            requestId: context.id,
            details: details.filter { !["type", "title", "status", "code", "detail", "errors", "request_id"].contains($0.key) }
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
