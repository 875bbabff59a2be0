import Foundation
import Synchronization
import Histogram

/// What a run tells: the pace of the sale, latencies per endpoint, live delays, invariants.
struct LaunchReport {
    struct Latency: Codable {
        var endpoint: String
        var count: UInt64
        var p50Milliseconds: Double
        var p95Milliseconds: Double
        var p99Milliseconds: Double
        var maxMilliseconds: Double
        var statuses: [String: Int]
    }

    struct Summary: Codable {
        var users: Int
        var showtimes: Int
        var seatsPerShowtime: Int
        var concurrency: Int
        var watchers: Int
        var webSocketWatchers: Int
        var rushSeconds: Double
        var sellOutSeconds: Double?
        var holds: Int
        var conflicts: Int
        var confirmedDuringRush: Int
        var holdsPerSecond: Double
        var conflictsPerSecond: Double
        var confirmedPerSecond: Double
        var peakConfirmedPerSecond: Int
        var latePayments: Int
        var liveDeltaDelayP50Milliseconds: Double?
        var liveDeltaDelayP99Milliseconds: Double?
        /// The same by transport (`--watchers` follow server-sent events, `--websocket-watchers` WebSocket).
        var liveDeltaDelaySseP50Milliseconds: Double?
        var liveDeltaDelaySseP99Milliseconds: Double?
        var liveDeltaDelayWebSocketP50Milliseconds: Double?
        var liveDeltaDelayWebSocketP99Milliseconds: Double?
        var liveDeltaDelaysSse: Int
        var liveDeltaDelaysWebSocket: Int
        /// The WebSocket watchers' p50 delay ÷ the SSE watchers'.
        var liveDeltaDelayP50WebSocketOverSse: Double?
        var counters: [String: Int]
        var latencies: [Latency]
        var invariants: InvariantReport
        /// The same kind of sale with no HTTP, in this process: the run's ceiling.
        var ceiling: DirectSale.Result?
        /// The same again with group commit off (`--compare-group-commit`).
        var ceilingWithoutGroupCommit: DirectSale.Result?
        /// What each injected fault did (`--fault`).
        var faults: [FaultWindow]
        /// CPU seconds each process name (every process on the machine) spent during the rush.
        var cpuSecondsDuringRush: [String: Double]
    }

    let summary: Summary

