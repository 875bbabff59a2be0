import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import PostgresClient
import RedisClient
import Synchronization
import Testing

/// Money always ends as a ticket for a show that runs, or a refund: cancels, moves and crashes
/// around holds, checkouts and payments, against the real Redis and PostgreSQL.
@Suite struct ShowtimeCancellationTests {
    static func holdJSON(_ seats: [Int]) -> String { "{\"seat_ids\": \(seats)}" }

    static func cancel(_ app: TestApp, _ showtime: ShowtimeFixture) async throws {
        let admin = try await app.makeUser(role: .admin)
        let response = try await app.request(.post, "/admin/showtimes/\(showtime.id)/cancel", as: admin)
        #expect(response.status == .ok)
    }

    static func count(_ app: TestApp, _ sql: String) async throws -> Int {
        try await app.dependencies.postgres.query(PostgresQuery(unsafeSQL: sql)).first!.decode(Int.self, at: 0)
    }

    /// Instances that trust their cached showtime status for an hour: only Redis can tell them.
    static let longCache: @Sendable (inout BoxOfficeSettings) -> Void = { $0.showtimeStatusLifetime = .seconds(3600) }

    @Test func afterACancelEveryHoldPathIs410AtOnceAndLiveHoldsAreReleased() async throws {
        try await TestApp.run(configure: Self.longCache) { app in
            let showtime = try await app.makeShowtime()
            let (alice, bob) = (try await app.makeUser(), try await app.makeUser())
            // Alice holds a seat: this instance's layout cache now knows the showtime as scheduled.
            let held = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: alice, json: Self.holdJSON([showtime.rows[0][0]]))
            #expect(held.status == .created)
            let holdID = try #require(try held.json()["id"] as? String)
            try await Self.cancel(app, showtime)
            let mark = try await app.dependencies.redis.send(RedisCommand<RedisReply>(
                ["SISMEMBER", ShowtimeKeys(showtimeID: showtime.id).sold, "closed"]
            ))
            #expect(mark.integer == 1, "the cancel marked the showtime closed in Redis")

            let specific = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: bob, json: Self.holdJSON([showtime.rows[1][0]]))
            #expect(specific.status == .gone)
            #expect(specific.problemCode == "showtime_cancelled")
            let best = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: bob, json: "{\"count\": 1}")
            #expect(best.status == .gone)
            #expect(best.problemCode == "showtime_cancelled")
            // Alice's hold went with the cancel: her seat is free on the map, and her checkout says why.
            let seats = try await app.request(.get, "/showtimes/\(showtime.id)/seats", as: alice).json()["seats"] as? [[String: Any]] ?? []
            #expect(seats.first { $0["id"] as? Int == showtime.rows[0][0] }?["status"] as? String == "available")
            let checkout = try await app.request(.post, "/holds/\(holdID)/checkout", as: alice)
            #expect(checkout.status == .gone)
            #expect(checkout.problemCode == "showtime_cancelled")
            #expect(try await Self.count(app, "SELECT count(*) FROM bookings") == 0)
        }
    }

    @Test func aHoldWhoseShowtimeIsCancelledIsNotCheckedOutAndWritesNothing() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let held = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: Self.holdJSON([showtime.rows[0][1]]))
            let holdID = try #require(try held.json()["id"] as? String)
            // Cancelled in PostgreSQL only, as if Redis had not heard yet: the checkout's own
            // statement must still refuse.
            try await app.dependencies.postgres.query("UPDATE showtimes SET status = 'cancelled' WHERE id = \(showtime.id)")
            let checkout = try await app.request(.post, "/holds/\(holdID)/checkout", as: user)
            #expect(checkout.status == .gone)
            #expect(checkout.problemCode == "showtime_cancelled")
            #expect(try await Self.count(app, "SELECT (SELECT count(*) FROM bookings) + (SELECT count(*) FROM payments)") == 0)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aCheckoutWaitsForACancelInProgressAndThenWritesNothing() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let held = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: Self.holdJSON([showtime.rows[2][3]]))
            let holdID = try #require(try held.json()["id"] as? String)
            // A cancel holds the showtime row, as BookingService.cancelShowtime does, while the checkout runs.
            let locked = Mutex(false)
            let cancel = Task {
                try await app.dependencies.postgres.withTransaction { tx in
                    try await tx.query("SELECT status FROM showtimes WHERE id = \(showtime.id) FOR UPDATE")
                    try await tx.query("UPDATE showtimes SET status = 'cancelled', cancelled_at = now() WHERE id = \(showtime.id)")
                    locked.withLock { $0 = true }
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
            while !locked.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
            let checkout = try await app.request(.post, "/holds/\(holdID)/checkout", as: user)
            try await cancel.value
            #expect(checkout.status == .gone)
            #expect(checkout.problemCode == "showtime_cancelled")
            #expect(try await Self.count(app, "SELECT count(*) FROM bookings") == 0)
        }
    }

    @Test func aShowtimeThatStartedIsNotCheckedOut() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let held = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: Self.holdJSON([showtime.rows[0][1]]))
            let holdID = try #require(try held.json()["id"] as? String)
            try await app.dependencies.postgres.query("""
                UPDATE showtimes SET starts_at = now() - interval '1 minute', ends_at = now() + interval '2 hours' WHERE id = \(showtime.id)
                """)
            let checkout = try await app.request(.post, "/holds/\(holdID)/checkout", as: user)
            #expect(checkout.status == .gone)
            #expect(checkout.problemCode == "showtime_started")
            #expect(try await Self.count(app, "SELECT count(*) FROM bookings") == 0)
        }
    }

    @Test func aPaymentForACancelledShowtimeIsRefundedInFullAndNeverConfirmed() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let purchase = try await CheckoutTests.checkOut(app, showtime, Array(showtime.rows[2][0...1]), as: user)
            try await Self.cancel(app, showtime)
            let paid = try await CheckoutTests.callback(app, payment: purchase.paymentID, amount: purchase.amount)
            #expect(paid.status == .ok)
            #expect(try paid.json()["outcome"] as? String == "showtime_cancelled")
            let booking = try await app.request(.get, "/bookings/\(purchase.bookingID)", as: user).json()
            #expect(booking["status"] as? String == "cancelled")
            #expect(booking["ticket_code"] is NSNull)
            let refund = try #require(try await app.dependencies.postgres.query("SELECT amount_minor, reason FROM refunds").first)
            #expect(try refund.decode(Int.self, column: "amount_minor") == purchase.amount)
            #expect(try refund.decode(String.self, column: "reason") == "showtime_cancelled")
            #expect(try await Self.count(app, "SELECT count(*) FROM showtime_seats WHERE status = 'sold'") == 0)
            try await CheckoutTests.expectInvariants(app)
        }
    }

    /// The callbacks go through one instance, the cancel through another (pools of their own,
    /// so that the cancel does not queue behind the callbacks for a connection).
    /// An unpaid booking closed as expired may still be paid; a cancel of its showtime cancels
    /// it too, so that the payment is refused and refunded, never confirmed.
    @Test func aLatePaymentOfAnExpiredBookingOfACancelledShowtimeIsRefunded() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let purchase = try await CheckoutTests.checkOut(app, showtime, [showtime.rows[1][5]], as: user)
            try await app.dependencies.postgres.query("UPDATE bookings SET status = 'expired'")
            try await Self.cancel(app, showtime)
            let booking = try await app.request(.get, "/bookings/\(purchase.bookingID)", as: user).json()
            #expect(booking["status"] as? String == "cancelled")
            let paid = try await CheckoutTests.callback(app, payment: purchase.paymentID, amount: purchase.amount)
            #expect(try paid.json()["outcome"] as? String == "showtime_cancelled")
            #expect(try await Self.count(app, "SELECT count(*) FROM refunds WHERE reason = 'showtime_cancelled'") == 1)
            try await CheckoutTests.expectInvariants(app)
        }
    }

    @Test func aCancelRacingFiftyPaidCallbacksLeavesEveryPaymentRefundedAndNothingSold() async throws {
        // Small batches: with one batch of the other 49, the cancel would come after them all.
        try await Self.withTwoInstances(configureFirst: { $0.groupCommitMaxBatch = 3 }) { app, staff in
            let showtime = try await app.makeShowtime(rows: 5, seatsPerRow: 10)
            var purchases: [CheckoutTests.Purchase] = []
            for seat in showtime.allSeats.prefix(50) {
                purchases.append(try await CheckoutTests.checkOut(app, showtime, [seat], as: try await app.makeUser()))
            }
            let admin = try await staff.makeUser(role: .admin)
            // The cancel goes in once ten callbacks have answered, while forty are in flight.
            let answered = Counter()
            let outcomes = try await withThrowingTaskGroup(of: String?.self) { group in
                for purchase in purchases {
                    group.addTask {
                        let outcome = try await CheckoutTests.callback(app, payment: purchase.paymentID, amount: purchase.amount)
                            .json()["outcome"] as? String
                        answered.add()
                        return outcome
                    }
                }
                group.addTask {
                    while answered.value < 10 { try await Task.sleep(for: .milliseconds(1)) }
                    #expect(try await staff.request(.post, "/admin/showtimes/\(showtime.id)/cancel", as: admin).status == .ok)
                    return nil
                }
                return try await group.reduce(into: [String]()) { if let outcome = $1 { $0.append(outcome) } }
            }
            #expect(outcomes.count == 50)
            #expect(Set(outcomes) == ["confirmed", "showtime_cancelled"], "the cancel landed among the callbacks: \(Set(outcomes))")
            // Confirmed before the cancel and then refunded by it, or refused and refunded: never sold.
            #expect(try await Self.count(app, "SELECT count(*) FROM bookings WHERE status <> 'cancelled'") == 0)
            #expect(try await Self.count(app, "SELECT count(*) FROM showtime_seats WHERE status = 'sold'") == 0)
            #expect(try await Self.count(app, """
                SELECT count(*) FROM payments p WHERE p.status = 'succeeded'
                  AND (SELECT coalesce(sum(amount_minor), 0) FROM refunds r WHERE r.payment_id = p.id) = p.amount_minor
                """) == 50)
            #expect(try await Self.count(app, "SELECT count(*) FROM refunds WHERE reason <> 'showtime_cancelled'") == 0)
            try await CheckoutTests.expectInvariants(app)
        }
    }

    /// Two instances of the application over one database and one Redis.
    static func withTwoInstances(
        configureFirst: @escaping @Sendable (inout BoxOfficeSettings) -> Void = { _ in },
        configureSecond: @escaping @Sendable (inout BoxOfficeSettings) -> Void = { _ in },
        _ body: @Sendable (TestApp, TestApp) async throws -> Void
    ) async throws {
        try await TestServices.withDatabase { configuration in
            try await TestServices.withDependencies(postgres: configuration, configure: configureFirst) { first in
                try await TestServices.withDependencies(postgres: configuration, configure: configureSecond) { second in
                    let one = buildApplication(first, settings: TestServices.serverSettings, logger: Logger(label: "test.a"))
                    let other = buildApplication(second, settings: TestServices.serverSettings, logger: Logger(label: "test.b"))
                    try await one.test(.router) { oneClient in
                        try await other.test(.router) { otherClient in
                            try await body(TestApp(client: oneClient, dependencies: first), TestApp(client: otherClient, dependencies: second))
                        }
                    }
                }
            }
        }
    }

    @Test func aCancelThroughOneInstanceIsRefusedAtOnceByAnother() async throws {
        try await Self.withTwoInstances(configureSecond: Self.longCache) { a, b in
            let showtime = try await a.makeShowtime()
            let user = try await a.makeUser()
            // The other instance has the showtime in its layout cache, as scheduled.
            let early = try await b.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: Self.holdJSON([showtime.rows[0][0]]))
            #expect(early.status == .created)
            try await Self.cancel(a, showtime)
            let late = try await b.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: Self.holdJSON([showtime.rows[1][0]]))
            #expect(late.status == .gone)
            #expect(late.problemCode == "showtime_cancelled")
        }
    }

    @Test func aMoveIsRefusedWhileSeatsAreHeldAndAHoldTakenBeforeAMoveIsNotCheckedOut() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let (user, admin) = (try await app.makeUser(), try await app.makeUser(role: .admin))
            let held = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: Self.holdJSON([showtime.rows[0][2]]))
            let holdID = try #require(try held.json()["id"] as? String)
            let later = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3 * 86_400))
            let move = try await app.request(.put, "/admin/showtimes/\(showtime.id)", as: admin, json: "{\"starts_at\": \"\(later)\"}")
            #expect(move.status == .conflict)
            #expect(move.problemCode == "showtime_has_holds")

            // A move that another instance committed before this hold's instance saw it: the
            // hold records the start it was shown, and its checkout refuses the new time.
            try await app.dependencies.postgres.query("""
                UPDATE showtimes SET starts_at = starts_at + interval '1 day', ends_at = ends_at + interval '1 day' WHERE id = \(showtime.id)
                """)
            let checkout = try await app.request(.post, "/holds/\(holdID)/checkout", as: user)
            #expect(checkout.status == .conflict)
            #expect(checkout.problemCode == "showtime_moved")
            #expect(try await Self.count(app, "SELECT (SELECT count(*) FROM bookings) + (SELECT count(*) FROM payments)") == 0)

            #expect(try await app.request(.delete, "/holds/\(holdID)", as: user).status == .noContent)
            let moved = try await app.request(.put, "/admin/showtimes/\(showtime.id)", as: admin, json: "{\"starts_at\": \"\(later)\"}")
            #expect(moved.status == .ok)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aSaleWhoseProcessDiesBeforeRedisIsToldIsShownSoldByTheNextProcessWithinASecond() async throws {
        try await TestServices.withDatabase { configuration in
            // The first process stops for good between the sale's commit and telling Redis.
            let stopped = Mutex(false)
            try await TestServices.withDependencies(postgres: configuration, configure: { settings in
                settings.afterSaleCommit = {
                    stopped.withLock { $0 = true }
                    try? await Task.sleep(for: .seconds(3600))
                }
                settings.availabilityRepairAfter = .seconds(3600)  // its own sweep must not repair it
            }) { first in
                let dying = buildApplication(first, settings: TestServices.serverSettings, logger: Logger(label: "test.dying"))
                try await dying.test(.router) { client in
                    let app = TestApp(client: client, dependencies: first)
                    let showtime = try await app.makeShowtime()
                    let user = try await app.makeUser()
                    let seats = Array(showtime.rows[1][2...3])
                    let purchase = try await CheckoutTests.checkOut(app, showtime, seats, as: user)
                    let callback = Task { try await CheckoutTests.callback(app, payment: purchase.paymentID, amount: purchase.amount) }
                    while !stopped.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
                    #expect(try await Self.count(app, "SELECT count(*) FROM showtime_seats WHERE status = 'sold'") == 2)
                    // Redis never heard: its hold lapses as an expired one would, and the seats look free.
                    await first.holds.releaseAny(showtimeID: showtime.id, holdID: purchase.holdID)
                    #expect(try await CheckoutTests.seatStatuses(app, showtime)[seats[0]] == "available")

                    // The next process: its outbox worker's first pass rebuilds the showtime.
                    try await TestServices.withDependencies(postgres: configuration) { second in
                        let worker = AvailabilityOutboxWorker(holds: second.holds, logger: Logger(label: "test.outbox"))
                        let started = ContinuousClock.now
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask { try await worker.run() }
                            let next = buildApplication(second, settings: TestServices.serverSettings, logger: Logger(label: "test.next"))
                            try await next.test(.router) { nextClient in
                                let b = TestApp(client: nextClient, dependencies: second)
                                var statuses: [Int: String] = [:]
                                while ContinuousClock.now - started < .seconds(1) {
                                    statuses = try await CheckoutTests.seatStatuses(b, showtime)
                                    if statuses[seats[0]] == "sold" { break }
                                    try await Task.sleep(for: .milliseconds(50))
                                }
                                #expect(statuses[seats[0]] == "sold" && statuses[seats[1]] == "sold", "shown sold within a second")
                                let other = try await b.makeUser()
                                let taken = try await b.request(.post, "/showtimes/\(showtime.id)/holds", as: other, json: Self.holdJSON([seats[0]]))
                                #expect(taken.status == .conflict)
                                #expect(taken.problemCode == "seats_taken")
                            }
                            group.cancelAll()
                        }
                        #expect(try await Self.count(app, "SELECT count(*) FROM availability_outbox") == 0)
                    }
                    callback.cancel()
                    try await CheckoutTests.expectInvariants(app)
                }
            }
        }
    }

    @Test func aCheckoutThatFindsSeatsSoldRepairsTheCacheOnTheSpot() async throws {
        try await TestServices.withDatabase { configuration in
            try await TestServices.withDependencies(postgres: configuration, configure: { settings in
                settings.afterSaleCommit = { try? await Task.sleep(for: .seconds(3600)) }
                settings.availabilityRepairAfter = .seconds(3600)  // only the checkout may repair it
            }) { dependencies in
                let application = buildApplication(dependencies, settings: TestServices.serverSettings, logger: Logger(label: "test"))
                try await application.test(.router) { client in
                    let app = TestApp(client: client, dependencies: dependencies)
                    let showtime = try await app.makeShowtime()
                    let seat = showtime.rows[0][5]
                    let purchase = try await CheckoutTests.checkOut(app, showtime, [seat], as: try await app.makeUser())
                    let callback = Task { try await CheckoutTests.callback(app, payment: purchase.paymentID, amount: purchase.amount) }
                    while try await Self.count(app, "SELECT count(*) FROM showtime_seats WHERE status = 'sold'") == 0 {
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    await dependencies.holds.releaseAny(showtimeID: showtime.id, holdID: purchase.holdID)
                    // Redis offers the sold seat; a hold on it succeeds, and its checkout learns the truth.
                    let other = try await app.makeUser()
                    let held = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: other, json: Self.holdJSON([seat]))
                    #expect(held.status == .created)
                    let holdID = try #require(try held.json()["id"] as? String)
                    let checkout = try await app.request(.post, "/holds/\(holdID)/checkout", as: other)
                    #expect(checkout.problemCode == "seats_sold")
                    #expect(try await CheckoutTests.seatStatuses(app, showtime)[seat] == "sold", "repaired without any sweep")
                    callback.cancel()
                }
            }
        }
    }
}

/// A count that concurrent tasks share.
final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func add() { count.withLock { $0 += 1 } }
}
