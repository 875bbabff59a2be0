private import CLibpq
import Logging
import Synchronization

#if canImport(Glibc)
private import Glibc
#elseif canImport(Musl)
private import Musl
#elseif canImport(Darwin)
private import Darwin
#endif

/// Owns one libpq connection (`PGconn*`) and is the only place that calls libpq.
///
/// Every method blocks (network I/O) and must run on the pool's `NIOThreadPool`, never on
/// Swift's cooperative pool. The `PGconn` is finished in `close()` or, failing that, in `deinit`.
///
/// `@unchecked Sendable`: the raw `PGconn*` is not Sendable, but the pool leases a connection
/// to one task at a time and every libpq call on it is serialised by `state`'s lock, so it is
/// never used from two threads at once.
final class LibpqConnection: @unchecked Sendable {
    private struct State {
        var isClosed = false
        /// Set while idle in the pool: check the socket before the next statement.
        var needsLivenessCheck = false
    }

    private let conn: OpaquePointer
    private let state = Mutex(State())
    private let noticeSink: NoticeSink
    private let logger: Logger
    let hostAndPort: String

    private init(conn: OpaquePointer, noticeSink: NoticeSink, logger: Logger, hostAndPort: String) {
        self.conn = conn
        self.noticeSink = noticeSink
        self.logger = logger
        self.hostAndPort = hostAndPort
    }

    deinit {
        self.state.withLock { state in
            if !state.isClosed {
                state.isClosed = true
                PQfinish(self.conn)
            }
        }
    }

    /// Opens a connection (blocking). Sessions run with `TimeZone=UTC` and `DateStyle=ISO`, so
    /// `timestamptz` text is always ISO 8601 in UTC.
    static func connect(configuration: PostgresConfiguration, logger: Logger) throws -> LibpqConnection {
        var parameters: [(String, String)] = [
            ("host", configuration.host),
            ("port", String(configuration.port)),
            ("user", configuration.user),
            ("dbname", configuration.database),
            ("connect_timeout", String(configuration.connectTimeout)),
            ("application_name", configuration.applicationName),
            ("client_encoding", "UTF8"),
            ("options", "-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres"),
        ]
        if let password = configuration.password { parameters.append(("password", password)) }
        if let sslMode = configuration.sslMode { parameters.append(("sslmode", sslMode)) }

        let keywords = parameters.map { strdup($0.0) }
        let values = parameters.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let keywordPointers = keywords.map { UnsafePointer($0) } + [nil]
        let valuePointers = values.map { UnsafePointer($0) } + [nil]

        // expand_dbname = 0: the database name is a name, never a connection string.
        guard let conn = PQconnectdbParams(keywordPointers, valuePointers, 0) else {
            throw PostgresError(code: .connectionFailed, message: "could not connect to \(configuration.hostAndPort): out of memory")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let error = makePostgresError(result: nil, conn: conn, hostAndPort: configuration.hostAndPort, connecting: true)
            PQfinish(conn)
            throw error
        }

        let sink = NoticeSink(logger: logger)
        PQsetNoticeReceiver(conn, receiveNotice, Unmanaged.passUnretained(sink).toOpaque())
        return LibpqConnection(conn: conn, noticeSink: sink, logger: logger, hostAndPort: configuration.hostAndPort)
    }

    /// Runs one query (blocking) and copies its result into Swift values.
    func execute(_ query: PostgresQuery) throws -> PostgresRows {
        try self.state.withLock { state throws -> PostgresRows in
            guard !state.isClosed else {
                throw PostgresError(code: .connectionLost, message: "the connection to \(self.hostAndPort) is closed")
            }
            if state.needsLivenessCheck {
                state.needsLivenessCheck = false
                try self.reconnectIfBroken()
            }

            // C strings end at NUL, which PostgreSQL text cannot hold: refuse rather than truncate.
            if query.binds.contains(where: { $0?.utf8.contains(0) == true }) {
                throw PostgresError(code: .server, message: "a parameter contains a NUL character, which PostgreSQL text cannot hold", sqlState: "22021")
            }

            let result: OpaquePointer?
            if query.isMultiStatement {
                result = PQexec(self.conn, query.sql)
            } else {
                result = Self.execParams(self.conn, query)
            }
            defer { PQclear(result) }

            guard let result else {
                throw makePostgresError(result: nil, conn: self.conn, hostAndPort: self.hostAndPort, connecting: false)
            }
            switch PQresultStatus(result) {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
                return Self.copyRows(result)
            case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
                // The connection is now stuck in COPY; `isReusable` is false, so it is discarded.
                throw PostgresError(code: .server, message: "COPY is not supported by this client")
            default:
                throw makePostgresError(result: result, conn: self.conn, hostAndPort: self.hostAndPort, connecting: false)
            }
        }
    }

    /// Marks the connection as having sat idle, so its first use checks that the server is still there.
    func markIdle() {
        self.state.withLock { $0.needsLivenessCheck = true }
    }

    /// Whether the connection may go back to the pool: open, healthy and outside any transaction.
    var isReusable: Bool {
        self.state.withLock { state in
            !state.isClosed && PQstatus(self.conn) == CONNECTION_OK && PQtransactionStatus(self.conn) == PQTRANS_IDLE
        }
    }

    /// Whether the session is inside a transaction block (`BEGIN` without `COMMIT` yet).
    var isInTransaction: Bool {
        self.state.withLock { state in
            guard !state.isClosed else { return false }
            let status = PQtransactionStatus(self.conn)
            return status == PQTRANS_INTRANS || status == PQTRANS_INERROR
        }
    }

    /// Whether the connection broke (the server went away or the socket failed).
    var isBroken: Bool {
        self.state.withLock { state in state.isClosed || PQstatus(self.conn) == CONNECTION_BAD }
    }

