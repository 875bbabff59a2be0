public import Foundation
public import Logging
public import PostgresClient

/// A booking as its owner and staff see it.
public struct Booking: Sendable, Equatable, Encodable {
    public struct Seat: Sendable, Equatable, Encodable {
        public var id: Int
        public var row: String
        public var number: Int
        public var price: Int
    }

    public var id: UUID
    public var userID: UUID
    public var status: BookingStatus
    public var amount: Int
    public var currency: String
    public var ticketCode: String?
    public var showtimeID: Int
    /// The cinema of the showtime's hall.
    public var cinemaID: Int
    public var startsAt: Date
    public var movieTitle: String
    public var hallName: String
    public var seats: [Seat]
    public var createdAt: Date
    public var checkedInAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, status, amount, currency, seats
        case userID = "user_id"
        case ticketCode = "ticket_code"
        case showtimeID = "showtime_id"
        case cinemaID = "cinema_id"
        case startsAt = "starts_at"
        case movieTitle = "movie_title"
        case hallName = "hall_name"
        case createdAt = "created_at"
        case checkedInAt = "checked_in_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        // Ids in lower case, as every URL and response of the API spells them.
        try container.encode(id.canonical, forKey: .id)
        try container.encode(userID.canonical, forKey: .userID)
        try container.encode(status, forKey: .status)
        try container.encode(amount, forKey: .amount)
        try container.encode(currency, forKey: .currency)
        try container.encode(ticketCode, forKey: .ticketCode)
        try container.encode(showtimeID, forKey: .showtimeID)
        try container.encode(cinemaID, forKey: .cinemaID)
        try container.encode(startsAt, forKey: .startsAt)
        try container.encode(movieTitle, forKey: .movieTitle)
        try container.encode(hallName, forKey: .hallName)
        try container.encode(seats, forKey: .seats)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(checkedInAt, forKey: .checkedInAt)
    }
}

/// Filters of the staff's booking list.
public struct BookingFilter: Sendable {
    public var cinemaID: Int?
    public var showtimeID: Int?
    public var userID: UUID?
    public var status: BookingStatus?
    public var from: Date?
    public var to: Date?
    public var limit = 50
    public var offset = 0

    public init() {}
}

/// What a door scan found.
public struct TicketScan: Sendable, Equatable {
    public var booking: Booking
    public var checkedInAt: Date
}

/// Bookings after checkout: reading them, cancelling them (with refunds), and the door.
public struct BookingService: Sendable {
    let postgres: PostgresPool
    let checkout: CheckoutService
    let settings: BoxOfficeSettings
    let logger: Logger

    public init(postgres: PostgresPool, checkout: CheckoutService, settings: BoxOfficeSettings, logger: Logger) {
        self.postgres = postgres
        self.checkout = checkout
        self.settings = settings
        self.logger = logger
    }

    static let selectBookings = """
        SELECT b.id, b.user_id, b.status, b.amount_minor, b.currency, b.ticket_code, b.showtime_id, b.created_at,
               b.checked_in_at, s.starts_at, m.title, h.name AS hall_name, h.cinema_id,
               coalesce(array_agg(se.id ORDER BY se.row_index, se.position) FILTER (WHERE se.id IS NOT NULL), '{}') AS seat_ids,
               coalesce(array_agg(se.row_label ORDER BY se.row_index, se.position) FILTER (WHERE se.id IS NOT NULL), '{}') AS seat_rows,
               coalesce(array_agg(se.number ORDER BY se.row_index, se.position) FILTER (WHERE se.id IS NOT NULL), '{}') AS seat_numbers,
               coalesce(array_agg(bs.price_minor ORDER BY se.row_index, se.position) FILTER (WHERE se.id IS NOT NULL), '{}') AS seat_prices
        FROM bookings b
        JOIN showtimes s ON s.id = b.showtime_id
        JOIN movies m ON m.id = s.movie_id
        JOIN halls h ON h.id = s.hall_id
        LEFT JOIN booking_seats bs ON bs.booking_id = b.id
        LEFT JOIN seats se ON se.id = bs.seat_id
        """
    static let groupBookings = "GROUP BY b.id, s.starts_at, m.title, h.name, h.cinema_id"

