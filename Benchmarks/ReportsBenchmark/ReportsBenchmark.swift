import ArgumentParser
import BoxOffice
import Foundation
import Logging
import PostgresClient

/// Times the staff reports (`ReportStore`, the code the routes call) over a generated year,
/// beside `SELECT 1` through the same pool as the ceiling. Prints Markdown table rows.
/// Run by scripts/bench-reports, which generates the data (Benchmarks/reports/generate.sql).
@main
struct ReportsBenchmark: AsyncParsableCommand {
    @Option(help: "PostgreSQL URL of the generated database.")
    var url: String

    @Option(help: "Timed runs per report (after one warm-up run).")
    var runs = 11

    @Option(help: "The year's first day, YYYY-MM-DD in Europe/Berlin.")
    var from = "2025-01-01"

    @Option(help: "The year's last day.")
    var to = "2025-12-31"

    func run() async throws {
        var configuration = try PostgresConfiguration(url: url)
        configuration.maxConnections = 2
        let pool = PostgresPool(configuration: configuration, logger: Logger(label: "bench"))
        let zone = TimeZone(identifier: "Europe/Berlin")!
        let store = ReportStore(postgres: pool, timeZone: zone, timeSlots: .standard)
        guard let start = SchedulingTime.dayBounds(from, in: zone)?.start, let end = SchedulingTime.dayBounds(to, in: zone)?.end,
              let monthEnd = SchedulingTime.dayBounds("2025-03-31", in: zone)?.end,
              let monthStart = SchedulingTime.dayBounds("2025-03-01", in: zone)?.start
        else { throw ValidationError("from and to must be days, YYYY-MM-DD") }
        let year = ReportPeriod(from: start, to: end)
        let march = ReportPeriod(from: monthStart, to: monthEnd)
        let movieID = try await pool.query("SELECT min(id) AS id FROM movies").first!.decode(Int.self, column: "id") + 60

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
        try await row("showtimes, year, first JSON page (100)") {
            try await store.showtimes(ShowtimeReportFilter(period: year), after: nil, limit: 100).items.count
        }
        try await row("showtimes, year, every row as CSV (pages of 1000)") {
            try await all { cursor in
                let page = try await store.showtimes(ShowtimeReportFilter(period: year), after: cursor, limit: 1000)
                return (page.items.map(\.csvLine), page.nextCursor)
            }
        }
        try await row("reservations, all, first JSON page (100)") {
            try await store.reservations(ReservationFilter(), after: nil, limit: 100).items.count
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
        await pool.close()
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
