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
/// Opening (`connect`), reconnecting (`reset`) and closing block and run on the pool's
/// `NIOThreadPool`. Queries do not block: the connection is in non-blocking mode and its
/// `LibpqIOLoop` sends them and reads their results when the socket is ready
/// (`startQuery`, `continueQuery`). The `PGconn` is finished in `close()` or, failing that,
/// in `deinit`.
///
/// `@unchecked Sendable`: the raw `PGconn*` is not Sendable, but it is used by one thread at a
/// time: the I/O loop while a query is queued or in flight there (`queriesInLoop`, counted
/// under `state`'s lock), and otherwise the task holding the lease or the closing thread,
/// under that lock.
final class LibpqConnection: @unchecked Sendable {
    private struct State {
        var isClosed = false
        /// `PQfinish` was called (it waits while the I/O loop still has queries of this connection).
        var isFinished = false
        /// Queries submitted to the I/O loop and not completed yet.
        var queriesInLoop = 0
        /// When the connection went back to the pool; after a pause the socket is checked
        /// before the next lease. Back-to-back leases skip the check: it costs two
        /// syscalls, and a server gone in the last moment still surfaces as `.connectionLost`.
        var idleSince: ContinuousClock.Instant?
        /// libpq's connection and transaction status after the last query, so that the pool
        /// reads them without touching the `PGconn` while the I/O loop may be using it.
        var status = Status(isOK: true, isBad: false, transaction: .idle)
        /// Statements prepared on this session, by their SQL and parameter types: each is
        /// parsed and analysed once per connection, not on every run. Emptied by `reset`.
        var prepared: [PreparedKey: String] = [:]
        /// Names are never reused, so a statement dropped from `prepared` cannot clash.
        var preparedNames = 0
    }

    fileprivate struct PreparedKey: Hashable {
        var sql: String
        var typeOIDs: [UInt32]
    }

    /// At most this many statements are prepared per session; later ones run unnamed.
    private static let maximumPrepared = 256

    private struct Status {
        enum Transaction { case idle, inTransaction, other }
        var isOK: Bool
        var isBad: Bool
        var transaction: Transaction
    }

    private static let livenessCheckAfter: Duration = .milliseconds(250)

    private let conn: OpaquePointer
    private let state = Mutex(State())
    private let noticeSink: NoticeSink
    private let logger: Logger
    /// The loop that runs this connection's queries.
    private let loop: LibpqIOLoop
    let hostAndPort: String

    private init(conn: OpaquePointer, noticeSink: NoticeSink, logger: Logger, loop: LibpqIOLoop, hostAndPort: String) {
        self.conn = conn
        self.noticeSink = noticeSink
        self.logger = logger
        self.loop = loop
        self.hostAndPort = hostAndPort
    }

    deinit {
        // No query can be in the loop: each holds a reference to the connection.
        self.state.withLock { state in
            if !state.isFinished {
                state.isClosed = true
                state.isFinished = true
                PQfinish(self.conn)
            }
        }
    }

    /// Opens a connection (blocking) whose queries `loop` will run. Sessions run with
    /// `TimeZone=UTC` and `DateStyle=ISO`, so `timestamptz` text is always ISO 8601 in UTC.
    static func connect(configuration: PostgresConfiguration, logger: Logger, loop: LibpqIOLoop) throws -> LibpqConnection {
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
        guard PQstatus(conn) == CONNECTION_OK, PQsetnonblocking(conn, 1) == 0 else {
            let error = makePostgresError(result: nil, conn: conn, hostAndPort: configuration.hostAndPort, connecting: true)
            PQfinish(conn)
            throw error
        }

        let sink = NoticeSink(logger: logger)
        PQsetNoticeReceiver(conn, receiveNotice, Unmanaged.passUnretained(sink).toOpaque())
        return LibpqConnection(conn: conn, noticeSink: sink, logger: logger, loop: loop, hostAndPort: configuration.hostAndPort)
    }

    /// Runs one query on the I/O loop and returns its rows, copied into Swift values.
    func execute(_ query: PostgresQuery) async throws -> PostgresRows {
        // C strings end at NUL, which PostgreSQL text cannot hold: refuse rather than truncate.
        if query.binds.contains(where: { $0?.utf8.contains(0) == true }) {
            throw PostgresError(code: .server, message: "a parameter contains a NUL character, which PostgreSQL text cannot hold", sqlState: "22021")
        }
        try self.state.withLock { state in
            guard !state.isClosed else {
                throw PostgresError(code: .connectionLost, message: "the connection to \(self.hostAndPort) is closed")
            }
            state.queriesInLoop += 1
        }
        return try await withCheckedThrowingContinuation { continuation in
            self.loop.submit(LibpqIOLoop.Operation(connection: self, query: query, continuation: continuation))
        }
    }