    static func booking(_ row: PostgresRow) throws -> Booking {
        let ids = try row.decode([Int].self, column: "seat_ids")
        let rows = try row.decode([String].self, column: "seat_rows")
        let numbers = try row.decode([Int].self, column: "seat_numbers")
        let prices = try row.decode([Int].self, column: "seat_prices")
        return Booking(
            id: try row.decode(UUID.self, column: "id"),
            userID: try row.decode(UUID.self, column: "user_id"),
            status: try row.decode(BookingStatus.self, column: "status"),
            amount: try row.decode(Int.self, column: "amount_minor"),
            currency: try row.decode(String.self, column: "currency"),
            ticketCode: try row.decode(String?.self, column: "ticket_code"),
            showtimeID: try row.decode(Int.self, column: "showtime_id"),
            cinemaID: try row.decode(Int.self, column: "cinema_id"),
            startsAt: try row.decode(Date.self, column: "starts_at"),
            movieTitle: try row.decode(String.self, column: "title"),
            hallName: try row.decode(String.self, column: "hall_name"),
            seats: ids.indices.map { Booking.Seat(id: ids[$0], row: rows[$0], number: numbers[$0], price: prices[$0]) },
            createdAt: try row.decode(Date.self, column: "created_at"),
            checkedInAt: try row.decode(Date?.self, column: "checked_in_at")
        )
    }

    /// The person's bookings, soonest showtime first among upcoming ones, then the past.
    public func bookings(of userID: UUID) async throws -> [Booking] {
        try await postgres.query("""
            \(unescaped: Self.selectBookings)
            WHERE b.user_id = \(userID)
            \(unescaped: Self.groupBookings)
            ORDER BY (s.starts_at < now()), CASE WHEN s.starts_at >= now() THEN s.starts_at END ASC, s.starts_at DESC
            LIMIT 500
            """).map(Self.booking)
    }

    /// The owner's booking, or any of their cinema's for its managers (all for admins); 404
    /// for anyone else.
    public func booking(_ id: UUID, for identity: Identity) async throws -> Booking {
        guard let row = try await postgres.query("""
            \(unescaped: Self.selectBookings)
            WHERE b.id = \(id)
            \(unescaped: Self.groupBookings)
            """).first else { throw Self.notFound }
        let booking = try Self.booking(row)
        guard booking.userID == identity.userID || identity.may(.manageBookings, inCinema: booking.cinemaID) else {
            throw Self.notFound
        }
        return booking
    }

    /// Staff's list, newest first.
    public func bookings(matching filter: BookingFilter) async throws -> [Booking] {
        try await postgres.query("""
            \(unescaped: Self.selectBookings)
            WHERE (\(filter.cinemaID)::bigint IS NULL OR h.cinema_id = \(filter.cinemaID))
              AND (\(filter.showtimeID)::bigint IS NULL OR b.showtime_id = \(filter.showtimeID))
              AND (\(filter.userID)::uuid IS NULL OR b.user_id = \(filter.userID))
              AND (\(filter.status)::text IS NULL OR b.status = \(filter.status))
              AND (\(filter.from)::timestamptz IS NULL OR s.starts_at >= \(filter.from))
              AND (\(filter.to)::timestamptz IS NULL OR s.starts_at < \(filter.to))
            \(unescaped: Self.groupBookings)
            ORDER BY b.created_at DESC, b.id
            LIMIT \(filter.limit) OFFSET \(filter.offset)
            """).map(Self.booking)
    }

    // MARK: - Cancelling

