import ArgumentParser
import BoxOffice
import Foundation
import Logging
import PostgresClient

/// Times the staff reports (`ReportStore`, the code the routes call) over a generated year of a
/// cinema chain, beside `SELECT 1` through the same pool as the ceiling. Prints Markdown table
/// rows. Run by scripts/bench-reports, which generates the data (Benchmarks/reports/generate.sql).
@main
struct ReportsBenchmark: AsyncParsableCommand {
    @Option(help: "PostgreSQL URL of the generated database.")
    var url: String

    @Option(help: "Timed runs per report (after one warm-up run).")
    var runs = 11

    @Option(help: "The year's first day, YYYY-MM-DD; the chain's year starts at this day's start in its earliest zone.")
    var from = "2025-01-01"

    @Option(help: "The year's last day; the chain's year ends at this day's end in its latest zone.")
    var to = "2025-12-31"

    @Option(help: "The zone of the default cinema, which names the days of chain-wide reports (as the routes do).")
    var timeZone = "Europe/Berlin"

    @Option(help: "The cinema of the reports limited to one cinema (its name); their days are in its zone.")
    var cinema = "New York Union Square"

    func run() async throws {
        var configuration = try PostgresConfiguration(url: url)
        configuration.maxConnections = 2
        let pool = PostgresPool(configuration: configuration, logger: Logger(label: "bench"))
        guard let zone = TimeZone(identifier: timeZone) else { throw ValidationError("unknown time zone \(timeZone)") }
        let store = ReportStore(postgres: pool, timeZone: zone, timeSlots: .standard)

        // The chain's year: from the first day's start in the zone that starts it first to the
        // last day's end in the zone that ends it last, so every cinema's local year is in it.
        var zones: [TimeZone] = []
        for row in try await pool.query("SELECT DISTINCT time_zone FROM cinemas") {
            let name = try row.decode(String.self, column: "time_zone")
            guard let zone = TimeZone(identifier: name) else { throw ValidationError("unknown time zone \(name) in cinemas") }
            zones.append(zone)
        }
        let year = try period(from, to, in: zones)
        // Reservations made in March: days of the default zone, as the route names them.
        let march = try period("2025-03-01", "2025-03-31", in: [zone])

        let movieID = try await pool.query("SELECT min(id) AS id FROM movies").first!.decode(Int.self, column: "id") + 60
        guard let cinemaRow = try await pool.query("SELECT id, time_zone FROM cinemas WHERE name = \(cinema)").first,
              let cinemaZone = TimeZone(identifier: try cinemaRow.decode(String.self, column: "time_zone"))
        else { throw ValidationError("no cinema named \(cinema)") }
        let cinemaID = try cinemaRow.decode(Int.self, column: "id")
        // One cinema's reports name days in its own zone (the routes' ?cinema=).
        let cinemaYear = try period(from, to, in: [cinemaZone])
        let cinemaMarch = try period("2025-03-01", "2025-03-31", in: [cinemaZone])

        let ceiling = try await measure { try await pool.query("SELECT 1") }
        print("| `SELECT 1` round trip (the ceiling) | 1 | \(format(ceiling)) | 1 |")

        func row(_ name: String, _ body: () async throws -> Int) async throws {
            var rows = 0
            let median = try await measure { rows = try await body() }
            print("| \(name) | \(rows) | \(format(median)) | \(Int((median / ceiling).rounded())) |")
        }

        for grouping in RevenueGrouping.allCases {
            try await row("revenue, year, group_by=\(grouping.rawValue)") {
                try await store.revenue(period: year, groupBy: grouping).groups.count
            }
        }
        try await row("revenue, one cinema, its year, group_by=day") {
            try await store.revenue(period: cinemaYear, groupBy: .day, cinemaID: cinemaID, timeZone: cinemaZone).groups.count
        }
        try await row("revenue, one cinema, its year, group_by=movie") {
            try await store.revenue(period: cinemaYear, groupBy: .movie, cinemaID: cinemaID, timeZone: cinemaZone).groups.count
        }
        try await row("showtimes, year, first JSON page (100)") {
            try await store.showtimes(ShowtimeReportFilter(period: year), after: nil, limit: 100).items.count
        }
        try await row("showtimes, one cinema, its year, first JSON page (100)") {
            try await store.showtimes(ShowtimeReportFilter(period: cinemaYear, cinemaID: cinemaID), after: nil, limit: 100).items.count
        }
        try await row("showtimes, year, every row as CSV (pages of 1000)") {
            try await all { cursor in
                let page = try await store.showtimes(ShowtimeReportFilter(period: year), after: cursor, limit: 1000)
                return (page.items.map(\.csvLine), page.nextCursor)
            }
        }
        try await row("showtimes, one cinema, its year, every row as CSV (pages of 1000)") {
            try await all { cursor in
                let page = try await store.showtimes(ShowtimeReportFilter(period: cinemaYear, cinemaID: cinemaID), after: cursor, limit: 1000)
                return (page.items.map(\.csvLine), page.nextCursor)
            }
        }
        try await row("reservations, all, first JSON page (100)") {
            try await store.reservations(ReservationFilter(), after: nil, limit: 100).items.count
        }
        try await row("reservations, one cinema, first JSON page (100)") {
            try await store.reservations(ReservationFilter(cinemaID: cinemaID), after: nil, limit: 100).items.count
        }
        try await row("reservations, year, status=cancelled, first page (100)") {
            try await store.reservations(ReservationFilter(statuses: [.cancelled], period: year), after: nil, limit: 100).items.count
        }
        try await row("reservations, one movie, first page (100)") {
            try await store.reservations(ReservationFilter(movieID: movieID), after: nil, limit: 100).items.count
        }
        try await row("reservations, made in March, every row as CSV (pages of 1000)") {
            try await all { cursor in
                let page = try await store.reservations(ReservationFilter(period: march), after: cursor, limit: 1000)
                return (page.items.map(\.csvLine), page.nextCursor)
            }
        }
        try await row("reservations, one cinema, made in its March, every row as CSV (pages of 1000)") {
            try await all { cursor in
                let page = try await store.reservations(ReservationFilter(period: cinemaMarch, cinemaID: cinemaID), after: cursor, limit: 1000)
                return (page.items.map(\.csvLine), page.nextCursor)
            }
        }
        await pool.close()
    }

