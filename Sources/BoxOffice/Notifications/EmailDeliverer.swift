public import Foundation
public import Logging
public import PostgresClient
public import ServiceLifecycle
import NIOPosix

/// Sends the customer's e-mails (`email_deliveries`, written with their events): the
/// confirmation with the ticket code and its QR code attached, and cancellation and refund
/// notices. Every instance runs one when SMTP is configured; due deliveries are claimed with
/// `FOR UPDATE SKIP LOCKED` under a lease, so a process that dies mid-send loses nothing (the
/// mail may then go twice: its Message-ID is the event's, the same each time).
public struct EmailDeliverer: Service {
    let postgres: PostgresPool
    let mailer: SMTPMailer
    let policy: DeliveryPolicy
    let timeZone: TimeZone
    let interval: Duration
    let logger: Logger

    public init(
        postgres: PostgresPool, mailer: SMTPMailer, policy: DeliveryPolicy, timeZone: TimeZone,
        interval: Duration = .milliseconds(500), logger: Logger
    ) {
        self.postgres = postgres
        self.mailer = mailer
        self.policy = policy
        self.timeZone = timeZone
        self.interval = interval
        self.logger = logger
    }

    struct Due: Sendable {
        var id: Int
        var attempt: Int
        var recipient: String
        var eventID: UUID
        var type: String
        var bookingID: UUID?
        var refundMinor: Int?
        var createdAt: Date
    }

    /// Messages sent at once, each on its own thread (a send blocks in libcurl).
    static let slots = 16

    public func run() async throws {
        let threads = NIOThreadPool(numberOfThreads: Self.slots)
        threads.start()
        // A relay that is slow for one message holds up only its own slot.
        await inSlots(Self.slots, every: interval, logger: logger, failure: "e-mail delivery pass failed") { free in
            try await claim(limit: free, lease: .seconds(120))
        } run: { delivery in
            await send(delivery, on: threads)
        }
        try? await threads.shutdownGracefully()
    }

    func claim(limit: Int, lease: Duration) async throws -> [Due] {
        try await postgres.query("""
            WITH due AS (
                SELECT id FROM email_deliveries WHERE status = 'pending' AND next_attempt_at <= now()
                ORDER BY next_attempt_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
            ), claimed AS (
                UPDATE email_deliveries d
                SET attempts = d.attempts + 1, last_attempt_at = now(), next_attempt_at = now() + make_interval(secs => \(lease.timeInterval))
                FROM due WHERE d.id = due.id
                RETURNING d.id, d.attempts, d.recipient, d.event_id
            )
            SELECT c.id, c.attempts, c.recipient, e.id AS event_id, e.type, e.created_at,
                   (e.payload->>'booking_id')::uuid AS booking_id, (e.payload->>'amount_minor')::bigint AS refund_minor
            FROM claimed c JOIN notification_events e ON e.id = c.event_id ORDER BY c.id
            """).map { row in
            Due(
                id: try row.decode(Int.self, column: "id"), attempt: try row.decode(Int.self, column: "attempts"),
                recipient: try row.decode(String.self, column: "recipient"), eventID: try row.decode(UUID.self, column: "event_id"),
                type: try row.decode(String.self, column: "type"), bookingID: try row.decode(UUID?.self, column: "booking_id"),
                refundMinor: try row.decode(Int?.self, column: "refund_minor"), createdAt: try row.decode(Date.self, column: "created_at")
            )
        }
    }

