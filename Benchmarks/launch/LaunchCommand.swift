import ArgumentParser
import AsyncHTTPClient
import BoxOffice
import Foundation
import Histogram
import Logging
import NIOCore
import NIOPosix
import PostgresClient
import RedisClient
import Synchronization

struct LaunchOptions: ParsableArguments, Sendable {
    @Option(help: "The server's base URL.") var url = "http://127.0.0.1:8080"
    @Option(name: .customLong("database-url"), help: "The server's PostgreSQL (people are made there; invariants are read there).")
    var databaseURL = ProcessInfo.processInfo.environment["BOXOFFICE_DATABASE_URL"] ?? "postgres://boxoffice:boxoffice@127.0.0.1:5440/boxoffice"
    @Option(name: .customLong("redis-url"), help: "The server's Redis.")
    var redisURL = ProcessInfo.processInfo.environment["BOXOFFICE_REDIS_URL"] ?? "redis://127.0.0.1:6390/0"
    @Option(name: .customLong("jwt-secret"), help: "The server's BOXOFFICE_JWT_SECRET, to sign the people's tokens.")
    var jwtSecret = ProcessInfo.processInfo.environment["BOXOFFICE_JWT_SECRET"] ?? ""
    @Option(name: .customLong("payment-secret"), help: "The server's BOXOFFICE_PAYMENT_SECRET, to sign callbacks.")
    var paymentSecret = ProcessInfo.processInfo.environment["BOXOFFICE_PAYMENT_SECRET"] ?? BoxOfficeSettings().paymentSecret
    @Option(help: "Showtimes on sale.") var showtimes = 4
    @Option(help: "Seats per showtime.") var seats = 1000
    @Option(help: "People who want tickets.") var users = 20_000
    @Option(help: "People shopping at the same moment.") var concurrency = 256
    @Option(name: .customLong("watchers"), help: "People watching the live stream over server-sent events, spread over the showtimes.") var watchers = 200
    @Option(name: .customLong("websocket-watchers"), help: "People watching the live stream over WebSocket, spread over the showtimes like --watchers.")
    var webSocketWatchers = 200
    @Option(name: .customLong("hold-ttl"), help: "The server's hold TTL in seconds (late payments wait for it).") var holdTTL = 480
    @Option(name: .customLong("payment-window"), help: "The server's payment window in seconds.") var paymentWindow = 600
    @Flag(name: .customLong("wait-for-expiry"), help: "Wait until every hold expired, send the late payments, then check that sold + available = capacity.")
    var waitForExpiry = false
    @Option(help: "Write <output>/<label>.json and .md.") var output: String?
    @Option(help: "The results' file name.") var label = ISO8601DateFormatter.string(from: Date(), timeZone: .gmt, formatOptions: [.withFullDate])
    @Option(help: "Seed for everyone's choices.") var seed: UInt64 = 42
    @Option(name: .customLong("fault"), help: "SECONDS=COMMAND: run the shell command that many seconds after the sale opens (repeatable), e.g. 4='scripts/cluster kill-redis-primary'.")
    var faults: [Fault] = []
    @Flag(
        inversion: .prefixedNo,
        help: "First sell as many showtimes again with no HTTP (the domain's services in this process): the run's ceiling."
    )
    var ceiling = true
    @Flag(
        inversion: .prefixedNo,
        help: "Sell the ceiling's showtimes a second time with group commit off (BOXOFFICE_GROUP_COMMIT=0), before the run with it on, to compare the two."
    )
    var compareGroupCommit = true
    @Option(name: .customLong("ceiling-showtimes"), help: "Showtimes each ceiling sale sells (default: --showtimes); more make a longer, steadier measurement.")
    var ceilingShowtimes: Int?
    @Flag(name: .customLong("only-ceiling"), help: "Measure the ceiling (with and without group commit) and stop: no sale over HTTP.")
    var onlyCeiling = false