    /// Marks the connection as having sat idle, so its next lease checks that the server is still there.
    func markIdle() {
        self.state.withLock { $0.idleSince = .now }
    }

    /// At the start of a lease, after the connection sat idle for a while: reads whatever the
    /// server sent meanwhile (without blocking) and returns true when the server closed the
    /// connection (restart, `pg_terminate_backend`), which then needs `reset()`.
    func isBrokenAfterIdle() -> Bool {
        self.state.withLock { state in
            guard let idleSince = state.idleSince else { return false }
            state.idleSince = nil
            guard !state.isClosed, state.queriesInLoop == 0, ContinuousClock.now - idleSince > Self.livenessCheckAfter else { return false }
            // A terminated backend sends a FATAL error and then closes: the first read consumes
            // the error, the second sees the end of the stream and marks the connection bad.
            if PQconsumeInput(self.conn) == 1, PQconsumeInput(self.conn) == 1, PQstatus(self.conn) == CONNECTION_OK { return false }
            state.status = self.currentStatus()
            return true
        }
    }

    /// Reconnects with the same parameters (blocking: runs on the pool's thread pool). Only
    /// done at the start of a lease, when no transaction or session state can be lost.
    func reset() throws {
        try self.state.withLock { state in
            guard !state.isClosed, state.queriesInLoop == 0 else {
                throw PostgresError(code: .connectionLost, message: "the connection to \(self.hostAndPort) is closed")
            }
            self.logger.info("postgres connection was closed by the server while idle; reconnecting", metadata: ["postgres.host": "\(self.hostAndPort)"])
            PQreset(self.conn)
            state.prepared = [:]  // a new session has none
            // A reset connection is blocking again.
            let isOpen = PQstatus(self.conn) == CONNECTION_OK && PQsetnonblocking(self.conn, 1) == 0
            state.status = self.currentStatus()
            guard isOpen else {
                throw makePostgresError(result: nil, conn: self.conn, hostAndPort: self.hostAndPort, connecting: true)
            }
        }
    }

    /// Whether the connection may go back to the pool: open, healthy, outside any transaction
    /// and with no query left in the I/O loop.
    var isReusable: Bool {
        self.state.withLock { state in
            !state.isClosed && state.queriesInLoop == 0 && state.status.isOK && state.status.transaction == .idle
        }
    }

    /// Whether the session is inside a transaction block (`BEGIN` without `COMMIT` yet).
    var isInTransaction: Bool {
        self.state.withLock { state in !state.isClosed && state.status.transaction == .inTransaction }
    }

    /// Whether the connection broke (the server went away or the socket failed).
    var isBroken: Bool {
        self.state.withLock { state in state.isClosed || state.status.isBad }
    }

    /// Sends the terminate message and frees the `PGconn`. When a query is still in the I/O
    /// loop (a task kept using the connection after its lease), the loop finishes the
    /// connection once that query completes.
    func close() {
        self.state.withLock { state in
            guard !state.isClosed else { return }
            state.isClosed = true
            if state.queriesInLoop == 0, !state.isFinished {
                state.isFinished = true
                PQfinish(self.conn)
            }
        }
    }

    // MARK: - Driven by the I/O loop

    /// The results read so far for the query in flight (owned by the I/O loop's entry).
    struct QueryProgress {
        /// The first error result, which wins: a multi-statement string stops at it.
        fileprivate var error: OpaquePointer?
        /// The last result otherwise.
        fileprivate var last: OpaquePointer?
        /// The statement is being prepared; once that succeeds it runs under this name.
        fileprivate var preparing: (name: String, key: PreparedKey, query: PostgresQuery)?
        /// The prepared statement running, if the query runs as one.
        fileprivate var runningPrepared: PreparedKey?
    }

    /// What the query in flight needs next.
    enum QueryStep {
        struct Wait {
            let socket: Int32
            /// The query is not fully sent yet: wait for writable (or readable) and flush.
            let forWriting: Bool
        }

        case wait(Wait)
        case done(Result<PostgresRows, any Error>)
    }