    private func send(_ delivery: Due, on threads: NIOThreadPool) async {
        var failure: String?
        do {
            let message = try await compose(delivery)
            try await mailer.send(message.rendered, to: delivery.recipient, on: threads)
        } catch {
            failure = "\(error)"
        }
        let next = policy.next(afterAttempt: delivery.attempt, succeeded: failure == nil)
        do {
            switch next {
            case .delivered:
                try await postgres.query("""
                    UPDATE email_deliveries SET status = 'delivered', delivered_at = now(), last_error = NULL WHERE id = \(delivery.id)
                    """)
            case .retry(let after):
                try await postgres.query("""
                    UPDATE email_deliveries SET next_attempt_at = now() + make_interval(secs => \(after.timeInterval)),
                      last_error = \(failure.map { String($0.prefix(500)) }) WHERE id = \(delivery.id)
                    """)
            case .dead:
                logger.warning("an e-mail was given up", metadata: ["delivery": "\(delivery.id)", "error": "\(failure ?? "")"])
                try await postgres.query("""
                    UPDATE email_deliveries SET status = 'dead', last_error = \(failure.map { String($0.prefix(500)) }) WHERE id = \(delivery.id)
                    """)
            }
        } catch {
            logger.warning("could not record an e-mail delivery", metadata: ["delivery": "\(delivery.id)", "error": "\(error)"])
        }
    }

    /// The message for a delivery, from the booking as it is now.
    func compose(_ delivery: Due) async throws -> EmailMessage {
        guard let bookingID = delivery.bookingID, let booking = try await postgres.query("""
            SELECT b.ticket_code, b.amount_minor, b.currency, m.title, s.starts_at, h.name AS hall,
                   ARRAY(SELECT se.row_label || se.number FROM booking_seats bs JOIN seats se ON se.id = bs.seat_id
                         WHERE bs.booking_id = b.id ORDER BY se.row_index, se.position) AS seats
            FROM bookings b JOIN showtimes s ON s.id = b.showtime_id JOIN movies m ON m.id = s.movie_id JOIN halls h ON h.id = s.hall_id
            WHERE b.id = \(bookingID)
            """).first else { throw SMTPError(description: "the event names no booking") }
        let title = try booking.decode(String.self, column: "title")
        let when = Self.when(try booking.decode(Date.self, column: "starts_at"), timeZone: timeZone)
        let hall = try booking.decode(String.self, column: "hall")
        let seats = try booking.decode([String].self, column: "seats").joined(separator: ", ")
        let currency = try booking.decode(String.self, column: "currency")
        let code = try booking.decode(String?.self, column: "ticket_code")
        var message = EmailMessage(
            from: mailer.settings.from, to: delivery.recipient, subject: "", text: "",
            messageID: "\(delivery.eventID.canonical)@boxoffice", date: delivery.createdAt
        )
        switch delivery.type {
        case NotificationEventType.bookingConfirmed.rawValue:
            message.subject = "Your tickets: \(title), \(when)"
            message.text = """
                Your booking is confirmed.

                \(title)
                \(when), \(hall)
                Seats: \(seats)
                Paid: \(Self.money(try booking.decode(Int.self, column: "amount_minor"), currency))

                Ticket code: \(code ?? "")
                Show this code, or the QR code attached, at the door.
                """
            if let code, let qr = TicketQR(code) {
                message.attachments = [.init(filename: "ticket-\(code).png", contentType: "image/png", data: qr.png())]
            }
        case NotificationEventType.bookingCancelled.rawValue:
            message.subject = "Booking cancelled: \(title), \(when)"
            message.text = """
                Your booking for \(title) on \(when) (\(hall), seats \(seats)) was cancelled.
                Anything you paid is refunded in full; a separate message confirms the refund.
                """
        default:
            message.subject = "Refund: \(title), \(when)"
            message.text = """
                We are refunding \(Self.money(delivery.refundMinor ?? 0, currency)) for your booking for \(title) on \(when).
                It reaches your account in a few days, depending on your bank.
                """
        }
        return message
    }

    static func when(_ date: Date, timeZone: TimeZone) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB")
        formatter.timeZone = timeZone
        formatter.dateFormat = "EEEE d MMMM yyyy, HH:mm"
        return formatter.string(from: date)
    }

    static func money(_ minor: Int, _ currency: String) -> String {
        String(format: "%@ %d.%02d", currency, minor / 100, minor % 100)
    }
}
