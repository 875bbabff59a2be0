import BoxOffice
import Foundation
import Histogram
import Logging
import PostgresClient
import RedisClient
import Synchronization

/// The ceiling of a run: the same sale with no HTTP at all. The domain's own services run in
/// this process over the same Redis and PostgreSQL (pools as large as the server's) and sell
/// showtimes of their own, each person asking for the best block (no seats of their choosing
/// to collide over), checking out and paying once. Nothing cheaper reaches a booking, so what
/// this sells per second bounds what any client over HTTP can, and the HTTP sale's rate as a
/// share of it is what HTTP, the server's framework and the load generator cost.
struct DirectSale {
    struct Result: Codable {
        var showtimes: Int
        var confirmed: Int
        var seconds: Double
        var confirmedPerSecond: Double
        /// Per step, in milliseconds: hold, checkout, callback.
        var p50Milliseconds: [String: Double]
        var p99Milliseconds: [String: Double]
        var errors: [String: Int]
        /// PostgreSQL's busiest statements during this sale (`pg_stat_statements`, when loaded).
        var statements: [StatementCost]? = nil
        /// CPU seconds each process name spent during this sale.
        var cpuSeconds: [String: Double] = [:]
    }

    /// One statement's share of PostgreSQL's time during a sale.
    struct StatementCost: Codable {
        var query: String
        var calls: Int
        var totalMilliseconds: Double
        var meanMilliseconds: Double
        var rows: Int
    }

    let showtimes: [Stage.Showtime]
    let userIDs: [UUID]
    let concurrency: Int
    let paymentSecret: String
    /// `BoxOfficeSettings.groupCommit` of the services this sale runs.
    let groupCommit: Bool
    let postgres: PostgresPool
    let redis: RedisClient

    func run(logger: Logger) async throws -> Result {
        var settings = BoxOfficeSettings()
        settings.paymentSecret = paymentSecret
        settings.groupCommit = groupCommit
        // As the server reads them, to try other batch shapes.
        let environment = ProcessInfo.processInfo.environment
        if let value = environment["BOXOFFICE_GROUP_COMMIT_MAX_BATCH"].flatMap({ Int($0) }) { settings.groupCommitMaxBatch = value }
        if let value = environment["BOXOFFICE_GROUP_COMMIT_IN_FLIGHT"].flatMap({ Int($0) }) { settings.groupCommitInFlight = value }
        settings.holdAttemptsPerSecond = 1_000
        let scripts = try HoldScripts(directory: ProcessInfo.processInfo.environment["BOXOFFICE_LUA_DIR"] ?? "lua")
        let holds = HoldService(redis: redis, postgres: postgres, scripts: scripts, settings: settings, logger: logger)
        let checkout = CheckoutService(
            postgres: postgres, holds: holds, provider: SandboxPaymentProvider(), settings: settings, logger: logger
        )
        for showtime in showtimes { _ = try await holds.layouts.layout(for: showtime.id) }  // as a warm server has
        let signer = PaymentSignature(secret: paymentSecret)
        let ledger = Ledger()
        let measurements = ledger.measurements

        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, concurrency) {
                group.addTask {
                    while true {
                        let person = ledger.nextPerson.add(1, ordering: .relaxed).oldValue
                        guard person < userIDs.count else { return }
                        let showtime = showtimes[person % showtimes.count].id
                        guard !isSoldOut(showtime, measurements) else { continue }
                        var random = SplitMix(seed: UInt64(person))
                        let wanted = [1, 2, 2, 2, 3, 4].randomElement(using: &random)!
                        await buy(
                            wanted, of: showtime, as: userIDs[person], holds: holds, checkout: checkout, signer: signer,
                            measurements: measurements
                        )
                        if measurements.state.withLock({ $0.soldOutAt.count }) == showtimes.count { return }
                    }
                }
            }
        }
        let seconds = Double(measurements.elapsedMicroseconds) / 1e6
        // What an instance's outbox worker does every 250 ms (outside the measured time: one
        // DELETE here stands for many small ones): Redis was told of these sales.
        try await holds.outbox.flush()
        let final = measurements.state.withLock { $0 }
        func percentile(_ quantile: Double) -> [String: Double] {
            final.latencies.mapValues { Double($0.valueAtPercentile(quantile)) / 1_000 }
        }
        let confirmed = final.counters["confirmed"] ?? 0
        return Result(
            showtimes: showtimes.count, confirmed: confirmed, seconds: seconds, confirmedPerSecond: Double(confirmed) / seconds,
            p50Milliseconds: percentile(50), p99Milliseconds: percentile(99), errors: final.counters.filter { $0.key != "confirmed" }
        )
    }

    /// What the people share: who is next, and what happened (latencies by step, counters, and
    /// when each showtime was found with no seat left).
    private final class Ledger: Sendable {
        let nextPerson = Atomic<Int>(0)
        let measurements = Measurements()
    }

    private func isSoldOut(_ showtimeID: Int, _ measurements: Measurements) -> Bool {
        measurements.state.withLock { $0.soldOutAt[showtimeID] != nil }
    }

    /// Runs one step and records how long it took.
    private func timed<T>(_ step: String, _ measurements: Measurements, _ body: () async throws -> T) async rethrows -> T {
        let started = measurements.elapsedMicroseconds
        let result = try await body()
        measurements.record(step, status: 0, microseconds: measurements.elapsedMicroseconds - started)
        return result
    }

    /// One person: the best `wanted` seats (fewer when fewer are left), checkout, one payment.
    private func buy(
        _ wanted: Int, of showtimeID: Int, as owner: UUID, holds: HoldService, checkout: CheckoutService,
        signer: PaymentSignature, measurements: Measurements
    ) async {
        var count = wanted
        var hold: SeatHold?
        while hold == nil {
            do {
                hold = try await timed("hold", measurements) {
                    try await holds.hold(showtimeID: showtimeID, by: owner, .bestAvailable(count: count, category: nil))
                }
            } catch let error as BoxOfficeError where error.code == "no_block_available" {
                guard count > 1 else {
                    let now = measurements.elapsedMicroseconds
                    measurements.state.withLock { state in
                        if state.soldOutAt[showtimeID] == nil { state.soldOutAt[showtimeID] = now }
                    }
                    return
                }
                count = 1  // as people do when no block of theirs is left
            } catch {
                measurements.count("hold: \(error)")
                return
            }
        }
        do {
            let opened = try await timed("checkout", measurements) {
                try await checkout.checkout(holdID: hold!.id, owner: owner, idempotencyKey: nil)
            }
            let event = CheckoutService.PaymentEvent(
                eventID: "evt_" + UUID().uuidString, paymentID: opened.paymentID, status: "succeeded",
                amount: opened.amountMinor, currency: opened.currency
            )
            let body = Array(try JSONEncoder().encode(event))
            let outcome = try await timed("callback", measurements) {
                try await checkout.handleCallback(body: body, signatureHeader: signer.header(for: body))
            }
            measurements.count(outcome == .confirmed ? "confirmed" : "callback: \(outcome.rawValue)")
        } catch {
            measurements.count("checkout or callback: \(error)")
        }
    }
}