    /// Cancels a booking: the owner until the cut-off before the start, a manager of its
    /// cinema (or an admin) until the start. A confirmed booking's seats are freed and its amount refunded.
    public func cancel(_ id: UUID, by identity: Identity) async throws -> Booking {
        let effects = try await postgres.withTransaction { tx -> CancelEffects in
            guard let row = try await tx.query("""
                SELECT b.user_id, b.status, s.starts_at, h.cinema_id
                FROM bookings b JOIN showtimes s ON s.id = b.showtime_id JOIN halls h ON h.id = s.hall_id
                WHERE b.id = \(id) FOR UPDATE OF b
                """).first else { throw Self.notFound }
            let owner = try row.decode(UUID.self, column: "user_id")
            let asStaff = identity.may(.manageBookings, inCinema: try row.decode(Int.self, column: "cinema_id"))
            guard owner == identity.userID || asStaff else { throw Self.notFound }
            let startsAt = try row.decode(Date.self, column: "starts_at")
            let deadline = asStaff ? startsAt : startsAt - settings.cancellationCutoff.timeInterval
            guard Date() < deadline else {
                throw BoxOfficeError(
                    .conflict, code: "cancellation_closed",
                    message: asStaff
                        ? "The showtime has started; its bookings can no longer be cancelled."
                        : "Bookings can be cancelled until \(Int(settings.cancellationCutoff.timeInterval / 60)) minutes before the start."
                )
            }
            let status = try row.decode(BookingStatus.self, column: "status")
            guard status.isCancellable else {
                throw BoxOfficeError(.conflict, code: "not_cancellable", message: "A \(status.rawValue) booking cannot be cancelled.")
            }
            let reason: RefundReason = asStaff && owner != identity.userID ? .cancelledByAdmin : .cancelledByOwner
            var effects = try await cancelLocked(bookingID: id, reason: reason, in: tx)
            if let showtimeID = effects.freedShowtimeID, !effects.freedSeats.isEmpty {
                effects.freed = (showtimeID, effects.freedSeats, try await checkout.holds.outbox.record(showtimeID: showtimeID, in: tx))
            }
            return effects
        }
        await perform(effects)
        return try await booking(id, for: identity)
    }

    /// Cancels a showtime and every booking of it, with refunds, in one transaction. Once it
    /// committed, Redis refuses every hold of the showtime on every instance and its holds are
    /// released; should the process die first, the outbox row has that done by another. A
    /// payment still in flight serialises with this on its booking's row: whichever commits
    /// second sees the other, so it ends refunded either way.
    public func cancelShowtime(_ showtimeID: Int) async throws -> Int {
        let (count, effects) = try await postgres.withTransaction { tx -> (Int, CancelEffects) in
            guard let row = try await tx.query("""
                SELECT status, starts_at FROM showtimes WHERE id = \(showtimeID) FOR UPDATE
                """).first else { throw BoxOfficeError.notFound("Showtime \(showtimeID)") }
            guard try row.decode(ShowtimeStatus.self, column: "status") == .scheduled else {
                throw BoxOfficeError(.conflict, code: "already_cancelled", message: "Showtime \(showtimeID) is already cancelled.")
            }
            guard try row.decode(Date.self, column: "starts_at") > Date() else {
                throw BoxOfficeError(.conflict, code: "showtime_started", message: "A showtime that has started cannot be cancelled.")
            }
            try await tx.query("""
                UPDATE showtimes SET status = 'cancelled', cancelled_at = now(), updated_at = now() WHERE id = \(showtimeID)
                """)
            // Every booking that holds seats or may still be paid (an expired one too): a payment
            // in flight serialises with this cancel on its booking's row.
            let bookings = try await tx.query("""
                SELECT id FROM bookings WHERE showtime_id = \(showtimeID) AND status IN ('pending', 'confirmed', 'expired')
                ORDER BY id FOR UPDATE
                """)
            var effects = CancelEffects()
            for booking in bookings {
                effects.merge(try await cancelLocked(bookingID: try booking.decode(UUID.self, column: "id"), reason: .showtimeCancelled, in: tx))
            }
            // One outbox row for all of it: acknowledged once Redis closed the showtime, freed
            // its seats and released its holds.
            effects.closed = (showtimeID, effects.freedSeats, try await checkout.holds.outbox.record(showtimeID: showtimeID, in: tx))
            return (bookings.count, effects)
        }
        await perform(effects)
        return count
    }

