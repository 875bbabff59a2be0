import BoxOffice
import Foundation
public import Hummingbird
import Logging
import NIOCore
import PostgresClient
import RedisClient

/// The one place where errors become HTTP problems. Whatever a route throws, the client gets
/// `application/problem+json` with a stable code, and server details stay in the log.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let problem = Self.problem(for: error)
            if problem.status.code >= 500 {
                context.logger.error("request failed", metadata: ["error": "\(error)", "code": "\(problem.code)"])
            }
            return try problem.response(from: request, context: context)
        }
    }

    static func problem(for error: any Error) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let error as BoxOfficeError:
            return problem(for: error)
        case let httpError as HTTPError:
            return problem(for: httpError)
        case is NIOTooManyBytesError:
            return Problem(.contentTooLarge, code: "body_too_large", message: "The request body is too large.")
        case let decodingError as DecodingError:
            let message = describe(decodingError)
            let fieldErrors = field(of: decodingError).map { [Problem.FieldError(field: $0, message: message)] } ?? []
            return Problem(.badRequest, code: "invalid_body", message: message, fieldErrors: fieldErrors)
        case let redisError as RedisError where redisError.code == .unavailable
            || redisError.code == .connectionClosed || redisError.code == .timeout:
            return .serviceUnavailable("redis")
        case let postgresError as PostgresError where postgresError.code == .connectionFailed
            || postgresError.code == .connectionLost || postgresError.code == .poolTimeout:
            return .serviceUnavailable("postgres")
        case let postgresError as PostgresError where postgresError.sqlState == "22021":
            // Text PostgreSQL cannot hold (a NUL character) that no validation caught.
            return Problem(.badRequest, code: "invalid_text", message: "Text may not contain NUL characters.")
        default:
            return Problem(.internalServerError, code: "internal_error", message: "Something went wrong on our side.")
        }
    }

    static func problem(for error: BoxOfficeError) -> Problem {
        var headers = HTTPFields()
        let status: HTTPResponse.Status
        switch error.kind {
        case .badRequest: status = .badRequest
        case .unauthorized:
            status = .unauthorized
            headers[.wwwAuthenticate] = "Bearer"
        case .forbidden: status = .forbidden
        case .notFound: status = .notFound
        case .conflict: status = .conflict
        case .gone: status = .gone
        case .validation: status = .unprocessableContent
        case .tooManyRequests(let retryAfter):
            status = .tooManyRequests
            headers[.retryAfter] = String(retryAfter)
        case .unavailable(_, let retryAfter):
            status = .serviceUnavailable
            headers[.retryAfter] = String(retryAfter)
        }
        return Problem(
            status,
            code: error.code,
            message: error.message,
            fieldErrors: error.fieldErrors.map { .init(field: $0.field, message: $0.message) },
            details: error.details,
            headers: headers
        )
    }

    private static func problem(for error: HTTPError) -> Problem {
        let status = error.status
        let code: String
        let message: String
        switch status {
        case .notFound: (code, message) = ("not_found", "No such resource.")
        case .methodNotAllowed: (code, message) = ("method_not_allowed", "This resource does not support that method.")
        case .contentTooLarge: (code, message) = ("body_too_large", "The request body is too large.")
        case .unsupportedMediaType: (code, message) = ("unsupported_media_type", "Send the body as application/json.")
        case .badRequest: (code, message) = ("bad_request", error.body ?? "The request is malformed.")
        case .unauthorized: (code, message) = ("unauthorized", error.body ?? "Sign in first.")
        case .forbidden: (code, message) = ("forbidden", error.body ?? "You may not do that.")
        default:
            code = status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_")
            message = error.body ?? status.reasonPhrase
        }
        return Problem(status, code: code, message: message, headers: error.headers)
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let joined = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            return joined.isEmpty ? "the body" : "'\(joined)'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "Missing field '\(key.stringValue)'" + (parent == "the body" ? "." : " in \(parent).")
        case .typeMismatch(let type, let context):
            return "\(path(context)) should be \(describeType(type))."
        case .valueNotFound(let type, let context):
            return "\(path(context)) should be \(describeType(type)), not null."
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "The body is not valid JSON." : "\(path(context)) has an invalid value."
        @unknown default:
            return "The body could not be read."
        }
    }

    /// The dotted path of the field a decoding error is about (`prices.standard`), or nil when
    /// it is about the body as a whole.
    private static func field(of error: DecodingError) -> String? {
        let path: [any CodingKey]
        switch error {
        case .keyNotFound(let key, let context): path = context.codingPath + [key]
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): path = context.codingPath
        @unknown default: return nil
        }
        guard !path.isEmpty else { return nil }
        return path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }

    private static func describeType(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "an integer (a whole number from -2^63 to 2^63-1)"
        case is Int32.Type: "an integer (a whole number from -2^31 to 2^31-1)"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        default:
            // Collections and objects by their JSON names, not Swift's (`Dictionary<String, Any>`).
            if "\(type)".hasPrefix("Array<") { "an array" } else { "an object" }
        }
    }
}
