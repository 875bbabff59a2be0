import ArgumentParser
import Foundation
import Logging
import PostgresClient
import RedisClient

/// Reads a flag, else its environment variable, else a default.
private func setting(_ flag: String?, _ variable: String) -> String? {
    if let flag { return flag }
    if let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty { return value }
    return nil
}

struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL, postgres://user:password@host:port/db (env BOXOFFICE_DATABASE_URL).")
    var databaseURL: String?

    @Option(name: .customLong("database-pool-size"), help: "Most PostgreSQL connections (env BOXOFFICE_DATABASE_POOL_SIZE, default 10).")
    var poolSize: Int?

    func configuration() throws -> PostgresConfiguration {
        let url = setting(databaseURL, "BOXOFFICE_DATABASE_URL") ?? "postgres://boxoffice:boxoffice@127.0.0.1:5440/boxoffice"
        var configuration: PostgresConfiguration
        do {
            configuration = try PostgresConfiguration(url: url)
        } catch {
            throw StartupError("BOXOFFICE_DATABASE_URL is not a valid postgres:// URL (\(error)); e.g. postgres://boxoffice:boxoffice@127.0.0.1:5440/boxoffice")
        }
        configuration.maxConnections = try positive(setting(poolSize.map(String.init), "BOXOFFICE_DATABASE_POOL_SIZE"), name: "BOXOFFICE_DATABASE_POOL_SIZE", default: 10, range: 1...500)
        return configuration
    }

    /// The read-only database staff reports read (a streaming replica), if one is set.
    func reportsConfiguration() throws -> PostgresConfiguration? {
        guard let url = setting(nil, "BOXOFFICE_REPORTS_DATABASE_URL") else { return nil }
        var configuration: PostgresConfiguration
        do {
            configuration = try PostgresConfiguration(url: url)
        } catch {
            throw StartupError("BOXOFFICE_REPORTS_DATABASE_URL is not a valid postgres:// URL (\(error)); e.g. postgres://boxoffice:boxoffice@127.0.0.1:5451/boxoffice")
        }
        configuration.maxConnections = 4
        return configuration
    }
}

struct RedisOptions: ParsableArguments {
    @Option(name: .customLong("redis-url"), help: "Redis URL, redis://[:password@]host:port/db (env BOXOFFICE_REDIS_URL).")
    var redisURL: String?

    @Option(name: .customLong("redis-pool-size"), help: "Redis connections, each pipelined (env BOXOFFICE_REDIS_POOL_SIZE, default 4).")
    var poolSize: Int?

    func configuration() throws -> RedisConfiguration {
        let url = setting(redisURL, "BOXOFFICE_REDIS_URL") ?? "redis://127.0.0.1:6390/0"
        var configuration: RedisConfiguration
        do {
            configuration = try RedisConfiguration(url: url)
        } catch {
            throw StartupError("BOXOFFICE_REDIS_URL is not a valid redis:// URL (\(error.message)); e.g. redis://127.0.0.1:6390/0")
        }
        configuration.poolSize = try positive(setting(poolSize.map(String.init), "BOXOFFICE_REDIS_POOL_SIZE"), name: "BOXOFFICE_REDIS_POOL_SIZE", default: 4, range: 1...64)
        return configuration
    }
}

struct LoggingOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (env BOXOFFICE_LOG_LEVEL, default info).")
    var logLevel: String?

    func bootstrap() throws -> Logger {
        let text = setting(logLevel, "BOXOFFICE_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw StartupError("BOXOFFICE_LOG_LEVEL '\(text)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "boxoffice")
    }
}

struct MigrationOptions: ParsableArguments {
    @Option(name: .customLong("migrations-dir"), help: "Folder of NNNN_name.sql migrations (env BOXOFFICE_MIGRATIONS_DIR, default ./migrations).")
    var directory: String?

    func migrator() throws -> Migrator {
        let path = setting(directory, "BOXOFFICE_MIGRATIONS_DIR") ?? "migrations"
        guard FileManager.default.fileExists(atPath: path) else {
            throw StartupError("no migrations folder at '\(path)': run from the repository root or set BOXOFFICE_MIGRATIONS_DIR")
        }
        do {
            return try Migrator(directory: path)
        } catch {
            throw StartupError("cannot read the migrations in '\(path)': \(error)")
        }
    }
}

func positive(_ text: String?, name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
    guard let text else { return value }
    guard let number = Int(text), range.contains(number) else {
        throw StartupError("\(name) '\(text)' must be a whole number from \(range.lowerBound) to \(range.upperBound)")
    }
    return number
}

func requiredSetting(_ flag: String?, _ variable: String) -> String? {
    setting(flag, variable)
}
