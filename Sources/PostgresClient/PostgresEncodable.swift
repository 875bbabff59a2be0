#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A Swift value that can be sent as a query parameter, in PostgreSQL's text format.
public protocol PostgresEncodable: Sendable {
    /// The value in PostgreSQL's text format; nil is SQL NULL.
    var postgresText: String? { get }
    /// The OID of the parameter's PostgreSQL type; 0 (the default) lets the server infer it.
    static var postgresTypeOID: UInt32 { get }
    /// The OID of the array type whose elements are this type; 0 lets the server infer it.
    static var postgresArrayTypeOID: UInt32 { get }
}

extension PostgresEncodable {
    public static var postgresTypeOID: UInt32 { 0 }
    public static var postgresArrayTypeOID: UInt32 { 0 }
}

/// A Swift value that can be read from a result column in PostgreSQL's text format.
public protocol PostgresDecodable: Sendable {
    /// Decodes a non-NULL value from its text; nil when the text is not a value of this type.
    init?(postgresText text: String)
    /// The value that SQL NULL decodes to, or nil (the default) when NULL is an error.
    static var postgresNull: Self? { get }
}

extension PostgresDecodable {
    public static var postgresNull: Self? { nil }
}

/// Both directions.
public typealias PostgresCodable = PostgresDecodable & PostgresEncodable

// MARK: - Integers, strings, booleans, floating point

extension Int: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { String(self) }
    public static var postgresTypeOID: UInt32 { 20 }  // int8
    public static var postgresArrayTypeOID: UInt32 { 1016 }  // int8[]
    public init?(postgresText text: String) { self.init(text) }
}

extension Int64: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { String(self) }
    public static var postgresTypeOID: UInt32 { 20 }  // int8
    public static var postgresArrayTypeOID: UInt32 { 1016 }  // int8[]
    public init?(postgresText text: String) { self.init(text) }
}

extension Int32: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { String(self) }
    public static var postgresTypeOID: UInt32 { 23 }  // int4
    public static var postgresArrayTypeOID: UInt32 { 1007 }  // int4[]
    public init?(postgresText text: String) { self.init(text) }
}

extension Int16: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { String(self) }
    public static var postgresTypeOID: UInt32 { 21 }  // int2
    public static var postgresArrayTypeOID: UInt32 { 1005 }  // int2[]
    public init?(postgresText text: String) { self.init(text) }
}

/// Strings are sent untyped (OID 0), so they also fill `uuid`, `jsonb`, enum and other columns.
extension String: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { self }
    public init?(postgresText text: String) { self = text }
}

extension Bool: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { self ? "t" : "f" }
    public static var postgresTypeOID: UInt32 { 16 }  // bool
    public static var postgresArrayTypeOID: UInt32 { 1000 }  // bool[]
    public init?(postgresText text: String) {
        switch text {
        case "t", "true", "TRUE", "on", "1", "y", "yes": self = true
        case "f", "false", "FALSE", "off", "0", "n", "no": self = false
        default: return nil
        }
    }
}

extension Double: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? {
        if self.isNaN { return "NaN" }
        if self.isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return self.description
    }
    public static var postgresTypeOID: UInt32 { 701 }  // float8
    public static var postgresArrayTypeOID: UInt32 { 1022 }  // float8[]
    public init?(postgresText text: String) {
        switch text {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default: self.init(text)
        }
    }
}

// MARK: - Date and UUID

/// Dates are `timestamptz`, sent as `2024-05-01 12:34:56.123456+00` (microseconds, UTC).
extension Date: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { PostgresTimestamp.format(self) }
    public static var postgresTypeOID: UInt32 { 1184 }  // timestamptz
    public static var postgresArrayTypeOID: UInt32 { 1185 }  // timestamptz[]
    public init?(postgresText text: String) {
        guard let date = PostgresTimestamp.parse(text) else { return nil }
        self = date
    }
}

extension UUID: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { self.uuidString.lowercased() }
    public static var postgresTypeOID: UInt32 { 2950 }  // uuid
    public static var postgresArrayTypeOID: UInt32 { 2951 }  // uuid[]
    public init?(postgresText text: String) { self.init(uuidString: text) }
}

// MARK: - Optional and Array

/// `nil` is SQL NULL.
extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresText: String? { self.flatMap { $0.postgresText } }
    public static var postgresTypeOID: UInt32 { Wrapped.postgresTypeOID }
    public static var postgresArrayTypeOID: UInt32 { Wrapped.postgresArrayTypeOID }
}

/// SQL NULL decodes to `nil`.
extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init?(postgresText text: String) {
        guard let wrapped = Wrapped(postgresText: text) else { return nil }
        self = .some(wrapped)
    }
    public static var postgresNull: Self? { .some(.none) }
}

/// Marks array types, whose text is nested unquoted inside an enclosing array's text.
protocol PostgresArrayMarker {}
extension Array: PostgresArrayMarker {}
extension Optional: PostgresArrayMarker where Wrapped: PostgresArrayMarker {}

/// Arrays are sent as array literals (`{1,2,NULL}`, `{"a b","say \"hi\""}`); nested arrays are
/// multi-dimensional arrays.
extension Array: PostgresEncodable where Element: PostgresEncodable {
    public var postgresText: String? {
        let nested = Element.self is any PostgresArrayMarker.Type
        return PostgresArrayText.encode(self.map { $0.postgresText }, elementsAreArrays: nested)
    }
    public static var postgresTypeOID: UInt32 { Element.postgresArrayTypeOID }
    public static var postgresArrayTypeOID: UInt32 { Element.postgresArrayTypeOID }
}

/// Arrays are read from PostgreSQL's array text; a NULL element needs an optional `Element`.
extension Array: PostgresDecodable where Element: PostgresDecodable {
    public init?(postgresText text: String) {
        guard let elements = PostgresArrayText.parse(text) else { return nil }
        var result: [Element] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            if let element {
                guard let value = Element(postgresText: element) else { return nil }
                result.append(value)
            } else {
                guard let null = Element.postgresNull else { return nil }
                result.append(null)
            }
        }
        self = result
    }
}