    /// I/O loop: sends the query without blocking.
    func startQuery(_ query: PostgresQuery, _ progress: inout QueryProgress) -> QueryStep {
        let isClosed = self.state.withLock { $0.isClosed }
        guard !isClosed else {
            return .done(.failure(PostgresError(code: .connectionLost, message: "the connection to \(self.hostAndPort) is closed")))
        }
        let sent: Int32
        if query.isMultiStatement {
            sent = PQsendQuery(self.conn, query.sql)
        } else {
            switch self.statementName(for: query) {
            case .prepared(let name, let key):
                sent = Self.sendPrepared(self.conn, name: name, query)
                progress.runningPrepared = key
            case .prepare(let name, let key):
                sent = Self.sendPrepare(self.conn, name: name, query)
                if sent == 1 { progress.preparing = (name, key, query) }
            case .unnamed:
                sent = Self.sendParams(self.conn, query)
            }
        }
        guard sent == 1 else {
            return .done(.failure(makePostgresError(result: nil, conn: self.conn, hostAndPort: self.hostAndPort, connecting: false)))
        }
        return self.flush(&progress)
    }

    /// I/O loop: the socket became ready for the query in flight.
    func continueQuery(_ progress: inout QueryProgress, flushing: Bool, readable: Bool) -> QueryStep {
        if flushing {
            // While sending, the server's replies must be read too, or both sides could wait on
            // full buffers.
            if readable { _ = PQconsumeInput(self.conn) }
            return self.flush(&progress)
        }
        // 0 means connection trouble; PQgetResult then reports it as an error result.
        _ = PQconsumeInput(self.conn)
        return self.collect(&progress)
    }

    /// I/O loop: the loop stopped with this query in flight; its results are dropped.
    func abandonQuery(_ progress: inout QueryProgress) {
        PQclear(progress.error)
        PQclear(progress.last)
        progress = QueryProgress()
    }

    /// A query submitted by `execute` completed (or was refused): the loop no longer uses
    /// the connection for it, and the status the pool reads is brought up to date.
    func queryFinished() {
        self.state.withLock { state in
            state.queriesInLoop -= 1
            guard state.queriesInLoop == 0, !state.isFinished else { return }
            state.status = self.currentStatus()
            if state.isClosed {
                // `close()` was called meanwhile and left this to the last query.
                state.isFinished = true
                PQfinish(self.conn)
            }
        }
    }

    // MARK: - Private

    private enum StatementName {
        case prepared(String, PreparedKey)
        case prepare(String, PreparedKey)
        case unnamed
    }

    private func statementName(for query: PostgresQuery) -> StatementName {
        let key = PreparedKey(sql: query.sql, typeOIDs: query.bindTypeOIDs)
        return self.state.withLock { state in
            if let name = state.prepared[key] { return .prepared(name, key) }
            guard state.prepared.count < Self.maximumPrepared else { return .unnamed }
            state.preparedNames += 1
            return .prepare("boxoffice_\(state.preparedNames)", key)
        }
    }

    /// The statement was prepared (or failed to be): remember it and run it, or report why not.
    private func executePrepared(
        _ preparing: (name: String, key: PreparedKey, query: PostgresQuery), _ progress: inout QueryProgress
    ) -> QueryStep {
        guard progress.error == nil else { return .done(self.finish(&progress)) }
        PQclear(progress.last)
        progress.last = nil
        self.state.withLock { $0.prepared[preparing.key] = preparing.name }
        progress.runningPrepared = preparing.key
        guard Self.sendPrepared(self.conn, name: preparing.name, preparing.query) == 1 else {
            return .done(.failure(makePostgresError(result: nil, conn: self.conn, hostAndPort: self.hostAndPort, connecting: false)))
        }
        return self.flush(&progress)
    }

    private func flush(_ progress: inout QueryProgress) -> QueryStep {
        switch PQflush(self.conn) {
        case 0:
            return self.collect(&progress)
        case 1:
            let socket = PQsocket(self.conn)
            guard socket >= 0 else { return self.collect(&progress) }
            return .wait(QueryStep.Wait(socket: socket, forWriting: true))
        default:
            // Sending failed: the connection is bad and PQgetResult reports why.
            return self.collect(&progress)
        }
    }

