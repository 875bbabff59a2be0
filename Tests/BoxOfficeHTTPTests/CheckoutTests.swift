import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import PostgresClient
import RedisClient
import Synchronization
import Testing

/// Checkout, signed payment callbacks, bookings, cancellations and the door, end to end
/// against the real Redis and PostgreSQL.
@Suite struct CheckoutTests {
    struct Purchase {
        var holdID: String
        var bookingID: String
        var paymentID: String
        var amount: Int
    }

    /// Holds `seats` for `user` and checks out.
    static func checkOut(_ app: TestApp, _ showtime: ShowtimeFixture, _ seats: [Int], as user: TestApp.User) async throws -> Purchase {
        let hold = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: "{\"seat_ids\": \(seats)}")
        #expect(hold.status == .created)
        let holdID = try #require(try hold.json()["id"] as? String)
        let checkout = try await app.request(.post, "/holds/\(holdID)/checkout", as: user)
        #expect(checkout.status == .created)
        let body = try checkout.json()
        return Purchase(
            holdID: holdID, bookingID: try #require(body["booking_id"] as? String),
            paymentID: try #require(body["payment_id"] as? String), amount: try #require(body["amount"] as? Int)
        )
    }

    /// Sends the provider's callback, signed with the server's secret (or `signature`).
    @discardableResult
    static func callback(
        _ app: TestApp, payment: String, status: String = "succeeded", amount: Int, currency: String = "EUR",
        eventID: String = "evt_\(UUID().uuidString)", signature: String? = nil, at time: Date = Date()
    ) async throws -> TestResponse {
        let event = CheckoutService.PaymentEvent(eventID: eventID, paymentID: payment, status: status, amount: amount, currency: currency)
        let body = try JSONEncoder().encode(event)
        let header = signature ?? PaymentSignature(secret: app.dependencies.settings.paymentSecret).header(for: Array(body), at: time)
        return try await app.request(
            .post, "/payments/callback", body: ByteBuffer(bytes: body),
            headers: [.contentType: "application/json", HTTPField.Name(PaymentSignature.headerName)!: header]
        )
    }

    static func seatStatuses(_ app: TestApp, _ showtime: ShowtimeFixture) async throws -> [Int: String] {
        let seats = try await app.request(.get, "/showtimes/\(showtime.id)/seats").json()["seats"] as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: seats.map { ($0["id"] as! Int, $0["status"] as! String) })
    }

    static func expectInvariants(_ app: TestApp) async throws {
        #expect(try await BookingInvariants.violations(in: app.dependencies.postgres) == [])
    }

    @Test func holdCheckoutAndASignedCallbackConfirmTheBookingAndSellTheSeats() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let seats = Array(showtime.rows[0][1...2])
            let purchase = try await Self.checkOut(app, showtime, seats, as: user)
            #expect(purchase.amount == 3000)
            let pending = try await app.request(.get, "/bookings/\(purchase.bookingID)", as: user).json()
            #expect(pending["status"] as? String == "pending")

            let paid = try await Self.callback(app, payment: purchase.paymentID, amount: purchase.amount)
            #expect(paid.status == .ok)
            #expect(try paid.json()["outcome"] as? String == "confirmed")
            let booking = try await app.request(.get, "/bookings/\(purchase.bookingID)", as: user).json()
            #expect(booking["status"] as? String == "confirmed")
            let code = try #require(booking["ticket_code"] as? String)
            #expect(code.count >= 22, "at least 128 random bits")
            // Sold in PostgreSQL, in Redis' cache, and on the seat map.
            let sold = try await app.dependencies.postgres.query("""
                SELECT count(*) AS n FROM showtime_seats WHERE showtime_id = \(showtime.id) AND status = 'sold'
                """).first!.decode(Int.self, column: "n")
            #expect(sold == 2)
            let map = try await Self.seatStatuses(app, showtime)
            #expect(seats.allSatisfy { map[$0] == "sold" })
            let mine = try await app.request(.get, "/me/bookings", as: user).json()["items"] as? [[String: Any]] ?? []
            #expect(mine.map { $0["id"] as? String } == [purchase.bookingID])
            try await Self.expectInvariants(app)
        }
    }

    @Test func checkingOutTwiceAnswersTheSameBookingAndHonoursTheIdempotencyKey() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let purchase = try await Self.checkOut(app, showtime, [showtime.rows[1][0]], as: user)
            let again = try await app.request(.post, "/holds/\(purchase.holdID)/checkout", as: user)
            #expect(try again.json()["booking_id"] as? String == purchase.bookingID)

            let hold = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: "{\"seat_ids\": [\(showtime.rows[1][1])]}")
            let holdID = try #require(try hold.json()["id"] as? String)
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "k-\(UUID())"]
            let first = try await app.request(.post, "/holds/\(holdID)/checkout", as: user, headers: key)
            let second = try await app.request(.post, "/holds/\(holdID)/checkout", as: user, headers: key)
            #expect(try first.json()["booking_id"] as? String == second.json()["booking_id"] as? String)
            let reused = try await app.request(.post, "/holds/\(purchase.holdID)/checkout", as: user, headers: key)
            #expect(reused.problemCode == "idempotency_key_reused")
            let stranger = try await app.makeUser()
            #expect(try await app.request(.post, "/holds/\(holdID)/checkout", as: stranger).status == .notFound)
            #expect(try await app.request(.get, "/bookings/\(purchase.bookingID)", as: stranger).status == .notFound)
        }
    }

    /// Thirty holds, each checked out five times at once (a double click, a retry): with group
    /// commit many checkouts per statement, one hold never twice in one. Each hold gets one
    /// booking, and every answer names it.
    @Test(arguments: [true, false]) func concurrentCheckoutsOfManyHoldsGiveEachHoldOneBooking(groupCommit: Bool) async throws {
        try await TestApp.run(configure: { $0.groupCommit = groupCommit; $0.groupCommitMaxBatch = 8 }) { app in
            let showtime = try await app.makeShowtime(rows: 5, seatsPerRow: 6)
            var holds: [(TestApp.User, String)] = []
            for seat in showtime.allSeats {
                let user = try await app.makeUser()
                let hold = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: "{\"seat_ids\": [\(seat)]}")
                holds.append((user, try #require(try hold.json()["id"] as? String)))
            }
            let answers = try await withThrowingTaskGroup(of: (String, String?).self) { group in
                for (user, holdID) in holds {
                    for attempt in 0..<5 {
                        group.addTask {
                            let key: HTTPFields = attempt % 2 == 0 ? [HTTPField.Name("Idempotency-Key")!: "k-\(holdID)"] : [:]
                            let response = try await app.request(.post, "/holds/\(holdID)/checkout", as: user, headers: key)
                            #expect(response.status == .created || response.status == .ok, "\(response.status)")
                            return (holdID, try response.json()["booking_id"] as? String)
                        }
                    }
                }
                return try await group.reduce(into: [String: Set<String?>]()) { $0[$1.0, default: []].insert($1.1) }
            }
            #expect(answers.count == holds.count)
            #expect(answers.values.allSatisfy { $0.count == 1 && $0.first! != nil })
            let bookings = try await app.dependencies.postgres.query("SELECT count(*) AS n FROM bookings").first!.decode(Int.self, column: "n")
            #expect(bookings == holds.count)
            let payments = try await app.dependencies.postgres.query("SELECT count(*) AS n FROM payments").first!.decode(Int.self, column: "n")
            #expect(payments == holds.count)
        }
    }

    @Test func checkingOutAnUnpaidHoldAgainAnswersItsBookingWhetherOrNotRedisRecordedIt() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let hold = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: "{\"seat_ids\": [\(showtime.rows[0][4])]}")
            let holdID = try #require(try hold.json()["id"] as? String)
            let first = try await app.request(.post, "/holds/\(holdID)/checkout", as: user)
            let bookingID = try #require(try first.json()["booking_id"] as? String)
            // The hold records its booking: the second checkout looks it up before opening a payment.
            let recorded = try await app.dependencies.redis.send(RedisCommand<RedisReply>(
                ["HGET", ShowtimeKeys(showtimeID: showtime.id).hold(holdID), "booking"]
            ))
            #expect(recorded.string?.lowercased() == bookingID.lowercased())
            let second = try await app.request(.post, "/holds/\(holdID)/checkout", as: user)
            #expect(try second.json()["booking_id"] as? String == bookingID)
            #expect(try second.json()["payment_id"] as? String == first.json()["payment_id"] as? String)
            // Without that record (lost with Redis), the insert's unique violation finds it.
            _ = try await app.dependencies.redis.send(RedisCommand<RedisReply>(["HDEL", ShowtimeKeys(showtimeID: showtime.id).hold(holdID), "booking"]))
            let third = try await app.request(.post, "/holds/\(holdID)/checkout", as: user)
            #expect(third.status == .created || third.status == .ok)
            #expect(try third.json()["booking_id"] as? String == bookingID)
            let bookings = try await app.dependencies.postgres.query("""
                SELECT count(*) AS n FROM bookings WHERE hold_id = \(holdID)
                """).first!.decode(Int.self, column: "n")
            #expect(bookings == 1)
        }
    }

    @Test func aRepeatedCheckoutOpensItsPaymentOnceAndOneWhoseRecordRedisLostOpensTheSamePayment() async throws {
        try await TestApp.run { app in
            let provider = CountingProvider()
            let dependencies = app.dependencies
            let checkout = CheckoutService(
                postgres: dependencies.postgres, holds: dependencies.holds, provider: provider,
                settings: dependencies.settings, logger: Logger(label: "test.checkout")
            )
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let hold = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: "{\"seat_ids\": [\(showtime.rows[2][5])]}")
            let holdID = try #require(try hold.json()["id"] as? String)

            let first = try await checkout.checkout(holdID: holdID, owner: user.id, idempotencyKey: nil)
            let second = try await checkout.checkout(holdID: holdID, owner: user.id, idempotencyKey: nil)
            #expect(second == first && provider.opened == [first.bookingID], "the hold's record answered; nothing was opened")

            _ = try await dependencies.redis.send(RedisCommand<RedisReply>(["HDEL", ShowtimeKeys(showtimeID: showtime.id).hold(holdID), "booking"]))
            let third = try await checkout.checkout(holdID: holdID, owner: user.id, idempotencyKey: nil)
            // Opened again, under the same booking id: a provider answers that with the same payment.
            #expect(third == first && provider.opened == [first.bookingID, first.bookingID])
        }
    }

    @Test func anExpiredHoldWithoutABookingIsRefusedAndALapsedOneWithABookingAnswersIt() async throws {
        try await TestApp.run(configure: { $0.holdTTL = .seconds(1); $0.paymentWindow = .seconds(1) }) { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            func hold(_ seat: Int) async throws -> String {
                let hold = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: "{\"seat_ids\": [\(seat)]}")
                return try #require(try hold.json()["id"] as? String)
            }
            let unpaid = try await hold(showtime.rows[0][0])
            let paying = try await hold(showtime.rows[0][2])
            let booked = try await app.request(.post, "/holds/\(paying)/checkout", as: user)
            #expect(booked.status == .created)
            try await Task.sleep(for: .milliseconds(2_300))  // both lapse: 1 s, and 1 + 1 s for the one paying

            let expired = try await app.request(.post, "/holds/\(unpaid)/checkout", as: user)
            // 410 until the expiry worker swept the hold (every 250 ms), then like any unknown hold.
            #expect([.gone, .notFound].contains(expired.status), "\(expired.status)")
            #expect(["hold_expired", "hold_not_found"].contains(expired.problemCode ?? ""))
            let unpaidBookings = try await app.dependencies.postgres.query("""
                SELECT count(*) AS n FROM bookings WHERE hold_id = \(unpaid)
                """).first!.decode(Int.self, column: "n")
            #expect(unpaidBookings == 0)
            let again = try await app.request(.post, "/holds/\(paying)/checkout", as: user)
            #expect(again.status == .created)
            #expect(try again.json()["booking_id"] as? String == booked.json()["booking_id"] as? String)
        }
    }

    @Test func aThousandConcurrentReplaysOfOneCallbackConfirmOnce() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let purchase = try await Self.checkOut(app, showtime, [showtime.rows[2][3]], as: try await app.makeUser())
            let eventID = "evt_replayed"
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<1000 {
                    group.addTask {
                        let response = try await Self.callback(app, payment: purchase.paymentID, amount: purchase.amount, eventID: eventID)
                        #expect(response.status == .ok)
                        return try response.json()["outcome"] as? String ?? "?"
                    }
                }
                return try await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
            }
            #expect(outcomes == ["confirmed": 1, "duplicate": 999])
            let events = try await app.dependencies.postgres.query("SELECT count(*) AS n FROM payment_events").first!.decode(Int.self, column: "n")
            #expect(events == 1)
            try await Self.expectInvariants(app)
        }
    }

    /// Two pending bookings on each of 40 seats (the first's hold lapsed, someone else held and
    /// checked out the seat), then every booking's callback and a replay of each, all at once:
    /// with group commit hundreds of overlapping batches, in which two items may want one seat.
    /// Each seat ends sold to exactly one booking, the other refunded, every replay a duplicate.
    @Test(arguments: [true, false]) func concurrentCallbacksForBookingsThatShareSeatsSellEachSeatOnce(groupCommit: Bool) async throws {
        try await TestApp.run(configure: { $0.groupCommit = groupCommit; $0.groupCommitMaxBatch = 16 }) { app in
            let showtime = try await app.makeShowtime(rows: 5, seatsPerRow: 8)
            var purchases: [Purchase] = []
            for seat in showtime.allSeats {
                for _ in 0..<2 {
                    let purchase = try await Self.checkOut(app, showtime, [seat], as: try await app.makeUser())
                    // Lapsed, as the expiry worker releases an expired hold: the seat is free again.
                    await app.dependencies.holds.releaseAny(showtimeID: showtime.id, holdID: purchase.holdID)
                    purchases.append(purchase)
                }
            }
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for (index, purchase) in purchases.enumerated() {
                    for _ in 0..<2 {
                        group.addTask {
                            let response = try await Self.callback(app, payment: purchase.paymentID, amount: purchase.amount, eventID: "evt_\(index)")
                            #expect(response.status == .ok)
                            return try response.json()["outcome"] as? String ?? "?"
                        }
                    }
                }
                return try await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
            }
            let seats = showtime.allSeats.count
            #expect(outcomes == ["confirmed": seats, "seats_lost": seats, "duplicate": 2 * seats])
            let sold = try await app.dependencies.postgres.query("""
                SELECT count(*) AS n FROM showtime_seats WHERE showtime_id = \(showtime.id) AND status = 'sold'
                """).first!.decode(Int.self, column: "n")
            #expect(sold == seats)
            let refunds = try await app.dependencies.postgres.query("SELECT count(*) AS n FROM refunds").first!.decode(Int.self, column: "n")
            #expect(refunds == seats)
            #expect(try await Self.seatStatuses(app, showtime).values.allSatisfy { $0 == "sold" })
            try await Self.expectInvariants(app)
        }
    }

    @Test func forgedAndStaleCallbacksAre401AndChangeNothing() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let purchase = try await Self.checkOut(app, showtime, [showtime.rows[0][0]], as: try await app.makeUser())
            let forged = try await Self.callback(app, payment: purchase.paymentID, amount: purchase.amount, signature: "t=\(Int(Date().timeIntervalSince1970)),v1=00ff")
            #expect(forged.status == .unauthorized)
            #expect(forged.problemCode == "invalid_signature")
            let unsigned = try await app.request(.post, "/payments/callback", json: "{}")
            #expect(unsigned.status == .unauthorized)
            let stale = try await Self.callback(app, payment: purchase.paymentID, amount: purchase.amount, at: Date().addingTimeInterval(-600))
            #expect(stale.status == .unauthorized)
            #expect(stale.problemCode == "stale_signature")
            let status = try await app.dependencies.postgres.query("SELECT status FROM bookings").first!.decode(String.self, column: "status")
            #expect(status == "pending")
            let events = try await app.dependencies.postgres.query("SELECT count(*) AS n FROM payment_events").first!.decode(Int.self, column: "n")
            #expect(events == 0)
        }
    }

    @Test func aFailedPaymentReleasesTheHoldAndAWrongAmountIsNeverConfirmed() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let failing = try await Self.checkOut(app, showtime, [showtime.rows[1][4]], as: user)
            let failed = try await Self.callback(app, payment: failing.paymentID, status: "failed", amount: failing.amount)
            #expect(try failed.json()["outcome"] as? String == "payment_failed")
            #expect(try await Self.seatStatuses(app, showtime)[showtime.rows[1][4]] == "available")
            let booking = try await app.request(.get, "/bookings/\(failing.bookingID)", as: user).json()
            #expect(booking["status"] as? String == "payment_failed")
            // The provider's retry succeeds after all: that money is refunded, not kept.
            let retried = try await Self.callback(app, payment: failing.paymentID, amount: failing.amount)
            #expect(try retried.json()["outcome"] as? String == "booking_closed")
            let refunds = try await app.dependencies.postgres.query(
                "SELECT count(*) AS n FROM refunds WHERE booking_id = \(failing.bookingID) AND reason = 'booking_closed'"
            )
            #expect(try refunds.first?.decode(Int.self, column: "n") == 1)

            let wrong = try await Self.checkOut(app, showtime, [showtime.rows[1][5]], as: user)
            let mismatch = try await Self.callback(app, payment: wrong.paymentID, amount: wrong.amount - 1)
            #expect(mismatch.status == .ok, "recorded and refunded: the provider must not retry it")
            #expect(try mismatch.json()["outcome"] as? String == "amount_mismatch")
            let after = try await app.request(.get, "/bookings/\(wrong.bookingID)", as: user).json()
            #expect(after["status"] as? String == "failed")
            try await Self.expectInvariants(app)
        }
    }

    @Test func aRefundRecordedButNeverRequestedIsRequestedOnceBySweeping() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let purchase = try await Self.checkOut(app, showtime, [showtime.rows[2][2]], as: user)
            let mismatch = try await Self.callback(app, payment: purchase.paymentID, amount: purchase.amount + 1)
            #expect(try mismatch.json()["outcome"] as? String == "amount_mismatch")
            // As if the instance had stopped between the commit and the request, a while ago.
            try await app.dependencies.postgres.query("""
                UPDATE refunds SET requested_at = NULL, status = 'requested', created_at = now() - interval '10 minutes'
                """)
            let checkout = app.dependencies.checkout.refunds
            #expect(try await checkout.requestUnrequestedRefunds(olderThan: .seconds(1200)) == 0, "younger than the age: left alone")
            #expect(try await checkout.requestUnrequestedRefunds(olderThan: .seconds(60)) == 1)
            #expect(try await checkout.requestUnrequestedRefunds(olderThan: .seconds(60)) == 0, "asked once")
            let refund = try #require(try await app.dependencies.postgres.query(
                "SELECT status, requested_at IS NOT NULL AS requested FROM refunds"
            ).first)
            #expect(try refund.decode(String.self, column: "status") == "succeeded")
            #expect(try refund.decode(Bool.self, column: "requested"))
        }
    }

    @Test func aLatePaymentIsConfirmedWhileTheSeatsAreFreeAndRefundedOnceTheyAreTaken() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let (alice, bob) = (try await app.makeUser(), try await app.makeUser())
            let free = try await Self.checkOut(app, showtime, [showtime.rows[2][0]], as: alice)
            let taken = try await Self.checkOut(app, showtime, [showtime.rows[2][1]], as: alice)
            // Both holds lapse: released as the expiry worker releases an expired hold.
            for purchase in [free, taken] {
                await app.dependencies.holds.releaseAny(showtimeID: showtime.id, holdID: purchase.holdID)
            }
            // Someone else holds the second seat now.
            #expect(try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: bob, json: "{\"seat_ids\": [\(showtime.rows[2][1])]}").status == .created)

            let confirmed = try await Self.callback(app, payment: free.paymentID, amount: free.amount)
            #expect(try confirmed.json()["outcome"] as? String == "confirmed")
            let lost = try await Self.callback(app, payment: taken.paymentID, amount: taken.amount)
            #expect(try lost.json()["outcome"] as? String == "seats_lost")
            let refunds = try await app.dependencies.postgres.query("SELECT reason, amount_minor FROM refunds")
            #expect(refunds.count == 1)
            #expect(try refunds.first?.decode(String.self, column: "reason") == "seats_lost")
            try await Self.expectInvariants(app)
        }
    }

    @Test func ownersCancelUntilTheCutOffAndAdminsUntilTheStartWithRefunds() async throws {
        try await TestApp.run { app in
            let user = try await app.makeUser()
            let admin = try await app.makeUser(role: .admin)
            let later = try await app.makeShowtime()
            let purchase = try await Self.checkOut(app, later, [later.rows[0][3]], as: user)
            try await Self.callback(app, payment: purchase.paymentID, amount: purchase.amount)
            let cancelled = try await app.request(.post, "/bookings/\(purchase.bookingID)/cancel", as: user)
            #expect(cancelled.status == .ok)
            #expect(try cancelled.json()["status"] as? String == "cancelled")
            #expect(try await Self.seatStatuses(app, later)[later.rows[0][3]] == "available")
            #expect(try await app.request(.post, "/bookings/\(purchase.bookingID)/cancel", as: user).problemCode == "not_cancellable")

            // Within the hour before the start only an admin may cancel.
            let soon = try await app.makeShowtime(startsIn: 1800)
            let close = try await Self.checkOut(app, soon, [soon.rows[0][0]], as: user)
            try await Self.callback(app, payment: close.paymentID, amount: close.amount)
            let refused = try await app.request(.post, "/bookings/\(close.bookingID)/cancel", as: user)
            #expect(refused.status == .conflict)
            #expect(refused.problemCode == "cancellation_closed")
            #expect(try await app.request(.post, "/bookings/\(close.bookingID)/cancel", as: try await app.makeUser()).status == .notFound)
            #expect(try await app.request(.post, "/bookings/\(close.bookingID)/cancel", as: admin).status == .ok)

            let refunds = try await app.dependencies.postgres.query("SELECT count(*) AS n FROM refunds").first!.decode(Int.self, column: "n")
            #expect(refunds == 2)
            try await Self.expectInvariants(app)
        }
    }

    @Test func cancellingAShowtimeCancelsAndRefundsEveryBooking() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let admin = try await app.makeUser(role: .admin)
            for seat in showtime.rows[1][0..<3] {
                let purchase = try await Self.checkOut(app, showtime, [seat], as: try await app.makeUser())
                try await Self.callback(app, payment: purchase.paymentID, amount: purchase.amount)
            }
            #expect(try await app.request(.post, "/admin/showtimes/\(showtime.id)/cancel", as: try await app.makeUser()).status == .forbidden)
            let response = try await app.request(.post, "/admin/showtimes/\(showtime.id)/cancel", as: admin)
            #expect(response.status == .ok)
            let rows = try await app.dependencies.postgres.query("""
                SELECT (SELECT count(*) FROM bookings WHERE status = 'cancelled') AS cancelled,
                       (SELECT count(*) FROM refunds WHERE reason = 'showtime_cancelled') AS refunds,
                       (SELECT count(*) FROM showtime_seats WHERE status = 'sold') AS sold
                """).first!
            #expect(try rows.decode(Int.self, column: "cancelled") == 3)
            #expect(try rows.decode(Int.self, column: "refunds") == 3)
            #expect(try rows.decode(Int.self, column: "sold") == 0)
            let list = try await app.request(.get, "/admin/bookings?showtime_id=\(showtime.id)&status=cancelled", as: admin)
            #expect((try list.json()["items"] as? [Any])?.count == 3)
            #expect(try await app.request(.get, "/admin/bookings?status=nonsense", as: admin).status == .unprocessableContent)
            try await Self.expectInvariants(app)
        }
    }

    @Test func twoScansOfOneTicketAtOnceAdmitExactlyOne() async throws {
        try await TestApp.run { app in
            let user = try await app.makeUser()
            let staff = try await app.makeUser(role: .staff)
            // Today, in the cinema's zone: a few minutes from now.
            let showtime = try await app.makeShowtime(startsIn: 300)
            let purchase = try await Self.checkOut(app, showtime, [showtime.rows[0][2]], as: user)
            try await Self.callback(app, payment: purchase.paymentID, amount: purchase.amount)
            let code = try #require(try await app.request(.get, "/bookings/\(purchase.bookingID)", as: user).json()["ticket_code"] as? String)
            #expect(try await app.request(.post, "/admin/tickets/validate", as: user, json: "{\"code\": \"\(code)\"}").status == .forbidden)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<2 {
                    group.addTask { try await app.request(.post, "/admin/tickets/validate", as: staff, json: "{\"code\": \"\(code)\"}").status }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.sorted { $0.code < $1.code } == [.ok, .conflict])
            let again = try await app.request(.post, "/admin/tickets/validate", as: staff, json: "{\"code\": \"\(code)\"}")
            #expect(again.problemCode == "ticket_already_used")
            #expect(try await app.request(.post, "/admin/tickets/validate", as: staff, json: "{\"code\": \"nope\"}").problemCode == "ticket_unknown")
        }
    }

    @Test func anUnpaidBookingIsClosedAfterTheTimeoutAndALatePaymentStillFollowsTheRule() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let seat = showtime.rows[0][5]
            let purchase = try await Self.checkOut(app, showtime, [seat], as: user)
            let closer = PendingBookingCloser(
                postgres: app.dependencies.postgres, holds: app.dependencies.holds, timeout: .zero, logger: Logger(label: "test")
            )
            #expect(try await closer.closeStale() == 1)
            let closed = try await app.request(.get, "/bookings/\(purchase.bookingID)", as: user).json()
            #expect(closed["status"] as? String == "expired")
            #expect(try await Self.seatStatuses(app, showtime)[seat] == "available", "its hold was released")
            // The seat is still free, so the late payment confirms the booking.
            let late = try await Self.callback(app, payment: purchase.paymentID, amount: purchase.amount)
            #expect(try late.json()["outcome"] as? String == "confirmed")
            try await Self.expectInvariants(app)
        }
    }

    @Test func aConfirmationWhosePostgreSQLSessionDiesLeavesNothingAndTheProvidersRetrySucceeds() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let purchase = try await Self.checkOut(app, showtime, [showtime.rows[1][3]], as: user)
            // The server's session dies in the middle of the confirmation, after the seats were
            // sold and before the commit, as if PostgreSQL had stopped. A sequence is outside
            // transactions, so only the first attempt dies.
            try await app.dependencies.postgres.query(PostgresQuery(unsafeSQL: """
                CREATE SEQUENCE die_once;
                CREATE FUNCTION die_once() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  IF nextval('die_once') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
                  RETURN NEW;
                END $$;
                CREATE TRIGGER die_once BEFORE UPDATE OF active ON booking_seats FOR EACH ROW EXECUTE FUNCTION die_once();
                """))
            let eventID = "evt_\(UUID())"
            let first = try await Self.callback(app, payment: purchase.paymentID, amount: purchase.amount, eventID: eventID)
            #expect(first.status == .serviceUnavailable, "the provider is told to retry")
            let state = try await app.dependencies.postgres.query("""
                SELECT (SELECT status FROM bookings) AS booking,
                       (SELECT count(*) FROM showtime_seats WHERE status = 'sold') AS sold,
                       (SELECT count(*) FROM payment_events) AS events
                """).first!
            #expect(try state.decode(String.self, column: "booking") == "pending")
            #expect(try state.decode(Int.self, column: "sold") == 0)
            #expect(try state.decode(Int.self, column: "events") == 0, "the event is not recorded, so the retry is not a replay")
            // Had the session died after its COMMIT, the retry would be a replay that tells Redis
            // nothing: so the sold cache is dropped, to be rebuilt from PostgreSQL.
            let cached = try await app.dependencies.redis.send(RedisCommand<RedisReply>(["EXISTS", ShowtimeKeys(showtimeID: showtime.id).sold]))
            #expect(cached.integer == 0)

            let retry = try await Self.callback(app, payment: purchase.paymentID, amount: purchase.amount, eventID: eventID)
            #expect(try retry.json()["outcome"] as? String == "confirmed")
            try await Self.expectInvariants(app)
        }
    }

    /// A batch whose session dies before its commit fails as a whole, each of its callbacks
    /// answering 503 as one alone would, with nothing recorded; the other batches stand. The
    /// provider's retries of the same events then confirm every booking once.
    @Test func aBatchWhoseSessionDiesAnswersEachOfItsCallbacks503AndTheRetriesConfirmEveryBooking() async throws {
        try await TestApp.run(configure: { $0.groupCommitMaxBatch = 8 }) { app in
            let showtime = try await app.makeShowtime(rows: 4, seatsPerRow: 6)
            var purchases: [Purchase] = []
            for seat in showtime.allSeats { purchases.append(try await Self.checkOut(app, showtime, [seat], as: try await app.makeUser())) }
            try await app.dependencies.postgres.query(PostgresQuery(unsafeSQL: """
                CREATE SEQUENCE die_once;
                CREATE FUNCTION die_once() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  IF nextval('die_once') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
                  RETURN NEW;
                END $$;
                CREATE TRIGGER die_once BEFORE UPDATE OF active ON booking_seats FOR EACH ROW EXECUTE FUNCTION die_once();
                """))
            func payAll() async throws -> [String: Int] {
                try await withThrowingTaskGroup(of: String.self) { group in
                    for (index, purchase) in purchases.enumerated() {
                        group.addTask {
                            let response = try await Self.callback(app, payment: purchase.paymentID, amount: purchase.amount, eventID: "evt_\(index)")
                            return response.status == .ok ? try response.json()["outcome"] as? String ?? "?" : "\(response.status.code)"
                        }
                    }
                    return try await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
                }
            }
            let first = try await payAll()
            let died = first["503"] ?? 0
            #expect(died >= 1 && (first["confirmed"] ?? 0) + died == purchases.count, "\(first)")
            let events = try await app.dependencies.postgres.query("SELECT count(*) AS n FROM payment_events").first!.decode(Int.self, column: "n")
            #expect(events == purchases.count - died, "a failed batch records none of its events")
            let retry = try await payAll()
            #expect(retry == ["confirmed": died, "duplicate": purchases.count - died].filter { $0.value > 0 })
            let confirmed = try await app.dependencies.postgres.query("SELECT count(*) AS n FROM bookings WHERE status = 'confirmed'")
                .first!.decode(Int.self, column: "n")
            #expect(confirmed == purchases.count)
            try await Self.expectInvariants(app)
        }
    }

    @Test func theSandboxRoutePaysWithAProperlySignedCallback() async throws {
        try await TestApp.run(configure: { $0.sandboxRoutesEnabled = true }) { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let purchase = try await Self.checkOut(app, showtime, [showtime.rows[2][5]], as: user)
            let path = "/sandbox/payments/\(purchase.paymentID)"
            // Only the payment's owner (or an admin) may pay or fail it.
            #expect(try await app.request(.post, path, json: "{\"outcome\": \"fail\"}").status == .unauthorized)
            let stranger = try await app.request(.post, path, as: try await app.makeUser(), json: "{\"outcome\": \"fail\"}")
            #expect(stranger.status == .notFound)
            let paid = try await app.request(.post, path, as: user, json: "{\"outcome\": \"succeed\"}")
            #expect(try paid.json()["outcome"] as? String == "confirmed")
        }
    }
}

/// Opens payments as the sandbox does, and remembers for which bookings.
final class CountingProvider: PaymentProvider {
    let name = "sandbox"
    private let sandbox = SandboxPaymentProvider()
    private let bookings = Mutex<[UUID]>([])

    var opened: [UUID] { bookings.withLock { $0 } }

    func openPayment(bookingID: UUID, amountMinor: Int, currency: String) async throws -> OpenedPayment {
        bookings.withLock { $0.append(bookingID) }
        return try await sandbox.openPayment(bookingID: bookingID, amountMinor: amountMinor, currency: currency)
    }

    func requestRefund(refundID: UUID, providerPaymentID: String, amountMinor: Int, currency: String) async throws -> Bool {
        true
    }
}
