public import BoxOffice
import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore

/// Checkout, the payment provider's callbacks, bookings and the door.
public struct BookingsController: Sendable {
    let checkout: CheckoutService
    let bookings: BookingService
    let waitingRoom: WaitingRoom
    let sandboxRoutesEnabled: Bool

    public init(checkout: CheckoutService, bookings: BookingService, waitingRoom: WaitingRoom, sandboxRoutesEnabled: Bool) {
        self.checkout = checkout
        self.bookings = bookings
        self.waitingRoom = waitingRoom
        self.sandboxRoutesEnabled = sandboxRoutesEnabled
    }

    public func addRoutes(to router: Router<AppRequestContext>) {
        /// Turns the caller's live hold into a pending booking and opens its payment: 201, with
        /// the same booking again when the hold (or `Idempotency-Key`) was checked out before.
        router.post("/holds/:id/checkout") { request, context in
            let identity = try context.requireUser()
            let holdID = context.parameters.get("id") ?? ""
            let result = try await checkout.checkout(
                holdID: holdID, owner: identity.userID, idempotencyKey: request.headers[HTTPField.Name("Idempotency-Key")!]
            )
            // A shopper admitted from a waiting room has their seats: the next person's turn.
            if let showtimeID = HoldService.showtimeID(ofHold: holdID) {
                await waitingRoom.booked(showtimeID: showtimeID, userID: identity.userID)
            }
            return EditedResponse(status: .created, headers: [.location: "/bookings/\(result.bookingID.canonical)"], response: CheckoutBody(result))
        }

        /// The payment provider's signed callback. A replayed event id is answered 200 and changes
        /// nothing. Every event that was recorded is answered 200 with its outcome, a wrong amount
        /// (`amount_mismatch`: never confirmed, refunded) too: a provider retries anything else,
        /// and a retry of a recorded event could only ever be a `duplicate`.
        router.post("/payments/callback") { request, context in
            let body = try await Self.rawBody(request)
            let outcome = try await checkout.handleCallback(
                body: body, signatureHeader: request.headers[HTTPField.Name(PaymentSignature.headerName)!]
            )
            return CallbackBody(outcome: outcome.rawValue)
        }

        if sandboxRoutesEnabled {
            /// Development only: pays (or fails) a sandbox payment by sending the provider's callback,
            /// signed exactly as the provider would. Body: `{"outcome": "succeed" | "fail"}`. The
            /// payment's owner or an admin only; anyone else gets 404.
            router.post("/sandbox/payments/:id") { request, context in
                let identity = try context.requireUser()
                struct Input: Decodable { var outcome: String }
                let input = try await request.decodeJSON(as: Input.self, context: context)
                guard ["succeed", "fail"].contains(input.outcome) else {
                    throw BoxOfficeError.validation(field: "outcome", "must be succeed or fail.")
                }
                let paymentID = context.parameters.get("id") ?? ""
                guard let payment = try await bookings.sandboxPayment(providerPaymentID: paymentID, for: identity) else {
                    throw BoxOfficeError.notFound("Payment '\(paymentID)'")
                }
                let event = CheckoutService.PaymentEvent(
                    eventID: "evt_" + UUID().canonical, paymentID: paymentID,
                    status: input.outcome == "succeed" ? "succeeded" : "failed", amount: payment.amount, currency: payment.currency
                )
                let body = Array(try JSONEncoder().encode(event))
                let outcome = try await checkout.handleCallback(body: body, signatureHeader: checkout.signer.header(for: body))
                return CallbackBody(outcome: outcome.rawValue)
            }
        }

        /// The caller's bookings: upcoming first (soonest first), then past ones.
        router.get("/me/bookings") { _, context in
            let identity = try context.requireUser()
            return BookingList(items: try await bookings.bookings(of: identity.userID))
        }
        /// One booking: its owner or an admin; anyone else 404.
        router.get("/bookings/:id") { _, context in
            let identity = try context.requireUser()
            return BookingBody(try await bookings.booking(try Self.bookingID(context), for: identity))
        }
        /// The e-ticket's QR code (the ticket code), as SVG or PNG: the owner's or an admin's;
        /// 404 for anyone else, 409 `no_ticket` until the booking is confirmed.
        router.get("/bookings/:id/ticket.svg") { _, context in
            let qr = try await Self.ticketQR(try Self.bookingID(context), for: try context.requireUser(), bookings: bookings)
            return Self.image(ByteBuffer(string: qr.svg()), type: "image/svg+xml")
        }
        router.get("/bookings/:id/ticket.png") { _, context in
            let qr = try await Self.ticketQR(try Self.bookingID(context), for: try context.requireUser(), bookings: bookings)
            return Self.image(ByteBuffer(bytes: qr.png()), type: "image/png")
        }
        /// Cancels a booking (owner until the cut-off, admin until the start): seats freed, refund recorded.
        router.post("/bookings/:id/cancel") { _, context in
            let identity = try context.requireUser()
            return BookingBody(try await bookings.cancel(try Self.bookingID(context), by: identity))
        }

        /// Managers (of their cinema's) and admins: bookings by cinema, showtime, user, status
        /// and showtime start, newest first.
        router.get("/admin/bookings") { request, context in
            let reach = try context.require(.manageBookings)
            var filter = try Self.filter(request)
            filter.cinemaID = try reach.limit(filter.cinemaID)
            return BookingList(items: try await bookings.bookings(matching: filter))
        }
        /// The door: checks a ticket in (exactly once); 409 for used, cancelled or not-today tickets, 404 unknown.
        router.post("/admin/tickets/validate") { request, context in
            let reach = try context.require(.validateTickets)
            struct Input: Decodable { var code: String }
            let input = try await request.decodeJSON(as: Input.self, context: context)
            let scan = try await bookings.validateTicket(code: input.code, at: reach)
            return TicketBody(result: "valid", checkedInAt: scan.checkedInAt, booking: scan.booking)
        }
    }