    /// From the first day's start to the last day's end, the earliest start and latest end over `zones`.
    func period(_ first: String, _ last: String, in zones: [TimeZone]) throws -> ReportPeriod {
        let starts = zones.compactMap { SchedulingTime.dayBounds(first, in: $0)?.start }
        let ends = zones.compactMap { SchedulingTime.dayBounds(last, in: $0)?.end }
        guard !zones.isEmpty, starts.count == zones.count, ends.count == zones.count, let start = starts.min(), let end = ends.max(), start < end
        else { throw ValidationError("from and to must be days, YYYY-MM-DD, from before to") }
        return ReportPeriod(from: start, to: end)
    }

    /// Follows the cursors to the end, as the CSV routes do; the number of rows.
    func all(_ page: (ReportCursor?) async throws -> ([String], ReportCursor?)) async throws -> Int {
        var cursor: ReportCursor?
        var rows = 0
        repeat {
            let (lines, next) = try await page(cursor)
            rows += lines.count
            cursor = next
        } while cursor != nil
        return rows
    }

    /// The median wall time in milliseconds of `runs` runs after a warm-up run.
    func measure(_ body: () async throws -> Void) async throws -> Double {
        try await body()
        var times: [Double] = []
        let clock = ContinuousClock()
        for _ in 0..<runs {
            let elapsed = try await clock.measure { try await body() }
            times.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
        }
        times.sort()
        return times[times.count / 2]
    }

    func format(_ milliseconds: Double) -> String {
        milliseconds < 10 ? String(format: "%.2f", milliseconds) : String(format: "%.0f", milliseconds)
    }
}