    struct CancelEffects: Sendable {
        /// The showtime was cancelled: the seats its bookings held, and its outbox row.
        var closed: (showtimeID: Int, freed: ChangedSeats, outboxID: Int)?
        /// One booking's seats were freed, with their outbox row.
        var freed: (showtimeID: Int, seats: ChangedSeats, outboxID: Int)?
        /// Seats the cancelled bookings held, before an outbox row is recorded for them.
        var freedShowtimeID: Int?
        var freedSeats = ChangedSeats()
        var released: [(showtimeID: Int, holdID: String)] = []
        var refunds: [RefundRequest] = []

        mutating func merge(_ other: CancelEffects) {
            freedShowtimeID = freedShowtimeID ?? other.freedShowtimeID
            freedSeats.append(contentsOf: other.freedSeats)
            released += other.released
            refunds += other.refunds
        }
    }

    /// Cancels one booking whose row the transaction has locked; the caller records the outbox
    /// row for the seats it freed. The seat rows are locked in seat order first, as a payment
    /// callback locks them, so the two cannot deadlock.
    private func cancelLocked(bookingID: UUID, reason: RefundReason, in tx: PostgresConnection) async throws -> CancelEffects {
        let row = try await tx.query("""
            UPDATE bookings b SET status = 'cancelled', cancelled_at = now(), updated_at = now(), cancel_reason = \(reason)
            FROM bookings old WHERE b.id = old.id AND b.id = \(bookingID)
            RETURNING old.status, b.showtime_id, b.hold_id, b.amount_minor, b.currency
            """).first!
        let showtimeID = try row.decode(Int.self, column: "showtime_id")
        var effects = CancelEffects()
        guard try row.decode(BookingStatus.self, column: "status") == .confirmed else {
            // Pending: nothing was sold; a payment that still comes is refunded on arrival.
            effects.released.append((showtimeID, try row.decode(String.self, column: "hold_id")))
            return effects
        }
        let freed = try await tx.query("""
            WITH locked AS (
                SELECT seat_id FROM showtime_seats WHERE showtime_id = \(showtimeID) AND booking_id = \(bookingID)
                ORDER BY seat_id FOR NO KEY UPDATE
            )
            UPDATE showtime_seats ss SET status = 'available', version = ss.version + 1, booking_id = NULL
            FROM locked WHERE ss.showtime_id = \(showtimeID) AND ss.seat_id = locked.seat_id
            RETURNING ss.seat_id, ss.version
            """)
        try await tx.query("UPDATE booking_seats SET active = false WHERE booking_id = \(bookingID)")
        effects.freedShowtimeID = showtimeID
        effects.freedSeats = ChangedSeats(
            ids: try freed.map { try $0.decode(Int.self, column: "seat_id") }, rowVersions: try freed.map { try $0.decode(Int.self, column: "version") }
        )
        if let payment = try await tx.query("""
            SELECT id, provider_payment_id FROM payments WHERE booking_id = \(bookingID) AND status = 'succeeded' LIMIT 1
            """).first {
            let amount = try row.decode(Int.self, column: "amount_minor")
            let currency = try row.decode(String.self, column: "currency")
            let refundID = try await tx.query("""
                INSERT INTO refunds (booking_id, payment_id, amount_minor, currency, reason)
                VALUES (\(bookingID), \(try payment.decode(UUID.self, column: "id")), \(amount), \(currency), \(reason))
                RETURNING id
                """).first!.decode(UUID.self, column: "id")
            effects.refunds.append(RefundRequest(
                refundID: refundID, providerPaymentID: try payment.decode(String.self, column: "provider_payment_id"),
                amountMinor: amount, currency: currency
            ))
        }
        return effects
    }

