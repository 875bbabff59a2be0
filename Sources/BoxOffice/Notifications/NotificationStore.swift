public import Foundation
public import PostgresClient

/// A receiver an admin registered for some events.
public struct Webhook: Sendable, Equatable {
    public var id: UUID
    public var url: String
    public var events: [String]
    public var createdAt: Date
}

/// One event's delivery to one webhook, as staff read it.
public struct WebhookDeliveryRecord: Sendable, Equatable {
    public var id: Int
    public var eventID: UUID
    public var eventType: String
    public var status: String
    public var attempts: Int
    public var nextAttemptAt: Date?
    public var lastAttemptAt: Date?
    public var lastStatus: Int?
    public var lastError: String?
    public var deliveredAt: Date?
}

/// A delivery a worker claimed: what to send where, and which attempt this is.
public struct DueDelivery: Sendable, Equatable {
    public var id: Int
    public var attempt: Int
    public var url: String
    public var secret: String
    public var eventID: UUID
    public var eventType: String
    /// The event's JSON object, as stored.
    public var payload: String
    public var createdAt: Date
}

/// The outbox of notifications (`notification_events`, written by triggers in the transactions
/// that cause them: migration 0008) and the webhooks' deliveries of it.
public struct NotificationStore: Sendable {
    let postgres: PostgresPool

    public init(postgres: PostgresPool) {
        self.postgres = postgres
    }

    public func register(url: String, events: [NotificationEventType], secret: String) async throws -> Webhook {
        let row = try await postgres.query("""
            INSERT INTO webhooks (url, events, secret) VALUES (\(url), \(events.map(\.rawValue))::text[], \(secret))
            RETURNING id, url, events, created_at
            """).first!
        return try Self.webhook(row)
    }

    public func webhooks() async throws -> [Webhook] {
        try await postgres.query("""
            SELECT id, url, events, created_at FROM webhooks WHERE deleted_at IS NULL ORDER BY created_at, id
            """).map(Self.webhook)
    }

    /// Stops deliveries to it (pending ones die); its record stays. False when there is none.
    public func delete(_ id: UUID) async throws -> Bool {
        try await postgres.withTransaction { tx in
            let gone = try await tx.query("""
                UPDATE webhooks SET deleted_at = now() WHERE id = \(id) AND deleted_at IS NULL RETURNING id
                """).first != nil
            if gone {
                try await tx.query("""
                    UPDATE webhook_deliveries SET status = 'dead', last_error = 'the webhook was deleted'
                    WHERE webhook_id = \(id) AND status = 'pending'
                    """)
            }
            return gone
        }
    }

    public func deliveries(webhook: UUID, limit: Int) async throws -> [WebhookDeliveryRecord]? {
        guard try await postgres.query("SELECT 1 FROM webhooks WHERE id = \(webhook) AND deleted_at IS NULL").first != nil else {
            return nil
        }
        return try await postgres.query("""
            SELECT d.id, d.event_id, e.type, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status,
                   d.last_error, d.delivered_at
            FROM webhook_deliveries d JOIN notification_events e ON e.id = d.event_id
            WHERE d.webhook_id = \(webhook) ORDER BY d.id DESC LIMIT \(limit)
            """).map { row in
            let status = try row.decode(String.self, column: "status")
            return WebhookDeliveryRecord(
                id: try row.decode(Int.self, column: "id"), eventID: try row.decode(UUID.self, column: "event_id"),
                eventType: try row.decode(String.self, column: "type"), status: status,
                attempts: try row.decode(Int.self, column: "attempts"),
                nextAttemptAt: status == "pending" ? try row.decode(Date.self, column: "next_attempt_at") : nil,
                lastAttemptAt: try row.decode(Date?.self, column: "last_attempt_at"),
                lastStatus: try row.decode(Int?.self, column: "last_status"), lastError: try row.decode(String?.self, column: "last_error"),
                deliveredAt: try row.decode(Date?.self, column: "delivered_at")
            )
        }
    }

    /// Claims up to `limit` due deliveries for `lease` (no other worker takes them meanwhile; if
    /// this one dies, they are due again when the lease ends) and counts the attempt.
    public func claim(limit: Int, lease: Duration) async throws -> [DueDelivery] {
        try await postgres.query("""
            WITH due AS (
                SELECT d.id FROM webhook_deliveries d
                WHERE d.status = 'pending' AND d.next_attempt_at <= now()
                ORDER BY d.next_attempt_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
            ), claimed AS (
                UPDATE webhook_deliveries d
                SET attempts = d.attempts + 1, last_attempt_at = now(), next_attempt_at = now() + make_interval(secs => \(lease.timeInterval))
                FROM due WHERE d.id = due.id
                RETURNING d.id, d.attempts, d.event_id, d.webhook_id
            )
            SELECT c.id, c.attempts, w.url, w.secret, e.id AS event_id, e.type, e.payload::text AS payload, e.created_at
            FROM claimed c JOIN webhooks w ON w.id = c.webhook_id JOIN notification_events e ON e.id = c.event_id
            ORDER BY c.id
            """).map { row in
            DueDelivery(
                id: try row.decode(Int.self, column: "id"), attempt: try row.decode(Int.self, column: "attempts"),
                url: try row.decode(String.self, column: "url"), secret: try row.decode(String.self, column: "secret"),
                eventID: try row.decode(UUID.self, column: "event_id"), eventType: try row.decode(String.self, column: "type"),
                payload: try row.decode(String.self, column: "payload"), createdAt: try row.decode(Date.self, column: "created_at")
            )
        }
    }

    /// Files an attempt's outcome, as the policy decided.
    public func record(_ delivery: DueDelivery, next: DeliveryPolicy.Next, status: Int?, error: String?) async throws {
        let error = error.map { String($0.prefix(500)) }
        switch next {
        case .delivered:
            try await postgres.query("""
                UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), last_status = \(status), last_error = NULL
                WHERE id = \(delivery.id) AND status = 'pending'
                """)
        case .retry(let after):
            try await postgres.query("""
                UPDATE webhook_deliveries SET next_attempt_at = now() + make_interval(secs => \(after.timeInterval)),
                  last_status = \(status), last_error = \(error)
                WHERE id = \(delivery.id) AND status = 'pending'
                """)
        case .dead:
            try await postgres.query("""
                UPDATE webhook_deliveries SET status = 'dead', last_status = \(status), last_error = \(error)
                WHERE id = \(delivery.id) AND status = 'pending'
                """)
        }
    }

    static func webhook(_ row: PostgresRow) throws -> Webhook {
        Webhook(
            id: try row.decode(UUID.self, column: "id"), url: try row.decode(String.self, column: "url"),
            events: try row.decode([String].self, column: "events"), createdAt: try row.decode(Date.self, column: "created_at")
        )
    }
}
