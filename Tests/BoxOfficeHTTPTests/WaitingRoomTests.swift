@testable import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RedisClient
import Testing

/// The waiting room in front of an on-sale, through the HTTP API on a real Redis (and, in the
/// second run of this target, the Redis Cluster). Admission steps are taken by hand here, as
/// each instance's admitter (running beside the tests too) takes them every 200 ms.
@Suite struct WaitingRoomTests {
    /// A showtime with a waiting room (`always` unless told), on sale since a second ago unless
    /// `opensIn` says when.
    static func showtimeWithRoom(
        _ app: TestApp, opensIn: TimeInterval = -1, mode: String = "always", rows: Int = 3, seatsPerRow: Int = 6
    ) async throws -> (ShowtimeFixture, TestApp.User) {
        let showtime = try await app.makeShowtime(rows: rows, seatsPerRow: seatsPerRow)
        let admin = try await app.makeUser(role: .admin)
        let opening = SchedulingTime.format(Date().addingTimeInterval(opensIn))
        let set = try await app.request(.put, "/admin/showtimes/\(showtime.id)", as: admin,
                                        json: #"{"sale_opens_at": "\#(opening)", "waiting_room": "\#(mode)"}"#)
        #expect(set.status == .ok)
        return (showtime, admin)
    }

    static func join(_ app: TestApp, _ showtimeID: Int, as user: TestApp.User) async throws -> [String: Any] {
        let joined = try await app.request(.post, "/showtimes/\(showtimeID)/queue", as: user)
        #expect(joined.status == .created || joined.status == .ok, "\(joined.status) \(String(buffer: joined.body))")
        return try joined.json()
    }

    static func status(_ app: TestApp, _ ticket: String, as user: TestApp.User) async throws -> [String: Any] {
        try await app.request(.get, "/queue/\(ticket)", as: user).json()
    }

    static func step(_ app: TestApp, _ showtimeID: Int) async throws {
        _ = try await app.dependencies.waitingRoom.step(showtimeID: showtimeID)
    }

    static func hold(_ app: TestApp, _ showtimeID: Int, seat: Int, as user: TestApp.User, pass: String?) async throws -> TestResponse {
        var headers = HTTPFields()
        if let pass { headers[HTTPField.Name("Queue-Pass")!] = pass }
        return try await app.request(.post, "/showtimes/\(showtimeID)/holds", as: user, json: "{\"seat_ids\": [\(seat)]}", headers: headers)
    }

    @Test func whileTheRoomIsOnOnlyAnAdmittedShopperWithTheirOwnPassMayHold() async throws {
        try await TestApp.run { app in
            let (showtime, _) = try await Self.showtimeWithRoom(app)
            let alice = try await app.makeUser()
            let bob = try await app.makeUser()
            let seat = showtime.rows[1][0]

            let direct = try await Self.hold(app, showtime.id, seat: seat, as: alice, pass: nil)
            #expect(direct.status == .forbidden)
            #expect(direct.problemCode == "queue_pass_required")

            let ticket = try #require(try await Self.join(app, showtime.id, as: alice)["ticket"] as? String)
            try await Self.step(app, showtime.id)
            let admitted = try await Self.status(app, ticket, as: alice)
            #expect(admitted["status"] as? String == "admitted")
            let pass = try #require(admitted["queue_pass"] as? String)

            let borrowed = try await Self.hold(app, showtime.id, seat: seat, as: bob, pass: pass)
            #expect(borrowed.status == .forbidden, "a pass is bound to its account")
            #expect(borrowed.problemCode == "queue_pass_required")
            let forged = try await Self.hold(app, showtime.id, seat: seat, as: alice, pass: pass.dropLast(2) + "AA")
            #expect(forged.status == .forbidden)
            let other = try await app.makeShowtime()
            let elsewhere = try await Self.hold(app, other.id, seat: other.rows[0][0], as: alice, pass: pass)
            #expect(elsewhere.status == .created, "a showtime without a room needs no pass")

            let held = try await Self.hold(app, showtime.id, seat: seat, as: alice, pass: pass)
            #expect(held.status == .created)

            // Leaving ends the turn: the pass no longer holds anything.
            #expect(try await app.request(.delete, "/queue/\(ticket)", as: alice).status == .noContent)
            #expect(try await Self.status(app, ticket, as: alice)["status"] as? String == "left")
            let after = try await Self.hold(app, showtime.id, seat: showtime.rows[1][1], as: alice, pass: pass)
            #expect(after.status == .forbidden)
        }
    }

    @Test func oneTicketPerAccountAndNobodyElseSeesIt() async throws {
        try await TestApp.run { app in
            let (showtime, _) = try await Self.showtimeWithRoom(app, opensIn: 3600)
            let alice = try await app.makeUser()
            let first = try await app.request(.post, "/showtimes/\(showtime.id)/queue", as: alice)
            #expect(first.status == .created)
            let again = try await app.request(.post, "/showtimes/\(showtime.id)/queue", as: alice)
            #expect(again.status == .ok)
            let ticket = try #require(try first.json()["ticket"] as? String)
            #expect(try again.json()["ticket"] as? String == ticket)

            let bob = try await app.makeUser()
            let peek = try await app.request(.get, "/queue/\(ticket)", as: bob)
            #expect(peek.status == .notFound)
            #expect(peek.problemCode == "queue_ticket_not_found")
            #expect(try await app.request(.delete, "/queue/\(ticket)", as: bob).status == .notFound)
            #expect(try await app.request(.get, "/queue/\(ticket)").status == .unauthorized)

            // Before the opening: waiting, the place not told yet; holds are not on sale.
            let early = try await Self.status(app, ticket, as: alice)
            #expect(early["status"] as? String == "waiting")
            #expect(early["position"] is NSNull)
            #expect(early["waiting"] as? Int == 1)
            let hold = try await Self.hold(app, showtime.id, seat: showtime.rows[0][0], as: alice, pass: nil)
            #expect(hold.problemCode == "sale_not_open")
        }
    }

    @Test func earlyArrivalsGoFirstInARandomOrderThenLaterOnesInArrivalOrder() async throws {
        try await TestApp.run(configure: { $0.queueJoinsPerAddressPerSecond = 1000 }) { app in
            let (showtime, admin) = try await Self.showtimeWithRoom(app, opensIn: 3600)
            // Nobody is admitted meanwhile (this instance's admitter runs too): places stay as drawn.
            _ = try await app.request(.put, "/admin/showtimes/\(showtime.id)/queue", as: admin, json: #"{"paused": true}"#)
            var early: [(TestApp.User, String)] = []
            for _ in 0..<60 {
                let user = try await app.makeUser()
                early.append((user, try #require(try await Self.join(app, showtime.id, as: user)["ticket"] as? String)))
            }
            let opened = try await app.request(.put, "/admin/showtimes/\(showtime.id)", as: admin,
                                               json: #"{"sale_opens_at": "\#(SchedulingTime.format(Date().addingTimeInterval(-1)))"}"#)
            #expect(opened.status == .ok, "\(String(buffer: opened.body))")
            var late: [(TestApp.User, String)] = []
            for _ in 0..<5 {
                let user = try await app.makeUser()
                late.append((user, try #require(try await Self.join(app, showtime.id, as: user)["ticket"] as? String)))
            }
            var positions: [Int] = []
            for (user, ticket) in early + late {
                let status = try await Self.status(app, ticket, as: user)
                positions.append(try #require(status["position"] as? Int, "\(status)"))
                #expect(status["estimated_wait_seconds"] is NSNull, "paused: nobody can say")
            }
            #expect(Set(positions) == Set(1...65), "every place once")
            #expect(Array(positions.suffix(5)) == Array(61...65), "later arrivals in arrival order, behind the early ones")
            // The early ones' order is drawn: arrival rank and place are uncorrelated. For 60
            // independent uniform draws Kendall's tau has a standard deviation of about 0.09.
            let tau = Self.kendallTau(Array(positions.prefix(60)))
            #expect(abs(tau) < 0.4, "tau \(tau)")
            #expect(positions.prefix(60) != Array(1...60)[...], "not arrival order")
            _ = try await app.request(.put, "/admin/showtimes/\(showtime.id)/queue", as: admin, json: #"{"paused": false}"#)
            let last = try await Self.status(app, late[4].1, as: late[4].0)
            let wait = try #require(last["estimated_wait_seconds"] as? Int, "\(last)")
            #expect(wait >= 1, "65 ahead at up to 50 a second")
        }
    }

    @Test func admissionKeepsTheActiveShoppersUnderTheLimitAndPausesOnRequest() async throws {
        try await TestApp.run { app in
            let (showtime, admin) = try await Self.showtimeWithRoom(app)
            let set = try await app.request(.put, "/admin/showtimes/\(showtime.id)/queue", as: admin, json: #"{"max_active": 2}"#)
            #expect(set.status == .ok)
            #expect(try set.json()["max_active"] as? Int == 2)
            var people: [(TestApp.User, String)] = []
            for _ in 0..<4 {
                let user = try await app.makeUser()
                people.append((user, try #require(try await Self.join(app, showtime.id, as: user)["ticket"] as? String)))
            }
            try await Self.step(app, showtime.id)
            var states = try await people.asyncMap { try await Self.status(app, $0.1, as: $0.0)["status"] as? String }
            #expect(states == ["admitted", "admitted", "waiting", "waiting"])
            #expect(try await Self.status(app, people[2].1, as: people[2].0)["position"] as? Int == 1)

            // One books: the next person's turn (once admission resumes).
            #expect(try await app.request(.put, "/admin/showtimes/\(showtime.id)/queue", as: admin, json: #"{"paused": true}"#).status == .ok)
            let pass = try #require(try await Self.status(app, people[0].1, as: people[0].0)["queue_pass"] as? String)
            let hold = try await Self.hold(app, showtime.id, seat: showtime.rows[0][0], as: people[0].0, pass: pass)
            let holdID = try #require(try hold.json()["id"] as? String)
            #expect(try await app.request(.post, "/holds/\(holdID)/checkout", as: people[0].0).status == .created)
            try await Self.step(app, showtime.id)
            states = try await people.asyncMap { try await Self.status(app, $0.1, as: $0.0)["status"] as? String }
            #expect(states == ["done", "admitted", "waiting", "waiting"], "paused: nobody new")
            let figures = try await app.request(.get, "/admin/showtimes/\(showtime.id)/queue", as: admin).json()
            #expect(figures["paused"] as? Bool == true)
            #expect(figures["waiting"] as? Int == 2)
            #expect(figures["active"] as? Int == 1)

            _ = try await app.request(.put, "/admin/showtimes/\(showtime.id)/queue", as: admin, json: #"{"paused": false}"#)
            try await Self.step(app, showtime.id)
            states = try await people.asyncMap { try await Self.status(app, $0.1, as: $0.0)["status"] as? String }
            #expect(states == ["done", "admitted", "admitted", "waiting"])

            let user = try await app.makeUser()
            #expect(try await app.request(.get, "/admin/showtimes/\(showtime.id)/queue", as: user).status == .forbidden)
            #expect(try await app.request(.put, "/admin/showtimes/\(showtime.id)/queue", as: admin, json: #"{"max_active": 0}"#).status
                == .unprocessableContent)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aWaitingPersonsStreamTellsTheirPlaceThenTheirTurnWithAPassAndEnds() async throws {
        try await TestApp.run(.live) { app in
            let port = try #require(app.client.port)
            let (showtime, admin) = try await Self.showtimeWithRoom(app)
            #expect(try await app.request(.put, "/admin/showtimes/\(showtime.id)/queue", as: admin, json: #"{"max_active": 1}"#).status == .ok)
            let alice = try await app.makeUser()
            let bob = try await app.makeUser()
            let first = try #require(try await Self.join(app, showtime.id, as: alice)["ticket"] as? String)
            try await Self.step(app, showtime.id)
            #expect(try await Self.status(app, first, as: alice)["status"] as? String == "admitted")
            let ticket = try #require(try await Self.join(app, showtime.id, as: bob)["ticket"] as? String)

            #expect(try await app.request(.get, "/queue/\(ticket)/events", as: alice).status == .notFound, "nobody else's stream")
            #expect(try await app.request(.get, "/queue/\(ticket)/events").status == .unauthorized)

            let headers = ["Authorization: Bearer \(bob.token)", "Connection: close"]
            try await LiveStreamTests.withEventStream(port: port, path: "/queue/\(ticket)/events", headers: headers) { events in
                let now = try #require(try await events.next())
                #expect(now.name == "ticket")
                #expect(now.json["status"] as? String == "waiting")
                #expect(now.json["position"] as? Int == 1)

                // Alice's turn ends: the room admits Bob and his stream says so, with his pass,
                // without his polling. (The step by hand: on the shared Redis Cluster, parallel
                // tests' admitters drop rooms whose showtimes their databases lack.)
                #expect(try await app.request(.delete, "/queue/\(first)", as: alice).status == .noContent)
                try await Self.step(app, showtime.id)
                var turn = try #require(try await events.next())
                while turn.json["status"] as? String == "waiting" { turn = try #require(try await events.next()) }
                #expect(turn.json["status"] as? String == "admitted")
                let pass = try #require(turn.json["queue_pass"] as? String)
                #expect(try await events.next() == nil, "the stream ends with the turn")
                let metrics = String(buffer: try await app.request(.get, "/metrics").body)
                #expect(metrics.contains("queue_streams_open") && metrics.contains("queue_stream_updates_total"))
                #expect(try await Self.hold(app, showtime.id, seat: showtime.rows[0][0], as: bob, pass: pass).status == .created)
            }
        }
    }

    @Test func withNoSeatLeftAndNoneHeldEveryoneWaitingIsToldSoldOutUntilSeatsComeBack() async throws {
        try await TestApp.run { app in
            let (showtime, _) = try await Self.showtimeWithRoom(app, rows: 1, seatsPerRow: 2)
            let redis = app.dependencies.redis
            let sold = ShowtimeKeys(showtimeID: showtime.id).sold
            let seats = showtime.rows[0].map(String.init)
            // As a load of the sold cache leaves it: the seats and its marker.
            _ = try await redis.send(RedisCommand<RedisReply>(["SADD", sold, "loaded"] + seats))
            let user = try await app.makeUser()
            let ticket = try #require(try await Self.join(app, showtime.id, as: user)["ticket"] as? String)
            try await Self.step(app, showtime.id)
            #expect(try await Self.status(app, ticket, as: user)["status"] as? String == "sold_out")
            _ = try await redis.send(RedisCommand<RedisReply>(["SREM", sold, seats[0]]))  // a refund frees a seat
            try await Self.step(app, showtime.id)
            #expect(try await Self.status(app, ticket, as: user)["status"] as? String == "admitted")
        }
    }

    @Test func joinsFromOneAddressAreLimitedPerSecond() async throws {
        try await TestApp.run(configure: { $0.queueJoinsPerAddressPerSecond = 2 }) { app in
            let (showtime, _) = try await Self.showtimeWithRoom(app, opensIn: 3600)
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<3 {
                statuses.append(try await app.request(.post, "/showtimes/\(showtime.id)/queue", as: try await app.makeUser()).status)
            }
            #expect(statuses.prefix(2).allSatisfy { $0 == .created })
            #expect(statuses.last == .tooManyRequests)
        }
    }

    @Test func aShowtimeWithoutARoomHasNoQueueAndHoldsNeedNoPass() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let joined = try await app.request(.post, "/showtimes/\(showtime.id)/queue", as: user)
            #expect(joined.status == .conflict)
            #expect(joined.problemCode == "waiting_room_off")
            #expect(try await Self.hold(app, showtime.id, seat: showtime.rows[0][0], as: user, pass: nil).status == .created)
        }
    }

    @Test func anAutomaticRoomAdmitsAtOnceWhileNobodyWaits() async throws {
        try await TestApp.run { app in
            let (showtime, admin) = try await Self.showtimeWithRoom(app, mode: "automatic")
            _ = try await app.request(.put, "/admin/showtimes/\(showtime.id)/queue", as: admin, json: #"{"max_active": 1}"#)
            let first = try await app.makeUser()
            let second = try await app.makeUser()
            #expect(try await Self.join(app, showtime.id, as: first)["status"] as? String == "admitted")
            #expect(try await Self.join(app, showtime.id, as: second)["status"] as? String == "waiting", "the limit is reached: the room engages")
        }
    }

    @Test func anAutomaticRoomEngagesWhenArrivalsOutrunTheAdmissionRate() async throws {
        try await TestApp.run { app in
            let (showtime, admin) = try await Self.showtimeWithRoom(app, mode: "automatic")
            _ = try await app.request(.put, "/admin/showtimes/\(showtime.id)/queue", as: admin, json: #"{"admissions_per_second": 2}"#)
            var statuses: [String] = []
            for _ in 0..<4 {
                let person = try await app.makeUser()
                statuses.append(try await Self.join(app, showtime.id, as: person)["status"] as? String ?? "?")
            }
            // Seats enough for everyone, but two a second: the third and fourth in the same
            // moment wait their turn.
            #expect(statuses.prefix(2) == ["admitted", "admitted"])
            #expect(statuses.last == "waiting")
        }
    }

    /// Should Redis lose a room, tickets are unknown and people join again; sales are untouched.
    @Test func aRoomRedisLostIsJoinedAgain() async throws {
        try await TestApp.run { app in
            let (showtime, _) = try await Self.showtimeWithRoom(app)
            let user = try await app.makeUser()
            let ticket = try #require(try await Self.join(app, showtime.id, as: user)["ticket"] as? String)
            let keys = QueueKeys(showtimeID: showtime.id)
            _ = try await app.dependencies.redis.send(RedisCommand<RedisReply>(
                ["DEL", keys.waiting, keys.active, keys.owners, keys.users, keys.states, keys.admittedAt, keys.meta]
            ))
            let lost = try await app.request(.get, "/queue/\(ticket)", as: user)
            #expect(lost.status == .notFound)
            #expect(lost.problemCode == "queue_ticket_not_found")
            let again = try await app.request(.post, "/showtimes/\(showtime.id)/queue", as: user)
            #expect(again.status == .created)
            #expect(try again.json()["ticket"] as? String != ticket)
        }
    }

    /// Kendall's tau between arrival order (the indices) and `ranks`.
    static func kendallTau(_ ranks: [Int]) -> Double {
        var concordant = 0, discordant = 0
        for i in ranks.indices {
            for j in ranks.indices where j > i {
                if ranks[j] > ranks[i] { concordant += 1 } else { discordant += 1 }
            }
        }
        return Double(concordant - discordant) / Double(concordant + discordant)
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
