/// A SQL statement and its bound parameters.
///
/// Built by string interpolation, every interpolated value becomes a parameter (`$1`, `$2`, ...)
/// sent apart from the SQL text, so values can never change the statement:
///
///     let query: PostgresQuery = "SELECT * FROM users WHERE email = \(email) AND id = ANY(\(ids))"
///     // query.sql   == "SELECT * FROM users WHERE email = $1 AND id = ANY($2)"
///     // query.binds == [email, "{1,2,3}"]
///
/// Trusted SQL fragments written in code (never user input) are spliced with `\(unescaped: name)`.
public struct PostgresQuery: Sendable, Hashable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The statement, with `$n` placeholders for the parameters.
    public var sql: String
    /// The parameters in text format, in order; nil is SQL NULL.
    public var binds: [String?]
    /// The PostgreSQL type OID of each parameter; 0 lets the server infer it from the context.
    public var bindTypeOIDs: [UInt32]
    /// Sent with the simple query protocol (`PQexec`): several statements, no parameters.
    var isMultiStatement: Bool

    public init(stringLiteral value: String) {
        self.sql = value
        self.binds = []
        self.bindTypeOIDs = []
        self.isMultiStatement = false
    }

    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.binds = stringInterpolation.binds
        self.bindTypeOIDs = stringInterpolation.bindTypeOIDs
        self.isMultiStatement = false
    }

    /// SQL text that is not built by interpolation, for example a migration file.
    ///
    /// Without `binds` the text may hold several statements separated by `;` (it is sent with
    /// `PQexec`); with `binds` it must be one statement using `$1...$n`.
    public init(unsafeSQL sql: String, binds: [(any PostgresEncodable)?] = []) {
        self.sql = sql
        self.binds = binds.map { $0?.postgresText }
        self.bindTypeOIDs = binds.map { $0.map { type(of: $0).postgresTypeOID } ?? 0 }
        self.isMultiStatement = binds.isEmpty
    }

    /// The SQL only: parameters stay out of logs.
    public var description: String { self.sql }

    public struct StringInterpolation: StringInterpolationProtocol, Sendable {
        public typealias StringLiteralType = String

        var sql: String
        var binds: [String?]
        var bindTypeOIDs: [UInt32]

        public init(literalCapacity: Int, interpolationCount: Int) {
            self.sql = ""
            self.sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            self.binds = []
            self.binds.reserveCapacity(interpolationCount)
            self.bindTypeOIDs = []
            self.bindTypeOIDs.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            self.sql.append(literal)
        }

        /// Binds `value` as the next parameter.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value) {
            self.appendBind(value.postgresText, typeOID: Value.postgresTypeOID)
        }

        /// Binds `value` as the next parameter; nil becomes NULL.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            self.appendBind(value?.postgresText, typeOID: Value.postgresTypeOID)
        }

        /// Splices trusted SQL text (an identifier or keyword chosen by code) into the statement.
        /// Never pass user input here.
        public mutating func appendInterpolation(unescaped fragment: String) {
            self.sql.append(fragment)
        }

        private mutating func appendBind(_ text: String?, typeOID: UInt32) {
            self.binds.append(text)
            self.bindTypeOIDs.append(typeOID)
            self.sql.append("$\(self.binds.count)")
        }
    }
}