    private func perform(_ effects: CancelEffects) async {
        let holds = checkout.holds
        if let closed = effects.closed {
            await holds.applyCancelled(showtimeID: closed.showtimeID, freed: closed.freed, outboxID: closed.outboxID)
        }
        if let freed = effects.freed { await holds.applyFreed(showtimeID: freed.showtimeID, seats: freed.seats, outboxID: freed.outboxID) }
        for (showtimeID, holdID) in effects.released { await holds.releaseAny(showtimeID: showtimeID, holdID: holdID) }
        await checkout.refunds.request(effects.refunds)
    }

    // MARK: - The door

    /// Checks a ticket in, atomically: of two scans at the same instant exactly one is valid.
    /// Staff of a cinema (`reach`) check in only its tickets: 403 `other_cinema` for others.
    /// Valid on the showtime's day as its own cinema counts days (its time zone).
    public func validateTicket(code: String, at reach: Reach = .chain, now: Date = Date()) async throws -> TicketScan {
        let cinema = reach.cinemaID
        let checkedIn = try await postgres.query("""
            UPDATE bookings b SET checked_in_at = \(now), updated_at = now()
            FROM showtimes s JOIN halls h ON h.id = s.hall_id JOIN cinemas c ON c.id = h.cinema_id
            WHERE b.ticket_code = \(code) AND b.status = 'confirmed' AND b.checked_in_at IS NULL
              AND s.id = b.showtime_id AND (\(cinema)::bigint IS NULL OR h.cinema_id = \(cinema))
              AND (s.starts_at AT TIME ZONE c.time_zone)::date = (\(now)::timestamptz AT TIME ZONE c.time_zone)::date
            RETURNING b.id, b.checked_in_at
            """)
        let scanned = try await postgres.query("""
            \(unescaped: Self.selectBookings)
            WHERE b.ticket_code = \(code)
            \(unescaped: Self.groupBookings)
            """)
        guard let row = scanned.first else {
            throw BoxOfficeError(.notFound, code: "ticket_unknown", message: "No ticket has this code.")
        }
        let booking = try Self.booking(row)
        // Another cinema's ticket: said, and nothing about it shown.
        try reach.check(cinema: booking.cinemaID)
        if let first = checkedIn.first {
            return TicketScan(booking: booking, checkedInAt: try first.decode(Date.self, column: "checked_in_at"))
        }
        if let at = booking.checkedInAt {
            throw BoxOfficeError(
                .conflict, code: "ticket_already_used",
                message: "This ticket was already used at \(at.formatted(.iso8601)).",
                details: ["checked_in_at": .string(at.formatted(.iso8601)), "booking_id": .string(booking.id.canonical)]
            )
        }
        if booking.status != .confirmed {
            throw BoxOfficeError(
                .conflict, code: "ticket_cancelled", message: "This ticket's booking is \(booking.status.rawValue).",
                details: ["status": .string(booking.status.rawValue)]
            )
        }
        throw BoxOfficeError(
            .conflict, code: "ticket_not_today",
            message: "This ticket is for a showtime on another day (\(booking.startsAt.formatted(.iso8601))).",
            details: ["starts_at": .string(booking.startsAt.formatted(.iso8601))]
        )
    }

    /// The amount and currency of a sandbox payment, for the development route that pays it:
    /// its booking's owner, or an admin; nil for anyone else, as for an unknown payment.
    public func sandboxPayment(providerPaymentID: String, for identity: Identity) async throws -> (amount: Int, currency: String)? {
        guard let row = try await postgres.query("""
            SELECT p.amount_minor, p.currency, b.user_id FROM payments p JOIN bookings b ON b.id = p.booking_id
            WHERE p.provider = 'sandbox' AND p.provider_payment_id = \(providerPaymentID)
            """).first else { return nil }
        guard try row.decode(UUID.self, column: "user_id") == identity.userID || identity.isAdmin else { return nil }
        return (try row.decode(Int.self, column: "amount_minor"), try row.decode(String.self, column: "currency"))
    }

    public static let notFound = BoxOfficeError(.notFound, code: "booking_not_found", message: "There is no such booking of yours.")
}
