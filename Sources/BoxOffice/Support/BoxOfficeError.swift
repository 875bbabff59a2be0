/// A domain failure, told as the client should hear it. `BoxOfficeHTTP.ProblemMiddleware`
/// is the one place that turns these into HTTP problems.
public struct BoxOfficeError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case badRequest
        case unauthorized
        case forbidden
        case notFound
        case conflict
        /// The thing existed but is over (a started or cancelled showtime, an expired hold).
        case gone
        case validation
        case tooManyRequests(retryAfterSeconds: Int)
        case unavailable(service: String, retryAfterSeconds: Int)
    }

    public struct FieldError: Sendable, Equatable, Codable {
        public var field: String
        public var message: String

        public init(field: String, message: String) {
            self.field = field
            self.message = message
        }
    }

    public var kind: Kind
    /// Stable and machine-readable, e.g. `seat_taken`, `showtime_overlap`.
    public var code: String
    /// For people.
    public var message: String
    public var fieldErrors: [FieldError]
    /// Extra machine-readable details (e.g. the conflicting seat ids), included in the problem body.
    public var details: [String: DetailValue]

    public init(
        _ kind: Kind,
        code: String,
        message: String,
        fieldErrors: [FieldError] = [],
        details: [String: DetailValue] = [:]
    ) {
        self.kind = kind
        self.code = code
        self.message = message
        self.fieldErrors = fieldErrors
        self.details = details
    }

    public var description: String { "\(code): \(message)" }

    public static func notFound(_ what: String) -> BoxOfficeError {
        BoxOfficeError(.notFound, code: "not_found", message: "\(what) was not found.")
    }

    public static func validation(_ errors: [FieldError]) -> BoxOfficeError {
        BoxOfficeError(
            .validation,
            code: "validation_failed",
            message: errors.map { "\($0.field): \($0.message)" }.joined(separator: "; "),
            fieldErrors: errors
        )
    }

    public static func validation(field: String, _ message: String) -> BoxOfficeError {
        validation([FieldError(field: field, message: message)])
    }
}

/// A JSON value in an error's details.
public enum DetailValue: Sendable, Equatable, Codable {
    case string(String)
    case int(Int)
    case strings([String])
    case ints([Int])

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .strings(let value): try container.encode(value)
        case .ints(let value): try container.encode(value)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int.self) { self = .int(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([Int].self) { self = .ints(value) }
        else { self = .strings(try container.decode([String].self)) }
    }
}

/// Collects every problem of an input before refusing it, so the client can fix them all at once.
public struct Validator: Sendable {
    public private(set) var errors: [BoxOfficeError.FieldError] = []

    public init() {}

    public mutating func check(_ condition: Bool, _ field: String, _ message: @autoclosure () -> String) {
        if !condition { errors.append(.init(field: field, message: message())) }
    }

    public func validate() throws(BoxOfficeError) {
        if !errors.isEmpty { throw BoxOfficeError.validation(errors) }
    }
}
