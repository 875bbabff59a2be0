/// An error from the PostgreSQL client: a server error (with its SQLSTATE and diagnostic
/// fields), a connection problem, a pool problem, a decoding problem or a bad configuration.
///
/// `description` is short and safe to log: it never contains the password, the query's
/// parameters or the server's `DETAIL` (which repeats key values).
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, as a value that callers `switch` over. New codes may be added.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case uniqueViolation, exclusionViolation, foreignKeyViolation, checkViolation
            case notNullViolation, serializationFailure, deadlockDetected, server
            case connectionFailed, connectionLost, poolTimeout, poolClosed, decoding
            case invalidConfiguration
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// 23505: a unique index or constraint refused a duplicate.
        public static let uniqueViolation = Code(.uniqueViolation)
        /// 23P01: an exclusion constraint refused an overlapping row.
        public static let exclusionViolation = Code(.exclusionViolation)
        /// 23503: a row references a missing row, or a referenced row is still in use.
        public static let foreignKeyViolation = Code(.foreignKeyViolation)
        /// 23514: a check constraint refused a row.
        public static let checkViolation = Code(.checkViolation)
        /// 23502: NULL in a NOT NULL column.
        public static let notNullViolation = Code(.notNullViolation)
        /// 40001: a serializable (or repeatable read) transaction must be retried.
        public static let serializationFailure = Code(.serializationFailure)
        /// 40P01: this transaction was chosen as a deadlock victim; retry it.
        public static let deadlockDetected = Code(.deadlockDetected)
        /// Any other server error; see `sqlState` and `serverMessage`.
        public static let server = Code(.server)
        /// A new connection could not be opened.
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection broke while in use (server restart, terminated backend, network).
        public static let connectionLost = Code(.connectionLost)
        /// No connection became free within the pool's `acquireTimeout`.
        public static let poolTimeout = Code(.poolTimeout)
        /// The pool is closed (or closing) and hands out no more connections.
        public static let poolClosed = Code(.poolClosed)
        /// A column's value could not be decoded into the requested Swift type.
        public static let decoding = Code(.decoding)
        /// The configuration (for example the database URL) is not valid.
        public static let invalidConfiguration = Code(.invalidConfiguration)

        /// The code for a server error's SQLSTATE.
        static func forSQLState(_ sqlState: String?) -> Code {
            switch sqlState {
            case "23505": .uniqueViolation
            case "23P01": .exclusionViolation
            case "23503": .foreignKeyViolation
            case "23514": .checkViolation
            case "23502": .notNullViolation
            case "40001": .serializationFailure
            case "40P01": .deadlockDetected
            default: .server
            }
        }

        public var description: String { self.base.rawValue }
    }

    public var code: Code
    /// The five-character SQLSTATE of a server error (`PG_DIAG_SQLSTATE`).
    public var sqlState: String?
    /// The constraint that was violated (`PG_DIAG_CONSTRAINT_NAME`).
    public var constraint: String?
    /// The table involved (`PG_DIAG_TABLE_NAME`).
    public var table: String?
    /// The server's secondary message (`PG_DIAG_MESSAGE_DETAIL`); may contain row values,
    /// so it is not part of `description`.
    public var detail: String?
    /// The server's primary message (`PG_DIAG_MESSAGE_PRIMARY`).
    public var serverMessage: String?
    /// A message from this client (connection, pool, decoding and configuration errors).
    public var message: String?

    public init(
        code: Code,
        message: String? = nil,
        sqlState: String? = nil,
        constraint: String? = nil,
        table: String? = nil,
        detail: String? = nil,
        serverMessage: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.constraint = constraint
        self.table = table
        self.detail = detail
        self.serverMessage = serverMessage
    }

    public var description: String {
        var parts: [String] = []
        if let sqlState { parts.append("SQLSTATE \(sqlState)") }
        if let constraint { parts.append("constraint \(constraint)") }
        if let table { parts.append("table \(table)") }
        if let message { parts.append(message) }
        // Data exceptions (class 22) quote the offending input, which may be a parameter.
        if let serverMessage, sqlState?.hasPrefix("22") != true { parts.append(serverMessage) }
        return parts.isEmpty ? "PostgresError.\(code)" : "PostgresError.\(code): \(parts.joined(separator: ", "))"
    }
}