    init(
        options: LaunchOptions, stage: Stage, measurements: Measurements, rush: (UInt64, UInt64),
        invariants: InvariantReport, latePayments: Int, ceiling: DirectSale.Result?,
        unbatchedCeiling: DirectSale.Result? = nil, cpuDuringRush: [String: Double] = [:]
    ) {
        let state = measurements.state.withLock { $0 }
        let rushSeconds = Double(rush.1 - rush.0) / 1e6
        let confirmed = state.confirmedAt.filter { $0 <= rush.1 }
        var perSecond: [UInt64: Int] = [:]
        for time in confirmed { perSecond[time / 1_000_000, default: 0] += 1 }
        func ms(_ value: UInt64) -> Double { (Double(value) / 1000 * 100).rounded() / 100 }
        let latencies = state.latencies.keys.sorted().filter { $0 != "setup" && $0 != "check" }.map { endpoint in
            let histogram = state.latencies[endpoint]!
            return Latency(
                endpoint: endpoint, count: histogram.totalCount,
                p50Milliseconds: ms(histogram.valueAtPercentile(50)), p95Milliseconds: ms(histogram.valueAtPercentile(95)),
                p99Milliseconds: ms(histogram.valueAtPercentile(99)), maxMilliseconds: ms(histogram.max),
                statuses: Dictionary(uniqueKeysWithValues: (state.statuses[endpoint] ?? [:]).map { (String($0.key), $0.value) })
            )
        }
        let delays = state.liveDelays
        func percentile(_ histogram: Histogram<UInt64>, _ percentile: Double) -> Double? {
            histogram.totalCount > 0 ? ms(histogram.valueAtPercentile(percentile)) : nil
        }
        summary = Summary(
            users: options.users, showtimes: options.showtimes, seatsPerShowtime: stage.showtimes.first?.capacity ?? 0,
            concurrency: options.concurrency, watchers: options.watchers,
            webSocketWatchers: options.webSocketWatchers, rushSeconds: rushSeconds,
            // Every seat sold or held: the moment the last showtime was first seen with none free.
            sellOutSeconds: state.soldOutAt.count == stage.showtimes.count
                ? state.soldOutAt.values.max().map { Double($0 - min($0, rush.0)) / 1e6 } : nil,
            holds: state.holdsAt.count, conflicts: state.counters["conflicts"] ?? 0, confirmedDuringRush: confirmed.count,
            holdsPerSecond: Double(state.holdsAt.count) / rushSeconds,
            conflictsPerSecond: Double(state.counters["conflicts"] ?? 0) / rushSeconds,
            confirmedPerSecond: Double(confirmed.count) / rushSeconds,
            peakConfirmedPerSecond: perSecond.values.max() ?? 0,
            latePayments: latePayments,
            liveDeltaDelayP50Milliseconds: delays.totalCount > 0 ? ms(delays.valueAtPercentile(50)) : nil,
            liveDeltaDelayP99Milliseconds: delays.totalCount > 0 ? ms(delays.valueAtPercentile(99)) : nil,
            liveDeltaDelaySseP50Milliseconds: percentile(state.liveDelaysSSE, 50),
            liveDeltaDelaySseP99Milliseconds: percentile(state.liveDelaysSSE, 99),
            liveDeltaDelayWebSocketP50Milliseconds: percentile(state.liveDelaysWebSocket, 50),
            liveDeltaDelayWebSocketP99Milliseconds: percentile(state.liveDelaysWebSocket, 99),
            liveDeltaDelaysSse: Int(state.liveDelaysSSE.totalCount),
            liveDeltaDelaysWebSocket: Int(state.liveDelaysWebSocket.totalCount),
            liveDeltaDelayP50WebSocketOverSse: percentile(state.liveDelaysWebSocket, 50).flatMap { ws in
                percentile(state.liveDelaysSSE, 50).flatMap { sse in sse > 0 ? (ws / sse * 1000).rounded() / 1000 : nil }
            },
            counters: state.counters, latencies: latencies, invariants: invariants, ceiling: ceiling,
            ceilingWithoutGroupCommit: unbatchedCeiling,
            faults: FaultWindow.windows(faults: state.faults, errors: state.errors, confirmedAt: state.confirmedAt, end: rush.1),
            cpuSecondsDuringRush: cpuDuringRush
        )
    }

