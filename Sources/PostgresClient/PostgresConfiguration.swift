/// Where and how the pool connects to PostgreSQL.
public struct PostgresConfiguration: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    /// libpq's `sslmode` (`disable`, `prefer`, `require`, `verify-full`, ...); nil leaves libpq's default.
    public var sslMode: String?
    /// The most connections the pool opens at once.
    public var maxConnections: Int = 10
    /// Threads that send queries and read results for all connections, without blocking
    /// (like pgbench's `-j`). One keeps up with many connections on a small machine.
    public var ioThreads: Int = 1
    /// How long `withConnection` waits for a free connection before `.poolTimeout`.
    public var acquireTimeout: Duration = .seconds(5)
    /// Seconds libpq waits when opening a connection (`connect_timeout`).
    public var connectTimeout: Int = 5
    /// Shown in `pg_stat_activity.application_name`.
    public var applicationName: String = "boxoffice"

    public init(
        host: String,
        port: Int = 5432,
        user: String,
        password: String? = nil,
        database: String
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }

    /// Parses `postgres://user:password@host:port/database?sslmode=disable`.
    ///
    /// `postgresql://` is accepted too; user, password and database are percent-decoded; the
    /// port defaults to 5432. Query parameters: `sslmode`, `application_name`, `connect_timeout`.
    /// Throws `PostgresError(.invalidConfiguration)` naming what is wrong (never the password).
    public init(url: String) throws {
        func invalid(_ message: String) -> PostgresError {
            PostgresError(code: .invalidConfiguration, message: "invalid database URL: \(message)")
        }
        var rest: Substring
        if url.hasPrefix("postgres://") {
            rest = url.dropFirst("postgres://".count)
        } else if url.hasPrefix("postgresql://") {
            rest = url.dropFirst("postgresql://".count)
        } else {
            throw invalid("it must start with postgres:// or postgresql://")
        }

        var queryString: Substring?
        if let questionMark = rest.firstIndex(of: "?") {
            queryString = rest[rest.index(after: questionMark)...]
            rest = rest[..<questionMark]
        }

        // Split the user info at the last "@", so that an unencoded "@" or "/" in a password works.
        var userInfo: Substring?
        if let at = rest.lastIndex(of: "@") {
            userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }

        let hostPort: Substring
        var databasePart: Substring?
        if let slash = rest.firstIndex(of: "/") {
            hostPort = rest[..<slash]
            databasePart = rest[rest.index(after: slash)...]
        } else {
            hostPort = rest
        }

        // Host and port; IPv6 addresses are written in brackets: [::1]:5432.
        var host: Substring
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw invalid("unterminated [ in host") }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let afterClose = hostPort[hostPort.index(after: close)...]
            if !afterClose.isEmpty {
                guard afterClose.hasPrefix(":") else { throw invalid("unexpected text after ] in host") }
                portText = afterClose.dropFirst()
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = hostPort[..<colon]
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = hostPort
        }
        guard !host.isEmpty else { throw invalid("missing host") }

        var port = 5432
        if let portText {
            guard let parsed = Int(portText), (1...65535).contains(parsed) else {
                throw invalid("port \"\(portText)\" is not a number between 1 and 65535")
            }
            port = parsed
        }

        guard let userInfo, !userInfo.isEmpty else { throw invalid("missing user (postgres://user:password@host/database)") }
        let user: String
        var password: String?
        if let colon = userInfo.firstIndex(of: ":") {
            guard let decodedUser = percentDecode(userInfo[..<colon]) else { throw invalid("bad percent-encoding in user") }
            guard let decodedPassword = percentDecode(userInfo[userInfo.index(after: colon)...]) else {
                throw invalid("bad percent-encoding in password")
            }
            user = decodedUser
            password = decodedPassword
        } else {
            guard let decodedUser = percentDecode(userInfo) else { throw invalid("bad percent-encoding in user") }
            user = decodedUser
        }
        guard !user.isEmpty else { throw invalid("missing user") }

        guard let databasePart, !databasePart.isEmpty else { throw invalid("missing database name after the host") }
        guard let database = percentDecode(databasePart) else { throw invalid("bad percent-encoding in database name") }
        guard let decodedHost = percentDecode(host) else { throw invalid("bad percent-encoding in host") }

        self.init(host: decodedHost, port: port, user: user, password: password, database: database)

        if let queryString, !queryString.isEmpty {
            for pair in queryString.split(separator: "&") {
                let keyValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard keyValue.count == 2, let key = percentDecode(keyValue[0]), let value = percentDecode(keyValue[1]) else {
                    throw invalid("query parameter \"\(pair)\" is not key=value")
                }
                switch key {
                case "sslmode":
                    self.sslMode = value
                case "application_name":
                    self.applicationName = value
                case "connect_timeout":
                    guard let seconds = Int(value), seconds >= 0 else { throw invalid("connect_timeout must be a number of seconds") }
                    self.connectTimeout = seconds
                default:
                    throw invalid("unsupported query parameter \"\(key)\" (supported: sslmode, application_name, connect_timeout)")
                }
            }
        }
    }

    /// The configuration without its password, for logs.
    public var description: String {
        let credentials = self.password == nil ? self.user : "\(self.user):***"
        return "postgres://\(credentials)@\(self.hostAndPort)/\(self.database)"
    }

    /// `host:port`, as named in connection errors.
    var hostAndPort: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }
}

/// Decodes `%XX` escapes; nil when an escape is malformed or the result is not UTF-8.
func percentDecode(_ text: Substring) -> String? {
    guard text.contains("%") else { return String(text) }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    var iterator = text.utf8.makeIterator()
    func hexValue(_ byte: UInt8?) -> UInt8? {
        switch byte {
        case let b? where b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case let b? where b >= UInt8(ascii: "a") && b <= UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case let b? where b >= UInt8(ascii: "A") && b <= UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }
    while let byte = iterator.next() {
        if byte == UInt8(ascii: "%") {
            guard let high = hexValue(iterator.next()), let low = hexValue(iterator.next()) else { return nil }
            bytes.append(high << 4 | low)
        } else {
            bytes.append(byte)
        }
    }
    return String(validating: bytes, as: UTF8.self)
}
