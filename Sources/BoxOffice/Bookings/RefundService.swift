import Foundation
import Logging
import PostgresClient

/// A refund recorded in PostgreSQL, to be asked of the provider.
struct RefundRequest: Sendable {
    var refundID: UUID
    var providerPaymentID: String
    var amountMinor: Int
    var currency: String
}

/// Asking the provider for refunds that PostgreSQL recorded: right after the commit that
/// recorded them, and again by the sweeper for any whose request failed or never happened.
public struct RefundService: Sendable {
    let postgres: PostgresPool
    let provider: any PaymentProvider
    let logger: Logger

    /// Asks for each refund; a failure leaves it to `requestUnrequestedRefunds`.
    func request(_ refunds: [RefundRequest]) async {
        for refund in refunds {
            do {
                try await askProvider(for: refund)
            } catch {
                logger.warning("refund request failed", metadata: ["refund": "\(refund.refundID)", "error": "\(error)"])
            }
        }
    }

    /// Asks the provider for a refund, then records that it was asked (and paid, if it says so).
    /// The refund id is the provider's idempotency key: asking twice refunds once.
    private func askProvider(for refund: RefundRequest) async throws {
        let accepted = try await provider.requestRefund(
            refundID: refund.refundID, providerPaymentID: refund.providerPaymentID,
            amountMinor: refund.amountMinor, currency: refund.currency
        )
        try await postgres.query("""
            UPDATE refunds SET requested_at = coalesce(requested_at, now()), updated_at = now(),
                status = CASE WHEN \(accepted) THEN 'succeeded' ELSE status END
            WHERE id = \(refund.refundID)
            """)
    }

    /// Asks the provider for refunds recorded at least `age` ago and never requested: their
    /// request failed, or the process stopped (or its session died) between commit and request.
    /// Each is claimed first (`requested_at` set, `SKIP LOCKED`), so instances sweeping at
    /// once ask once; a failed request gives the claim back. The number requested.
    @discardableResult
    public func requestUnrequestedRefunds(olderThan age: Duration, limit: Int = 100) async throws -> Int {
        let claimed = try await postgres.query("""
            UPDATE refunds r SET requested_at = now(), updated_at = now()
            FROM payments p
            WHERE p.id = r.payment_id AND r.id IN (
                SELECT id FROM refunds
                WHERE requested_at IS NULL AND status = 'requested' AND payment_id IS NOT NULL
                  AND created_at < now() - make_interval(secs => \(age.timeInterval))
                ORDER BY created_at LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            )
            RETURNING r.id, p.provider_payment_id, r.amount_minor, r.currency
            """)
        var requested = 0
        for row in claimed {
            let refund = RefundRequest(
                refundID: try row.decode(UUID.self, column: "id"),
                providerPaymentID: try row.decode(String.self, column: "provider_payment_id"),
                amountMinor: try row.decode(Int.self, column: "amount_minor"),
                currency: try row.decode(String.self, column: "currency")
            )
            do {
                try await askProvider(for: refund)
                requested += 1
            } catch {
                logger.warning("refund request failed again", metadata: ["refund": "\(refund.refundID)", "error": "\(error)"])
                _ = try? await postgres.query("UPDATE refunds SET requested_at = NULL WHERE id = \(refund.refundID)")
            }
        }
        return requested
    }
}