    func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(summary)
    }

    /// The ceiling's rows of the table: the sale with no HTTP, with group commit and (first) without.
    static func ceilingRows(ceiling: DirectSale.Result, unbatched: DirectSale.Result?) -> [String] {
        func f(_ value: Double) -> String { String(format: "%.1f", value) }
        func steps(_ values: [String: Double]) -> String {
            ["hold", "checkout", "callback"].map { "\($0) \(values[$0].map { String(format: "%.2f", $0) } ?? "–")" }.joined(separator: ", ")
        }
        func sale(_ ceiling: DirectSale.Result) -> String {
            let cpu = ceiling.cpuSeconds.filter { $0.value >= 0.05 }.sorted { $0.value > $1.value }.map { name, seconds in
                "\(name) \(String(format: "%.2f", 1000 * seconds / Double(max(1, ceiling.confirmed)))) ms"
            }
            return "\(ceiling.confirmed) confirmed in \(f(ceiling.seconds)) s (\(f(ceiling.confirmedPerSecond))/s); p50 ms \(steps(ceiling.p50Milliseconds)); p99 ms \(steps(ceiling.p99Milliseconds))\(ceiling.errors.isEmpty ? "" : "; errors \(ceiling.errors)")\(cpu.isEmpty ? "" : "; CPU per booking: " + cpu.joined(separator: ", "))"
        }
        var lines: [String] = []
        if let unbatched {
            lines += [
                "| ceiling without group commit (`BOXOFFICE_GROUP_COMMIT=0`, \(unbatched.showtimes) showtimes of its own, sold first) | \(sale(unbatched)) |",
                "| ceiling with group commit ÷ without | \(String(format: "%.2f", ceiling.confirmedPerSecond / unbatched.confirmedPerSecond))× |",
            ]
        }
        lines.append("| ceiling: the same sale with no HTTP (\(ceiling.showtimes) showtimes of its own, best available, one payment each; group commit on) | \(sale(ceiling)) |")
        return lines
    }

    /// Each ceiling's busiest PostgreSQL statements, as a table.
    static func statementTables(ceiling: DirectSale.Result?, unbatched: DirectSale.Result?) -> [String] {
        var lines: [String] = []
        for (name, sale) in [("without group commit", unbatched), ("with group commit", ceiling)] {
            guard let sale, let statements = sale.statements, !statements.isEmpty else { continue }
            let total = statements.reduce(0) { $0 + $1.totalMilliseconds }
            lines += [
                "", "PostgreSQL's busiest statements, ceiling \(name) (pg_stat_statements; per confirmed booking):", "",
                "| statement | calls | per booking | total ms | ms per booking | share of these |", "|---|---|---|---|---|---|",
            ]
            for statement in statements {
                let perBooking = Double(statement.calls) / Double(max(1, sale.confirmed))
                lines.append("| `\(statement.query.replacingOccurrences(of: "|", with: "\\|"))` | \(statement.calls) | \(String(format: "%.2f", perBooking)) | \(String(format: "%.0f", statement.totalMilliseconds)) | \(String(format: "%.3f", statement.totalMilliseconds / Double(max(1, sale.confirmed)))) | \(String(format: "%.0f", 100 * statement.totalMilliseconds / max(total, 1)))% |")
            }
        }
        return lines
    }

    /// `--only-ceiling`'s whole report.
    static func ceilingMarkdown(ceiling: DirectSale.Result?, unbatched: DirectSale.Result?, violations: [String]) -> String {
        var lines = ["## The ceiling only: the sale with no HTTP", "", "| measure | value |", "|---|---|"]
        if let ceiling { lines += ceilingRows(ceiling: ceiling, unbatched: unbatched) }
        lines.append("| invariant violations | \(violations.isEmpty ? "0" : violations.joined(separator: "; ")) |")
        lines += statementTables(ceiling: ceiling, unbatched: unbatched)
        return lines.joined(separator: "\n")
    }

    var markdown: String {
        let s = summary
        func f(_ value: Double) -> String { String(format: "%.1f", value) }
        var lines = [
            "## On-sale run: \(s.showtimes) showtimes × \(s.seatsPerShowtime) seats, \(s.users) people, \(s.concurrency) at once, \(s.watchers) + \(s.webSocketWatchers) watching live (server-sent events + WebSocket)",
            "",
            "| measure | value |",
            "|---|---|",
            "| rush (all people done) | \(f(s.rushSeconds)) s |",
            "| every seat sold or held after | \(s.sellOutSeconds.map { "\(f($0)) s" } ?? "never") |",
            "| holds | \(s.holds) (\(f(s.holdsPerSecond))/s) |",
            "| conflicts (409) | \(s.conflicts) (\(f(s.conflictsPerSecond))/s) |",
            "| confirmed bookings during the rush | \(s.confirmedDuringRush) (\(f(s.confirmedPerSecond))/s, peak \(s.peakConfirmedPerSecond) in one second) |",
            "| late payments sent | \(s.latePayments) |",
            "| live delta delay (hold sent → delta received) | p50 \(s.liveDeltaDelayP50Milliseconds.map { "\($0) ms" } ?? "–"), p99 \(s.liveDeltaDelayP99Milliseconds.map { "\($0) ms" } ?? "–") |",
            "| live delta delay over SSE (\(s.watchers) watchers) | p50 \(s.liveDeltaDelaySseP50Milliseconds.map { "\($0) ms" } ?? "–"), p99 \(s.liveDeltaDelaySseP99Milliseconds.map { "\($0) ms" } ?? "–") (\(s.liveDeltaDelaysSse) held seats timed) |",
            "| live delta delay over WebSocket (\(s.webSocketWatchers) watchers) | p50 \(s.liveDeltaDelayWebSocketP50Milliseconds.map { "\($0) ms" } ?? "–"), p99 \(s.liveDeltaDelayWebSocketP99Milliseconds.map { "\($0) ms" } ?? "–") (\(s.liveDeltaDelaysWebSocket) held seats timed) |",
            "| live delta delay p50, WebSocket ÷ SSE | \(s.liveDeltaDelayP50WebSocketOverSse.map { String(format: "%.2f", $0) + "×" } ?? "–") |",
            "| sold seats / confirmed bookings / succeeded payments / refunds | \(s.invariants.soldSeats) / \(s.invariants.confirmedBookings) / \(s.invariants.succeededPayments) / \(s.invariants.refunds) |",
            "| invariant violations | \(s.invariants.violations.count) |",
        ]
        let busiest = s.cpuSecondsDuringRush.filter { $0.value >= 0.1 }.sorted { $0.value > $1.value }
        if !busiest.isEmpty, s.confirmedDuringRush > 0 {
            let parts = busiest.map { name, seconds in
                "\(name) \(f(seconds)) s (\(String(format: "%.2f", 1000 * seconds / Double(s.confirmedDuringRush))) ms)"
            }
            lines.append("| CPU during the rush, by process (per confirmed booking) | \(parts.joined(separator: ", ")) |")
        }
        if let ceiling = s.ceiling {
            lines += Self.ceilingRows(ceiling: ceiling, unbatched: s.ceilingWithoutGroupCommit)
            lines.append("| confirmed/s over HTTP ÷ the ceiling | \(String(format: "%.0f", 100 * s.confirmedPerSecond / ceiling.confirmedPerSecond))% |")
        }
        lines += [
            "",
            "| endpoint | requests | p50 ms | p95 ms | p99 ms | max ms | statuses |",
            "|---|---|---|---|---|---|---|",
        ]
        for latency in s.latencies {
            let statuses = latency.statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            lines.append("| \(latency.endpoint) | \(latency.count) | \(latency.p50Milliseconds) | \(latency.p95Milliseconds) | \(latency.p99Milliseconds) | \(latency.maxMilliseconds) | \(statuses) |")
        }
        if !s.faults.isEmpty {
            lines += [
                "",
                "| fault | at | errors until the next fault, by status | first / last error after | longest time without a confirmed booking |",
                "|---|---|---|---|---|",
            ]
            for fault in s.faults {
                let errors = fault.errorsByStatus.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
                let span = fault.firstErrorAfterMilliseconds.map { first in
                    "\(Int(first)) / \(Int(fault.lastErrorAfterMilliseconds ?? first)) ms"
                } ?? "–"
                lines.append("| `\(fault.command)` | \(f(fault.atSeconds)) s | \(errors.isEmpty ? "none" : errors) | \(span) | \(fault.longestGapWithoutBookingsMilliseconds.map { "\(Int($0)) ms" } ?? "–") |")
            }
        }
        lines += Self.statementTables(ceiling: s.ceiling, unbatched: s.ceilingWithoutGroupCommit)
        lines.append("")
        lines.append("Counters: " + s.counters.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        for violation in s.invariants.violations { lines.append("- VIOLATION: \(violation)") }
        return lines.joined(separator: "\n") + "\n"
    }
}