    static func rawBody(_ request: Request) async throws -> [UInt8] {
        do {
            return Array(try await request.body.collect(upTo: 64 * 1024).readableBytesView)
        } catch is NIOTooManyBytesError {
            throw Problem(.contentTooLarge, code: "body_too_large", message: "A callback body may be at most 64 KiB.")
        }
    }

    static func ticketQR(_ id: UUID, for identity: Identity, bookings: BookingService) async throws -> TicketQR {
        let booking = try await bookings.booking(id, for: identity)
        guard booking.status == .confirmed, let code = booking.ticketCode, let qr = TicketQR(code) else {
            throw BoxOfficeError(.conflict, code: "no_ticket", message: "This booking has no ticket: only a confirmed booking has one.")
        }
        return qr
    }

    /// A ticket image: private (it admits whoever shows it), never cached by shared caches.
    static func image(_ body: ByteBuffer, type: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: type, .cacheControl: "private, no-store"],
            body: ResponseBody(byteBuffer: body)
        )
    }

    static func bookingID(_ context: AppRequestContext) throws(BoxOfficeError) -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else {
            throw BookingService.notFound
        }
        return id
    }

    static func filter(_ request: Request) throws(BoxOfficeError) -> BookingFilter {
        var validator = Validator()
        var filter = BookingFilter()
        let page = try SchedulingQuery.page(request)
        filter.limit = page.limit
        filter.offset = page.offset
        filter.showtimeID = SchedulingQuery.integer(request, "showtime_id", &validator)
        filter.cinemaID = SchedulingQuery.integer(request, "cinema", &validator)
        if let id = filter.cinemaID { validator.check(id >= 1, "cinema", "must be an id, 1 or more.") }
        if let text = request.uri.queryParameters["user_id"] {
            filter.userID = UUID(uuidString: String(text))
            validator.check(filter.userID != nil, "user_id", "must be a user id (UUID).")
        }
        if let text = request.uri.queryParameters["status"] {
            filter.status = BookingStatus(rawValue: String(text))
            validator.check(
                filter.status != nil, "status", "must be one of \(BookingStatus.allCases.map(\.rawValue).joined(separator: ", "))."
            )
        }
        for name in ["from", "to"] {
            guard let text = request.uri.queryParameters[name[...]] else { continue }
            let date = Self.parseDate(String(text))
            validator.check(date != nil, name, "must be a date (YYYY-MM-DD) or an ISO 8601 time.")
            if name == "from" { filter.from = date } else { filter.to = date }
        }
        try validator.validate()
        return filter
    }

    static func parseDate(_ text: String) -> Date? {
        SchedulingTime.parseInstant(text) ?? SchedulingTime.parseInstant(text + "T00:00:00Z")
    }
}

struct CheckoutBody: ResponseEncodable {
    var bookingID: String
    var status: BookingStatus
    var amount: Int
    var currency: String
    var paymentID: String
    var payURL: String

    enum CodingKeys: String, CodingKey {
        case status, amount, currency
        case bookingID = "booking_id"
        case paymentID = "payment_id"
        case payURL = "pay_url"
    }

    init(_ checkout: Checkout) {
        bookingID = checkout.bookingID.canonical
        status = checkout.status
        amount = checkout.amountMinor
        currency = checkout.currency
        paymentID = checkout.paymentID
        payURL = checkout.payURL
    }
}

struct CallbackBody: ResponseEncodable {
    var outcome: String
}

struct BookingBody: ResponseEncodable {
    let booking: Booking

    init(_ booking: Booking) {
        self.booking = booking
    }

    func encode(to encoder: any Encoder) throws {
        try booking.encode(to: encoder)
    }
}

struct BookingList: ResponseEncodable {
    var items: [Booking]
}

struct TicketBody: ResponseEncodable {
    var result: String
    var checkedInAt: Date
    var booking: Booking

    enum CodingKeys: String, CodingKey {
        case result, booking
        case checkedInAt = "checked_in_at"
    }
}
