import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresClient
import Testing

/// Notifications through webhooks, to a real HTTP receiver on a real socket.
@Suite struct WebhookTests {
    static let secret = "receiver-secret-0123456789"

    /// What the receiver saw: each request's event id, type, body, whether its signature was
    /// right, when it came, and what it answered.
    actor Receiver {
        struct Request: Sendable {
            var eventID: String
            var type: String
            var text: String
            var signed: Bool
            var at: ContinuousClock.Instant
            var answered: Int

            var body: [String: Any] {
                (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
            }
        }

        private(set) var requests: [Request] = []
        /// Attempts to refuse (503) per event before accepting; -1: refuse forever.
        let refusals: Int

        init(refusals: Int) {
            self.refusals = refusals
        }

        func receive(eventID: String, type: String, text: String, signed: Bool) -> Int {
            let earlier = requests.filter { $0.eventID == eventID }.count
            let answer = refusals < 0 || earlier < refusals ? 503 : 200
            requests.append(Request(eventID: eventID, type: type, text: text, signed: signed, at: .now, answered: answer))
            return answer
        }

        /// Distinct events accepted.
        var accepted: [Request] { requests.filter { $0.answered == 200 } }

        private(set) var slowSince: ContinuousClock.Instant?
        func slowStarted() { slowSince = slowSince ?? .now }
    }

    /// Runs `body` with a receiver listening on a loopback port: `/hook` checks signatures and
    /// answers as `receiver` says; `/moved` answers 302 to `/hook`.
    static func withReceiver(refusals: Int, _ body: @escaping @Sendable (Receiver, String) async throws -> Void) async throws {
        let receiver = Receiver(refusals: refusals)
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let bytes = Array(try await request.body.collect(upTo: 1 << 20).readableBytesView)
            let signed = (try? PaymentSignature(secret: secret).verify(request.headers[HTTPField.Name(PaymentSignature.headerName)!], body: bytes)) != nil
            let status = await receiver.receive(
                eventID: request.headers[HTTPField.Name("BoxOffice-Event-Id")!] ?? "",
                type: request.headers[HTTPField.Name("BoxOffice-Event-Type")!] ?? "",
                text: String(decoding: bytes, as: UTF8.self), signed: signed
            )
            return Response(status: .init(code: status))
        }
        router.post("/moved") { _, _ in
            Response(status: .found, headers: [.location: "/hook"])
        }
        // Answers only after the deliverer's deadline: a receiver that hangs.
        router.post("/slow") { request, _ -> Response in
            await receiver.slowStarted()
            try? await Task.sleep(for: .seconds(4))
            return Response(status: .ok)
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            try await body(receiver, "http://127.0.0.1:\(try #require(client.port))")
        }
    }

    static func configure(_ settings: inout BoxOfficeSettings) {
        settings.webhooksAllowPrivateTargets = true
        settings.webhookTimeout = .seconds(2)
        settings.webhookDelivery = DeliveryPolicy(firstWait: .seconds(1), longestWait: .seconds(8), maxAttempts: 3)
    }

    static func register(_ app: TestApp, url: String, events: [String]) async throws -> String {
        let admin = try await app.makeUser(role: .admin)
        let created = try await app.request(.post, "/admin/webhooks", as: admin, json: """
            {"url": "\(url)", "events": [\(events.map { "\"\($0)\"" }.joined(separator: ","))], "secret": "\(secret)"}
            """)
        #expect(created.status == .created, "\(String(buffer: created.body))")
        return try #require(try created.json()["id"] as? String)
    }

    static func waitUntil(_ what: String, seconds: Double = 15, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("waited \(seconds) s for \(what)")
    }

