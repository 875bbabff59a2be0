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
/// to collide over), checking out and paying once. Nothing cheaper reaches a booking, so what this sells per second bounds what
/// any client over HTTP can, and the HTTP sale's rate as a share of it is what HTTP, the
/// server's framework and the load generator cost.
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
    }

    let showtimes: [Stage.Showtime]
    let userIDs: [UUID]
    let concurrency: Int
    let paymentSecret: String
    let postgres: PostgresPool
    let redis: RedisClient

    func run(logger: Logger) async throws -> Result {
        var settings = BoxOfficeSettings()
        settings.paymentSecret = paymentSecret
        settings.holdAttemptsPerSecond = 1_000
        let scripts = try HoldScripts(directory: ProcessInfo.processInfo.environment["BOXOFFICE_LUA_DIR"] ?? "lua")
        let holds = HoldService(redis: redis, postgres: postgres, scripts: scripts, settings: settings, logger: logger)
        let checkout = CheckoutService(
            postgres: postgres, holds: holds, provider: SandboxPaymentProvider(), settings: settings, logger: logger
        )
        for showtime in showtimes { _ = try await holds.layouts.layout(for: showtime.id) }  // as a warm server has
        let signer = PaymentSignature(secret: paymentSecret)
        let ledger = Ledger()
        let started = ContinuousClock.now

        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, concurrency) {
                group.addTask {
                    while true {
                        let person = ledger.nextPerson.add(1, ordering: .relaxed).oldValue
                        guard person < userIDs.count else { return }
                        let showtime = showtimes[person % showtimes.count].id
                        guard !ledger.tally.withLock({ $0.soldOut.contains(showtime) }) else { continue }
                        var random = SplitMix(seed: UInt64(person))
                        let wanted = [1, 2, 2, 2, 3, 4].randomElement(using: &random)!
                        await buy(
                            wanted, of: showtime, as: userIDs[person], holds: holds, checkout: checkout, signer: signer, ledger: ledger
                        )
                        if ledger.tally.withLock({ $0.soldOut.count }) == showtimes.count { return }
                    }
                }
            }
        }
        let elapsed = (ContinuousClock.now - started).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        let final = ledger.tally.withLock { $0 }
        func percentile(_ quantile: Double) -> [String: Double] {
            final.latencies.mapValues { Double($0.valueAtPercentile(quantile)) / 1_000 }
        }
        return Result(
            showtimes: showtimes.count, confirmed: final.confirmed, seconds: seconds,
            confirmedPerSecond: Double(final.confirmed) / seconds,
            p50Milliseconds: percentile(50), p99Milliseconds: percentile(99), errors: final.errors
        )
    }

    /// What the people share: who is next, and what happened.
    private final class Ledger: Sendable {
        let nextPerson = Atomic<Int>(0)
        let tally = Mutex(Tally())
    }

    private struct Tally {
        var confirmed = 0
        var soldOut = Set<Int>()
        var errors: [String: Int] = [:]
        var latencies: [String: Histogram<UInt64>] = [:]

        mutating func record(_ step: String, since start: ContinuousClock.Instant) {
            let elapsed = ContinuousClock.now - start
            let microseconds = UInt64(elapsed.components.seconds) * 1_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000_000)
            if latencies[step] == nil {
                latencies[step] = Histogram(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            }
            _ = latencies[step]!.record(max(1, microseconds))
        }
    }

    /// One person: the best `wanted` seats (fewer when fewer are left), checkout, one payment.
    private func buy(
        _ wanted: Int, of showtimeID: Int, as owner: UUID, holds: HoldService, checkout: CheckoutService,
        signer: PaymentSignature, ledger: Ledger
    ) async {
        var count = wanted
        var hold: SeatHold?
        while hold == nil {
            let start = ContinuousClock.now
            do {
                hold = try await holds.hold(showtimeID: showtimeID, by: owner, .bestAvailable(count: count, category: nil))
                ledger.tally.withLock { $0.record("hold", since: start) }
            } catch let error as BoxOfficeError where error.code == "no_block_available" {
                guard count > 1 else {
                    _ = ledger.tally.withLock { $0.soldOut.insert(showtimeID) }
                    return
                }
                count = 1  // as people do when no block of theirs is left
            } catch {
                ledger.tally.withLock { $0.errors["hold: \(error)", default: 0] += 1 }
                return
            }
        }
        do {
            var start = ContinuousClock.now
            let opened = try await checkout.checkout(holdID: hold!.id, owner: owner, idempotencyKey: nil)
            ledger.tally.withLock { $0.record("checkout", since: start) }
            let event = CheckoutService.PaymentEvent(
                eventID: "evt_" + UUID().uuidString, paymentID: opened.paymentID, status: "succeeded",
                amount: opened.amountMinor, currency: opened.currency
            )
            let body = Array(try JSONEncoder().encode(event))
            start = ContinuousClock.now
            let outcome = try await checkout.handleCallback(body: body, signatureHeader: signer.header(for: body))
            ledger.tally.withLock { tally in
                tally.record("callback", since: start)
                if outcome == .confirmed { tally.confirmed += 1 } else { tally.errors["callback: \(outcome.rawValue)", default: 0] += 1 }
            }
        } catch {
            ledger.tally.withLock { $0.errors["checkout or callback: \(error)", default: 0] += 1 }
        }
    }
}