    @Flag(
        name: .customLong("waiting-room"),
        help: "Sell twice, on fresh showtimes of the same size: without a waiting room, then with one (waiting_room always); compare holds, pace, fairness, wait estimates. No ceiling, no watchers."
    )
    var waitingRoom = false
    @Option(name: .customLong("pre-queue-seconds"), help: "With --waiting-room: a quarter of the people arrive over this many seconds before the opening (e.g. 60).")
    var preQueueSeconds = 10.0
    @Option(name: .customLong("arrival-seconds"), help: "With --waiting-room: the other people arrive over this many seconds after the opening.")
    var arrivalSeconds = 5.0
    @Option(name: .customLong("queue-poll-ms"), help: "With --waiting-room: a waiting person polls their ticket this often (±25% jitter), more seldom when the estimated wait is long (every estimate ÷ 4; before the opening, every time left ÷ 2).")
    var queuePollMilliseconds = 1000
    @Option(name: .customLong("queue-poll-max-seconds"), help: "With --waiting-room: the longest time between two polls.")
    var queuePollMaxSeconds = 5.0
    @Option(name: .customLong("queue-connections"), help: "With --waiting-room: HTTP connections for polls, and as many for joins (client pools of their own; shopping has --concurrency).")
    var queueConnections = 32
    @Option(name: .customLong("queue-polls-per-second"), help: "With --waiting-room: all waiting people's polls together at most this many per second (the simulator's cap; polls wait for a slot), but for people whose estimated wait is 2 s or less.")
    var queuePollsPerSecond = 1500
    @Option(name: .customLong("queue-admissions-per-second"), help: "With --waiting-room: each room's admissions per second (PUT /admin/showtimes/{id}/queue); default the server's setting.")
    var queueAdmissionsPerSecond: Int?
    @Option(name: .customLong("queue-max-active"), help: "With --waiting-room: each room's active shoppers at most; default the server's (from the seats left).")
    var queueMaxActive: Int?
    @Option(name: .customLong("queue-streams"), help: "With --waiting-room: how many waiting people at once follow their ticket's event stream (GET /queue/{ticket}/events) instead of polling; the rest poll (a process here may open 20,000 files). 0: everyone polls.")
    var queueStreams = 8000
    @Option(name: .customLong("queue-patience-seconds"), help: "With --waiting-room: a person still waiting after this long leaves.")
    var queuePatienceSeconds = 180.0

    var ceilingShowtimeCount: Int { ceiling || onlyCeiling ? (ceilingShowtimes ?? showtimes) : 0 }
}