    @Test(.timeLimit(.minutes(1)))
    func aConfirmedBookingReachesItsWebhookSignedAndRetriedWithGrowingWaitsUntilAccepted() async throws {
        try await Self.withReceiver(refusals: 2) { receiver, base in
            try await TestApp.run(configure: Self.configure) { app in
                let webhook = try await Self.register(app, url: base + "/hook", events: ["booking.confirmed"])
                let showtime = try await app.makeShowtime()
                let user = try await app.makeUser()
                let purchase = try await CheckoutTests.checkOut(app, showtime, Array(showtime.rows[1][0...1]), as: user)
                try await CheckoutTests.callback(app, payment: purchase.paymentID, amount: purchase.amount)
                try await Self.waitUntil("the delivery to be accepted") { await !receiver.accepted.isEmpty }

                let requests = await receiver.requests
                #expect(requests.count == 3, "two refusals, then accepted")
                #expect(Set(requests.map(\.eventID)).count == 1, "one event, retried under its id")
                #expect(requests.allSatisfy { $0.signed })
                #expect(requests.allSatisfy { $0.type == "booking.confirmed" })
                let gaps = zip(requests.dropFirst(), requests).map { $0.at - $1.at }
                #expect(gaps[1] > gaps[0], "the wait grows: \(gaps)")
                let data = try #require(requests.last?.body["data"] as? [String: Any])
                let booking = try await app.request(.get, "/bookings/\(purchase.bookingID)", as: user).json()
                #expect(data["booking_id"] as? String == purchase.bookingID)
                #expect(data["ticket_code"] as? String == booking["ticket_code"] as? String)
                #expect(data["seat_ids"] as? [Int] == Array(showtime.rows[1][0...1]))

                let admin = try await app.makeUser(role: .admin)
                let deliveries = try await app.request(.get, "/admin/webhooks/\(webhook)/deliveries", as: admin).json()
                let item = try #require((deliveries["items"] as? [[String: Any]])?.first)
                #expect(item["status"] as? String == "delivered")
                #expect(item["attempts"] as? Int == 3)
                #expect(item["last_status"] as? Int == 200)
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aReceiverThatNeverAcceptsEndsDeadAfterTheLastAttemptAndARedirectIsNotFollowed() async throws {
        try await Self.withReceiver(refusals: -1) { receiver, base in
            try await TestApp.run(configure: Self.configure) { app in
                let refusing = try await Self.register(app, url: base + "/hook", events: ["showtime.cancelled"])
                let moved = try await Self.register(app, url: base + "/moved", events: ["showtime.cancelled"])
                let showtime = try await app.makeShowtime()
                let admin = try await app.makeUser(role: .admin)
                #expect(try await app.request(.post, "/admin/showtimes/\(showtime.id)/cancel", as: admin).status == .ok)
                func status(_ webhook: String) async throws -> [String: Any]? {
                    let list = try await app.request(.get, "/admin/webhooks/\(webhook)/deliveries", as: admin).json()
                    return (list["items"] as? [[String: Any]])?.first
                }
                try await Self.waitUntil("both deliveries to be given up") {
                    let first = try await status(refusing)?["status"] as? String
                    let second = try await status(moved)?["status"] as? String
                    return first == "dead" && second == "dead"
                }
                #expect(try await status(refusing)?["attempts"] as? Int == 3)
                #expect(try await status(moved)?["last_status"] as? Int == 302, "a redirect is a failure, never followed")
                #expect(await receiver.requests.count == 3, "only the refusing hook's attempts reached /hook")
            }
        }
    }

    /// A receiver that hangs holds up only its own deliveries: another's arrive meanwhile.
    @Test(.timeLimit(.minutes(1)))
    func aSlowReceiverHoldsUpNobodyElse() async throws {
        try await Self.withReceiver(refusals: 0) { receiver, base in
            try await TestApp.run(configure: Self.configure) { app in
                _ = try await Self.register(app, url: base + "/slow", events: ["showtime.cancelled"])
                _ = try await Self.register(app, url: base + "/hook", events: ["showtime.cancelled"])
                let admin = try await app.makeUser(role: .admin)
                func cancelAShowtime() async throws {
                    let showtime = try await app.makeShowtime()
                    #expect(try await app.request(.post, "/admin/showtimes/\(showtime.id)/cancel", as: admin).status == .ok)
                }
                try await cancelAShowtime()
                try await Self.waitUntil("the slow receiver to be called") { await receiver.slowSince != nil }
                // While it hangs, two more events.
                try await cancelAShowtime()
                try await cancelAShowtime()
                try await Self.waitUntil("the quick receiver's three deliveries") { await receiver.accepted.count == 3 }
                let slowSince = try #require(await receiver.slowSince)
                let last = try #require(await receiver.accepted.last?.at)
                #expect(last - slowSince < .seconds(2), "delivered while the slow receiver still hung (its deadline is 2 s)")
            }
        }
    }

    /// A worker that claimed a delivery and died before sending it: the delivery is due again
    /// when its lease ends, and the next worker sends it.
    @Test(.timeLimit(.minutes(1)))
    func aDeliveryWhoseWorkerDiedIsSentByAnotherWhenItsLeaseEnds() async throws {
        try await Self.withReceiver(refusals: 0) { receiver, base in
            try await TestApp.run(configure: Self.configure) { app in
                _ = try await Self.register(app, url: base + "/hook", events: ["showtime.cancelled"])
                let showtime = try await app.makeShowtime()
                // The event and its delivery, committed; claimed at once by a worker that then dies.
                let dead = NotificationStore(postgres: app.dependencies.postgres)
                try await app.dependencies.postgres.query("""
                    SELECT notify_event('showtime.cancelled', jsonb_build_object('showtime_id', \(showtime.id)))
                    """)
                var claimed: [DueDelivery] = []
                try await Self.waitUntil("the claim") {
                    claimed = try await dead.claim(limit: 10, lease: .seconds(2))
                    return !claimed.isEmpty
                }
                try await Task.sleep(for: .seconds(1))
                #expect(await receiver.requests.isEmpty, "leased: the live worker leaves it alone")
                try await Self.waitUntil("the delivery after the lease") { await receiver.accepted.count == 1 }
                #expect(await receiver.requests.first?.eventID == claimed.first?.eventID.uuidString.lowercased())
            }
        }
    }

    @Test func webhooksMayNotPointAtPrivateAddressesAndNameKnownEvents() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            for (url, code) in [("http://127.0.0.1:9/x", "webhook_target_private"), ("http://localhost/x", "webhook_target_private"),
                                ("http://[::1]/x", "webhook_target_private"), ("http://10.1.2.3/x", "webhook_target_private"),
                                ("http://169.254.169.254/latest", "webhook_target_private"), ("ftp://example.com/x", "validation_failed")] {
                let refused = try await app.request(.post, "/admin/webhooks", as: admin,
                                                    json: #"{"url": "\#(url)", "events": ["booking.confirmed"]}"#)
                #expect(refused.status == .unprocessableContent, "\(url)")
                #expect(refused.problemCode == code, "\(url)")
            }
            let unknown = try await app.request(.post, "/admin/webhooks", as: admin,
                                                json: #"{"url": "https://example.com/x", "events": ["booking.exploded"]}"#)
            #expect(unknown.status == .unprocessableContent)
            let created = try await app.request(.post, "/admin/webhooks", as: admin,
                                                json: #"{"url": "https://example.com/x", "events": ["refund.recorded"]}"#)
            #expect(created.status == .created)
            #expect((try created.json()["secret"] as? String)?.count == 64, "a secret made for it, shown once")
            let listed = try await app.request(.get, "/admin/webhooks", as: admin).json()["items"] as? [[String: Any]]
            #expect(listed?.count == 1)
            #expect(listed?.first?["secret"] == nil)
            let user = try await app.makeUser()
            #expect(try await app.request(.get, "/admin/webhooks", as: user).status == .forbidden)
            let id = try #require(try created.json()["id"] as? String)
            #expect(try await app.request(.delete, "/admin/webhooks/\(id)", as: admin).status == .noContent)
            #expect(try await app.request(.delete, "/admin/webhooks/\(id)", as: admin).status == .notFound)
        }
    }

    /// The events are written by the transactions that cause them, whatever the path.
    @Test func cancellationsRefundsAndANearlySoldOutShowtimeAreEachRecordedOnce() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime(rows: 2, seatsPerRow: 5)
            let user = try await app.makeUser()
            let seats = Array(showtime.rows.joined())
            // 8 of 10 seats: not yet 90%.
            for pair in stride(from: 0, to: 8, by: 2) {
                let purchase = try await CheckoutTests.checkOut(app, showtime, Array(seats[pair...pair + 1]), as: try await app.makeUser())
                try await CheckoutTests.callback(app, payment: purchase.paymentID, amount: purchase.amount)
            }
            func count(_ type: String) async throws -> Int {
                try await app.dependencies.postgres.query(
                    "SELECT count(*) AS n FROM notification_events WHERE type = \(type) AND payload->>'showtime_id' = \(String(showtime.id))"
                ).first!.decode(Int.self, column: "n")
            }
            #expect(try await count("booking.confirmed") == 4)
            #expect(try await count("showtime.nearly_sold_out") == 0)
            let ninth = try await CheckoutTests.checkOut(app, showtime, [seats[8]], as: user)
            try await CheckoutTests.callback(app, payment: ninth.paymentID, amount: ninth.amount)
            let tenth = try await CheckoutTests.checkOut(app, showtime, [seats[9]], as: try await app.makeUser())
            try await CheckoutTests.callback(app, payment: tenth.paymentID, amount: tenth.amount)
            #expect(try await count("showtime.nearly_sold_out") == 1, "told once, at 90%")

            let admin = try await app.makeUser(role: .admin)
            #expect(try await app.request(.post, "/admin/showtimes/\(showtime.id)/cancel", as: admin).status == .ok)
            #expect(try await count("showtime.cancelled") == 1)
            #expect(try await count("booking.cancelled") == 6)
            let refunds = try await app.dependencies.postgres.query("""
                SELECT count(*) AS n FROM notification_events e JOIN bookings b ON b.id = (e.payload->>'booking_id')::uuid
                WHERE e.type = 'refund.recorded' AND b.showtime_id = \(showtime.id)
                """).first!.decode(Int.self, column: "n")
            #expect(refunds == 6)
        }
    }
}