    /// Sends the terminate message and frees the `PGconn` (may block briefly).
    func close() {
        self.state.withLock { state in
            guard !state.isClosed else { return }
            state.isClosed = true
            PQfinish(self.conn)
        }
    }

    // MARK: - Private

    /// Before the first statement after sitting idle: reads whatever the server sent meanwhile
    /// (without blocking; libpq's socket is non-blocking) and, when the server closed the
    /// connection (restart, `pg_terminate_backend`), reconnects with the same parameters. Only
    /// done at the start of a lease, when no transaction or session state can be lost.
    private func reconnectIfBroken() throws {
        // A terminated backend sends a FATAL error and then closes: the first read consumes
        // the error, the second sees the end of the stream and marks the connection bad.
        if PQconsumeInput(self.conn) == 1, PQconsumeInput(self.conn) == 1, PQstatus(self.conn) == CONNECTION_OK { return }
        self.logger.info("postgres connection was closed by the server while idle; reconnecting", metadata: ["postgres.host": "\(self.hostAndPort)"])
        PQreset(self.conn)
        guard PQstatus(self.conn) == CONNECTION_OK else {
            throw makePostgresError(result: nil, conn: self.conn, hostAndPort: self.hostAndPort, connecting: true)
        }
    }

    private static func execParams(_ conn: OpaquePointer, _ query: PostgresQuery) -> OpaquePointer? {
        let count = query.binds.count
        let values = query.binds.map { $0.map { strdup($0) } ?? nil }
        defer { values.forEach { free($0) } }
        let valuePointers = values.map { $0.map { UnsafePointer($0) } }
        let types: [Oid] = query.bindTypeOIDs.map { Oid($0) }
        // Text-format parameters (paramFormats nil) and text-format results (resultFormat 0).
        return valuePointers.withUnsafeBufferPointer { valueBuffer in
            types.withUnsafeBufferPointer { typeBuffer in
                PQexecParams(
                    conn,
                    query.sql,
                    Int32(count),
                    count == 0 ? nil : typeBuffer.baseAddress,
                    count == 0 ? nil : valueBuffer.baseAddress,
                    nil,
                    nil,
                    0
                )
            }
        }
    }

    private static func copyRows(_ result: OpaquePointer) -> PostgresRows {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        var columns: [String] = []
        columns.reserveCapacity(columnCount)
        for column in 0..<columnCount {
            columns.append(PQfname(result, Int32(column)).map { String(cString: $0) } ?? "?column?")
        }
        var values: [String?] = []
        values.reserveCapacity(rowCount * columnCount)
        for row in 0..<rowCount {
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    values.append(nil)
                } else {
                    let length = Int(PQgetlength(result, Int32(row), Int32(column)))
                    let value = PQgetvalue(result, Int32(row), Int32(column))!
                    let bytes = UnsafeRawBufferPointer(start: value, count: length)
                    values.append(String(decoding: bytes.bindMemory(to: UInt8.self), as: UTF8.self))
                }
            }
        }
        let affectedRows = PQcmdTuples(result).flatMap { Int(String(cString: $0)) } ?? 0
        let commandTag = PQcmdStatus(result).map { String(cString: $0) } ?? ""
        return PostgresRows(columns: columns, values: values, rowCount: rowCount, affectedRows: affectedRows, commandTag: commandTag)
    }
}

/// Maps a failed result, or a failed connection, to a `PostgresError`. The one place where
/// libpq's statuses and SQLSTATEs become Swift errors.
private func makePostgresError(result: OpaquePointer?, conn: OpaquePointer, hostAndPort: String, connecting: Bool) -> PostgresError {
    func field(_ code: UInt8) -> String? {
        guard let result, let value = PQresultErrorField(result, Int32(code)) else { return nil }
        return String(cString: value)
    }
    let connectionMessage = PQerrorMessage(conn).map { String(cString: $0) }.map(oneLine)

    if connecting {
        return PostgresError(
            code: .connectionFailed,
            message: "could not connect to \(hostAndPort): \(connectionMessage ?? "unknown error")"
        )
    }

    let sqlState = field(UInt8(ascii: "C"))  // PG_DIAG_SQLSTATE
    var error = PostgresError(
        code: .forSQLState(sqlState),
        sqlState: sqlState,
        constraint: field(UInt8(ascii: "n")),  // PG_DIAG_CONSTRAINT_NAME
        table: field(UInt8(ascii: "t")),  // PG_DIAG_TABLE_NAME
        detail: field(UInt8(ascii: "D")),  // PG_DIAG_MESSAGE_DETAIL
        serverMessage: field(UInt8(ascii: "M"))  // PG_DIAG_MESSAGE_PRIMARY
    )
    if PQstatus(conn) == CONNECTION_BAD {
        error.code = .connectionLost
        error.message = "lost the connection to \(hostAndPort): \(connectionMessage ?? "connection closed")"
    } else if result == nil || error.serverMessage == nil {
        error.message = connectionMessage
    }
    return error
}

/// libpq's multi-line messages, as one line for logs.
private func oneLine(_ message: String) -> String {
    message.split(whereSeparator: \.isNewline).map { $0.trimmingPrefix(while: \.isWhitespace) }.joined(separator: " ")
}

/// Receives the server's notices and warnings for a connection and logs them at debug level.
private final class NoticeSink: Sendable {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }
}

private func receiveNotice(_ context: UnsafeMutableRawPointer?, _ result: OpaquePointer?) {
    guard let context, let result else { return }
    let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
    let severity = PQresultErrorField(result, Int32(UInt8(ascii: "V"))).map { String(cString: $0) } ?? "NOTICE"
    let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) } ?? ""
    sink.logger.debug("postgres \(severity.lowercased()): \(message)")
}