@main
struct LaunchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "A premiere goes on sale: many people poll, hold, retry, check out and pay at once; then the invariants are checked."
    )

    @OptionGroup var options: LaunchOptions

    func run() async throws {
        guard options.jwtSecret.utf8.count >= 32 else { throw ValidationError("--jwt-secret (or BOXOFFICE_JWT_SECRET) must be the server's secret") }
        var logger = Logger(label: "launch")
        logger.logLevel = .warning
        let postgres = PostgresPool(configuration: try PostgresConfiguration(url: options.databaseURL), logger: logger)
        let redis = RedisClient(configuration: try RedisConfiguration(url: options.redisURL), logger: logger)
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: options.concurrency + options.watchers + 8)
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
        let measurements = Measurements()
        let api = API(client: client, baseURL: options.url, measurements: measurements)
        do {
            let violations = options.waitingRoom
                ? try await WaitingRoomComparison(options: options, client: client, postgres: postgres, redis: redis).run()
                : try await simulate(api: api, postgres: postgres, redis: redis, client: client, measurements: measurements)
            try await client.shutdown()
            await postgres.close()
            await redis.close()
            if violations > 0 { throw ExitCode(1) }
        } catch {
            try? await client.shutdown()
            await postgres.close()
            await redis.close()
            throw error
        }
    }

    private func simulate(api: API, postgres: PostgresPool, redis: RedisClient, client: HTTPClient, measurements: Measurements) async throws -> Int {
        progress("setting up \(options.showtimes) showtimes × \(options.seats) seats and \(options.users) people…")
        let stage = try await buildStage(options: options, api: api, postgres: postgres)
        let shopper = Shopper(
            api: api, signer: PaymentSignature(secret: options.paymentSecret), measurements: measurements, board: SaleBoard(layouts: stage.layouts)
        )
        // Without group commit first: the run with it (the server's default) meets the larger tables.
        let unbatchedCeiling = try await sellWithoutHTTP(stage.unbatchedCeilingShowtimes, userIDs: stage.userIDs, groupCommit: false)
        let ceiling = try await sellWithoutHTTP(stage.ceilingShowtimes, userIDs: stage.userIDs, groupCommit: true)
        if options.onlyCeiling {
            let violations = try await BookingInvariants.violations(in: postgres)
            print(LaunchReport.ceilingMarkdown(ceiling: ceiling, unbatched: unbatchedCeiling, violations: violations))
            return violations.count
        }
        let watcher = Watcher(client: client, baseURL: options.url, measurements: measurements)
        let socketWatcher = Watcher(client: client, baseURL: options.url, measurements: measurements, transport: .webSocket)
        let watching = Task { [options] in
            await withTaskGroup(of: Void.self) { group in
                // Both kinds on the same showtimes, interleaved, so that neither connects first.
                for index in 0..<max(options.watchers, options.webSocketWatchers) {
                    let showtime = stage.showtimes[index % stage.showtimes.count].id
                    if index < options.watchers { group.addTask { await watcher.watch(showtimeID: showtime) } }
                    if index < options.webSocketWatchers { group.addTask { await socketWatcher.watch(showtimeID: showtime) } }
                }
            }
        }
        // The watchers connect before the sale opens: half a second, and up to 10 s more until
        // every one connected or failed (1,000 + 1,000 take longer than 200).
        try await Task.sleep(for: .milliseconds(500))
        for _ in 0..<100 {
            let settled = ["watchers_connected", "watchers_failed", "watchers_connected_ws", "watchers_failed_ws"].map(measurements.counter).reduce(0, +)
            if settled >= options.watchers + options.webSocketWatchers { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        progress("\(measurements.counter("watchers_connected")) watchers connected over server-sent events, \(measurements.counter("watchers_connected_ws")) over WebSocket")

        progress("the sale opens")
        let rushStart = measurements.elapsedMicroseconds
        let cpuAtOpening = ProcessCPU.sample()
        let board = shopper.board
        let seed = options.seed
        let faulting = Task { [faults = options.faults] in await injectFaults(faults, measurements: measurements) }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, options.concurrency) {
                group.addTask {
                    while true {
                        let person = board.nextPerson.add(1, ordering: .relaxed).oldValue
                        guard person < stage.tokens.count else { return }
                        let showtime = stage.showtimes[person % stage.showtimes.count].id
                        await shopper.shop(
                            token: stage.tokens[person], showtimeID: showtime, prefersBest: person % 2 == 1,
                            seed: seed &+ UInt64(person)
                        )
                    }
                }
            }
        }
        let rushEnd = measurements.elapsedMicroseconds
        let cpuDuringRush = ProcessCPU.sample().since(cpuAtOpening)
        await faulting.value

        let late = shopper.board.latePayments.withLock { $0 }
        if options.waitForExpiry {
            // Late payments come after their hold (and its payment extension) lapsed.
            let wait = Double(options.holdTTL + options.paymentWindow + 2)
            progress("waiting \(Int(wait)) s for the holds to lapse, then sending \(late.count) late payments…")
            try await Task.sleep(for: .seconds(wait))
        }
        await withTaskGroup(of: Void.self) { group in
            for payment in late { group.addTask { await shopper.pay(payment.paymentID, amount: payment.amount) } }
        }
        if options.waitForExpiry {
            try await Task.sleep(for: .seconds(2))  // the expiry worker sweeps every 250 ms
        }
        watching.cancel()
        let invariants = try await checkInvariants(
            stage: stage, postgres: postgres, redis: redis, api: api, holdsHaveExpired: options.waitForExpiry
        )
        let report = LaunchReport(
            options: options, stage: stage, measurements: measurements, rush: (rushStart, rushEnd),
            invariants: invariants, latePayments: late.count, ceiling: ceiling,
            unbatchedCeiling: unbatchedCeiling, cpuDuringRush: cpuDuringRush
        )
        print(report.markdown)
        if let output = options.output {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            try report.markdown.write(toFile: "\(output)/\(options.label).md", atomically: true, encoding: .utf8)
            try report.json().write(to: URL(fileURLWithPath: "\(output)/\(options.label).json"))
            print("wrote \(output)/\(options.label).md and .json")
        }
        return invariants.violations.count
    }

    /// The in-process ceiling, with pools as large as the server's (the same settings).
    private func sellWithoutHTTP(_ showtimes: [Stage.Showtime], userIDs: [UUID], groupCommit: Bool) async throws -> DirectSale.Result? {
        guard !showtimes.isEmpty else { return nil }
        var logger = Logger(label: "launch.ceiling")
        logger.logLevel = .warning
        let environment = ProcessInfo.processInfo.environment
        var postgresConfiguration = try PostgresConfiguration(url: options.databaseURL)
        postgresConfiguration.maxConnections = environment["BOXOFFICE_DATABASE_POOL_SIZE"].flatMap { Int($0) } ?? 10
        var redisConfiguration = try RedisConfiguration(url: options.redisURL)
        redisConfiguration.poolSize = environment["BOXOFFICE_REDIS_POOL_SIZE"].flatMap { Int($0) } ?? 4
        let postgres = PostgresPool(configuration: postgresConfiguration, logger: logger)
        let redis = RedisClient(configuration: redisConfiguration, logger: logger)
        progress("the ceiling: selling \(showtimes.count) showtimes with no HTTP, group commit \(groupCommit ? "on" : "off")…")
        let sale = DirectSale(
            showtimes: showtimes, userIDs: userIDs, concurrency: options.concurrency,
            paymentSecret: options.paymentSecret, groupCommit: groupCommit, postgres: postgres, redis: redis
        )
        // Where PostgreSQL's time goes, when the bench PostgreSQL loads pg_stat_statements.
        var statementStats = (try? await postgres.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")) != nil
        if statementStats { statementStats = (try? await postgres.query("SELECT pg_stat_statements_reset()")) != nil }
        do {
            let cpuBefore = ProcessCPU.sample()
            var result = try await sale.run(logger: logger)
            result.cpuSeconds = ProcessCPU.sample().since(cpuBefore)
            if statementStats {
                result.statements = try? await postgres.query("""
                    SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query, calls, total_exec_time, mean_exec_time, rows
                    FROM pg_stat_statements WHERE calls > 0 ORDER BY total_exec_time DESC LIMIT 8
                    """).map { row in
                    DirectSale.StatementCost(
                        query: try row.decode(String.self, column: "query"), calls: try row.decode(Int.self, column: "calls"),
                        totalMilliseconds: try row.decode(Double.self, column: "total_exec_time"),
                        meanMilliseconds: try row.decode(Double.self, column: "mean_exec_time"), rows: try row.decode(Int.self, column: "rows")
                    )
                }
            }
            await postgres.close()
            await redis.close()
            return result
        } catch {
            await postgres.close()
            await redis.close()
            throw error
        }
    }
}

/// A progress line on standard error, unbuffered: it appears when it happens, also through a
/// pipe (a profiler started on "the sale opens" catches the rush).
func progress(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