    /// Reads every result that is complete, as PQexec does: until PQgetResult returns NULL,
    /// or stops at COPY (unsupported) or a lost connection.
    private func collect(_ progress: inout QueryProgress) -> QueryStep {
        while PQisBusy(self.conn) == 0 {
            guard let result = PQgetResult(self.conn) else {
                if let preparing = progress.preparing {
                    progress.preparing = nil
                    return self.executePrepared(preparing, &progress)
                }
                return .done(self.finish(&progress))
            }
            let status = PQresultStatus(result)
            switch status {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
                PQclear(progress.last)
                progress.last = result
            default:
                if progress.error == nil {
                    progress.error = result
                } else {
                    PQclear(result)
                }
            }
            if status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH || PQstatus(self.conn) == CONNECTION_BAD {
                return .done(self.finish(&progress))
            }
        }
        let socket = PQsocket(self.conn)
        guard socket >= 0 else {
            // No socket to wait on (the connection was dropped): PQgetResult reports the error
            // without waiting.
            while let result = PQgetResult(self.conn) {
                if progress.error == nil { progress.error = result } else { PQclear(result) }
            }
            return .done(self.finish(&progress))
        }
        return .wait(QueryStep.Wait(socket: socket, forWriting: false))
    }

    /// Turns the collected results into rows or an error, and frees them.
    private func finish(_ progress: inout QueryProgress) -> Result<PostgresRows, any Error> {
        defer { self.abandonQuery(&progress) }
        if let error = progress.error {
            let failure = makePostgresError(result: error, conn: self.conn, hostAndPort: self.hostAndPort, connecting: false)
            if let key = progress.runningPrepared, ["26000", "0A000"].contains(failure.sqlState) {
                // The session lost the statement (an outside DEALLOCATE), or its result's shape
                // changed (a migration): prepare it afresh next time.
                self.state.withLock { _ = $0.prepared.removeValue(forKey: key) }
            }
            return .failure(failure)
        }
        guard let result = progress.last else {
            return .failure(makePostgresError(result: nil, conn: self.conn, hostAndPort: self.hostAndPort, connecting: false))
        }
        switch PQresultStatus(result) {
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            // The connection is now stuck in COPY; `isReusable` is false, so it is discarded.
            return .failure(PostgresError(code: .server, message: "COPY is not supported by this client"))
        default:
            return .success(Self.copyRows(result))
        }
    }

    private func currentStatus() -> Status {
        let transaction: Status.Transaction
        switch PQtransactionStatus(self.conn) {
        case PQTRANS_IDLE: transaction = .idle
        case PQTRANS_INTRANS, PQTRANS_INERROR: transaction = .inTransaction
        default: transaction = .other
        }
        let status = PQstatus(self.conn)
        return Status(isOK: status == CONNECTION_OK, isBad: status == CONNECTION_BAD, transaction: transaction)
    }

    private static func sendPrepare(_ conn: OpaquePointer, name: String, _ query: PostgresQuery) -> Int32 {
        let types: [Oid] = query.bindTypeOIDs.map { Oid($0) }
        return types.withUnsafeBufferPointer { typeBuffer in
            PQsendPrepare(conn, name, query.sql, Int32(types.count), types.isEmpty ? nil : typeBuffer.baseAddress)
        }
    }

    private static func sendPrepared(_ conn: OpaquePointer, name: String, _ query: PostgresQuery) -> Int32 {
        let count = query.binds.count
        let values = query.binds.map { $0.map { strdup($0) } ?? nil }
        defer { values.forEach { free($0) } }
        let valuePointers = values.map { $0.map { UnsafePointer($0) } }
        // Text-format parameters and results, as `sendParams`.
        return valuePointers.withUnsafeBufferPointer { valueBuffer in
            PQsendQueryPrepared(conn, name, Int32(count), count == 0 ? nil : valueBuffer.baseAddress, nil, nil, 0)
        }
    }

    private static func sendParams(_ conn: OpaquePointer, _ query: PostgresQuery) -> Int32 {
        let count = query.binds.count
        let values = query.binds.map { $0.map { strdup($0) } ?? nil }
        defer { values.forEach { free($0) } }
        let valuePointers = values.map { $0.map { UnsafePointer($0) } }
        let types: [Oid] = query.bindTypeOIDs.map { Oid($0) }
        // Text-format parameters (paramFormats nil) and text-format results (resultFormat 0).
        return valuePointers.withUnsafeBufferPointer { valueBuffer in
            types.withUnsafeBufferPointer { typeBuffer in
                PQsendQueryParams(
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
