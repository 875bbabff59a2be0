import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import PostgresClient
import RedisClient
import Testing

/// Seat holds and seat maps through the HTTP API, against the real Redis and PostgreSQL.
@Suite struct HoldsTests {
    static func holdJSON(_ seats: [Int]) -> String { "{\"seat_ids\": \(seats)}" }

    static func statuses(_ response: TestResponse) throws -> [Int: String] {
        let seats = try response.json()["seats"] as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: seats.map { ($0["id"] as! Int, $0["status"] as! String) })
    }

    @Test func anonymousViewersShareOneRenderingForTheMaxAgeWhileSignedInViewersSeeChangesAtOnce() async throws {
        let maxAge = 3.0
        try await TestApp.run(configure: { $0.seatMapMaxAge = .seconds(maxAge) }) { app in
            let showtime = try await app.makeShowtime()
            let (alice, bob) = (try await app.makeUser(), try await app.makeUser())
            let seat = showtime.rows[1][1]
            let first = try await app.request(.get, "/showtimes/\(showtime.id)/seats")
            let sharedAt = Date()
            let etag = try #require(first.headers[.eTag])
            #expect(try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: alice, json: Self.holdJSON([seat])).status == .created)

            let anonymous = try await app.request(.get, "/showtimes/\(showtime.id)/seats")
            let revalidated = try await app.request(.get, "/showtimes/\(showtime.id)/seats", headers: [.ifNoneMatch: etag])
            if Date().timeIntervalSince(sharedAt) < maxAge {  // else the machine was too slow to tell
                #expect(try anonymous.headers[.eTag] == etag && Self.statuses(anonymous)[seat] == "available")
                #expect(revalidated.status == .notModified)
            }
            let signedIn = try await app.request(.get, "/showtimes/\(showtime.id)/seats", as: bob)
            #expect(try signedIn.headers[.eTag] != etag && Self.statuses(signedIn)[seat] == "held")
            let newer = try #require(signedIn.headers[.eTag])
            // A client that knows a newer version than the shared one is never sent back in time.
            #expect(try await app.request(.get, "/showtimes/\(showtime.id)/seats", headers: [.ifNoneMatch: newer]).status == .notModified)

            try await Task.sleep(for: .seconds(maxAge + 0.2))
            let later = try await app.request(.get, "/showtimes/\(showtime.id)/seats")
            #expect(try later.headers[.eTag] == newer && Self.statuses(later)[seat] == "held")
        }
    }

    @Test func theStatusesViewIsOneLetterPerSeatInTheFullMapsOrderAndSharesItsVersion() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let (alice, bob) = (try await app.makeUser(), try await app.makeUser())
            let (mine, theirs) = (showtime.rows[0][2], showtime.rows[1][3])
            #expect(try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: alice, json: Self.holdJSON([mine])).status == .created)
            #expect(try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: bob, json: Self.holdJSON([theirs])).status == .created)

            let full = try await app.request(.get, "/showtimes/\(showtime.id)/seats", as: alice)
            let compact = try await app.request(.get, "/showtimes/\(showtime.id)/seats?view=statuses", as: alice)
            #expect(compact.status == .ok && compact.headers[.eTag] == full.headers[.eTag])
            let body = try compact.json()
            let letters = try #require(body["statuses"] as? String)
            let seats = try full.json()["seats"] as? [[String: Any]] ?? []
            let expected = seats.map { seat -> Character in
                switch seat["status"] as? String {
                case "available": "a"
                case "held": "h"
                case "held_by_you": "y"
                default: "s"
                }
            }
            #expect(Array(letters) == expected && letters.count == showtime.allSeats.count)
            #expect(letters.filter { $0 == "y" }.count == 1 && letters.filter { $0 == "h" }.count == 1)
            #expect(body["showtime_id"] as? Int == showtime.id && body["seats"] == nil)
            #expect(body["version"] as? Int != nil && body["degraded"] as? Bool == false)

            // Anonymous viewers get the shared rendering's statuses: the other hold is `h`, none is `y`.
            let anonymous = try await app.request(.get, "/showtimes/\(showtime.id)/seats?view=statuses")
            let anonymousLetters = try #require(try anonymous.json()["statuses"] as? String)
            #expect(anonymousLetters.filter { $0 == "h" }.count == 2 && !anonymousLetters.contains("y"))
            let etag = try #require(compact.headers[.eTag])
            let revalidated = try await app.request(
                .get, "/showtimes/\(showtime.id)/seats?view=statuses", as: alice, headers: [.ifNoneMatch: etag]
            )
            #expect(revalidated.status == .notModified)

            let wrong = try await app.request(.get, "/showtimes/\(showtime.id)/seats?view=compact")
            #expect(wrong.status == .unprocessableContent)
            #expect(try wrong.json()["code"] as? String == "validation_failed")
        }
    }

    @Test func theLayoutCacheNoticesACancellationAndNewPricesOnceItsEntryIsStale() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let postgres = app.dependencies.postgres
            let cache = ShowtimeLayoutCache(postgres: postgres, statusLifetime: .milliseconds(200))
            let first = try await cache.layout(for: showtime.id)
            #expect(!first.isCancelled && first.prices == ["premium": 1500, "standard": 1000])

            // Status only (updated_at untouched): the cheap re-read must still see it.
            try await postgres.query("UPDATE showtimes SET status = 'cancelled' WHERE id = \(showtime.id)")
            #expect(try await cache.layout(for: showtime.id).isCancelled == false)  // still fresh
            try await Task.sleep(for: .milliseconds(250))
            let stale = try await withThrowingTaskGroup(of: ShowtimeLayout.self) { group in
                for _ in 0..<50 { group.addTask { try await cache.layout(for: showtime.id) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(stale.count == 50 && stale.allSatisfy(\.isCancelled))

            try await postgres.query("""
                UPDATE showtime_prices SET price_minor = 1700 WHERE showtime_id = \(showtime.id) AND category = 'premium'
                """)
            try await postgres.query("UPDATE showtimes SET updated_at = now() WHERE id = \(showtime.id)")
            try await Task.sleep(for: .milliseconds(250))
            let repriced = try await cache.layout(for: showtime.id)
            #expect(repriced.prices["premium"] == 1700)
            #expect(repriced.seat(showtime.rows[0][0])?.price == 1700)

            try await postgres.query("DELETE FROM showtime_seats WHERE showtime_id = \(showtime.id)")
            try await postgres.query("DELETE FROM showtime_prices WHERE showtime_id = \(showtime.id)")
            try await postgres.query("DELETE FROM showtimes WHERE id = \(showtime.id)")
            try await Task.sleep(for: .milliseconds(250))
            await #expect(throws: BoxOfficeError.self) { try await cache.layout(for: showtime.id) }
        }
    }

    @Test func aHoldShowsAsHeldByYouToItsOwnerAndHeldToOthersAndMovesTheETag() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let (alice, bob) = (try await app.makeUser(), try await app.makeUser())
            let before = try await app.request(.get, "/showtimes/\(showtime.id)/seats")
            #expect(before.status == .ok)
            let etag = try #require(before.headers[.eTag])
            #expect(try Self.statuses(before).values.allSatisfy { $0 == "available" })

            let seats = Array(showtime.rows[1][2...3])
            let hold = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: alice, json: Self.holdJSON(seats))
            #expect(hold.status == .created)
            let body = try hold.json()
            #expect(body["total"] as? Int == 2000)
            #expect(body["currency"] as? String == "EUR")
            #expect((body["seats"] as? [[String: Any]])?.map { $0["id"] as! Int } == seats)

            let stale = try await app.request(.get, "/showtimes/\(showtime.id)/seats", headers: [.ifNoneMatch: etag])
            #expect(stale.status == .ok, "the version moved, so the old ETag must not match")
            let mine = try Self.statuses(try await app.request(.get, "/showtimes/\(showtime.id)/seats", as: alice))
            let theirs = try await app.request(.get, "/showtimes/\(showtime.id)/seats", as: bob)
            #expect(seats.allSatisfy { mine[$0] == "held_by_you" })
            #expect(seats.allSatisfy { try! Self.statuses(theirs)[$0] == "held" })
            let notModified = try await app.request(
                .get, "/showtimes/\(showtime.id)/seats", as: bob, headers: [.ifNoneMatch: try #require(theirs.headers[.eTag])]
            )
            #expect(notModified.status == .notModified)
        }
    }

    @Test func holdingASeatHeldByAnotherIs409NamingItAndHoldsNothing() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let (alice, bob) = (try await app.makeUser(), try await app.makeUser())
            let row = showtime.rows[2]
            #expect(try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: alice, json: Self.holdJSON([row[0], row[1]])).status == .created)
            let refused = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: bob, json: Self.holdJSON([row[1], row[2]]))
            #expect(refused.status == .conflict)
            #expect(refused.problemCode == "seats_taken")
            #expect(try refused.json()["seat_ids"] as? [Int] == [row[1]])
            let map = try Self.statuses(try await app.request(.get, "/showtimes/\(showtime.id)/seats"))
            #expect(map[row[2]] == "available", "the refused request must not keep a partial hold")
        }
    }

    @Test func twoHundredConcurrentHoldRequestsOverFourSeatsHoldEachSeatExactlyOnce() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let seats = Array(showtime.rows[1][0..<4])
            var users: [TestApp.User] = []
            for _ in 0..<200 { users.append(try await app.makeUser()) }
            let won = try await withThrowingTaskGroup(of: [Int].self) { group in
                for (index, user) in users.enumerated() {
                    // Overlapping pairs and singles: partial holds would show as a seat won twice.
                    let request = index % 2 == 0 ? [seats[index % 4]] : [seats[index % 4], seats[(index + 1) % 4]]
                    group.addTask {
                        let response = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: Self.holdJSON(request))
                        #expect(response.status == .created || response.status == .conflict)
                        return response.status == .created ? request : []
                    }
                }
                return try await group.reduce(into: [Int]()) { $0 += $1 }
            }
            #expect(Set(won).count == won.count, "no seat held by two holds")
            #expect(!won.isEmpty)
            // Redis agrees: exactly the won seats are held, nothing partial is left over.
            let map = try Self.statuses(try await app.request(.get, "/showtimes/\(showtime.id)/seats"))
            #expect(Set(seats.filter { map[$0] == "held" }) == Set(won))
        }
    }

    @Test func bestAvailablePicksAdjacentSeatsInOneRowAndSaysWhenNoBlockIsLeft() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime(rows: 2, seatsPerRow: 4)
            let user = try await app.makeUser()
            let first = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: "{\"count\": 3, \"category\": \"standard\"}")
            #expect(first.status == .created)
            let picked = (try first.json()["seats"] as? [[String: Any]])?.map { $0["id"] as! Int } ?? []
            #expect(picked.count == 3)
            #expect(Set(picked).isSubset(of: Set(showtime.rows[1])), "standard seats are in row B")
            let numbers = (try first.json()["seats"] as? [[String: Any]])?.map { $0["number"] as! Int }.sorted() ?? []
            #expect(numbers.last! - numbers.first! == 2, "adjacent seats")
            let none = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: try await app.makeUser(), json: "{\"count\": 2, \"category\": \"standard\"}")
            #expect(none.status == .conflict)
            #expect(none.problemCode == "no_block_available")
        }
    }

    @Test func concurrentBestAvailableRequestsEachGetASeatWhileSeatsAreLeft() async throws {
        try await TestApp.run { app in
            // The opening of a sale: everyone asks at once, before any picking view exists,
            // so every request reads the same seats and would go for the same best one.
            let showtime = try await app.makeShowtime(rows: 2, seatsPerRow: 40)
            var users: [TestApp.User] = []
            for _ in 0..<48 { users.append(try await app.makeUser()) }
            let answers = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                for user in users {
                    group.addTask {
                        let response = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: "{\"count\": 1}")
                        return (response.status, response.problemCode)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let refused = answers.filter { $0.0 != .created }
            #expect(refused.count == 0, "80 seats for 48 people: none is told no block is left (\(refused.count) were: \(refused.prefix(3)))")
        }
    }

    @Test func badHoldRequestsAreRefusedWithClearProblems() async throws {
        try await TestApp.run(configure: { $0.maxSeatsPerUser = 3 }) { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let path = "/showtimes/\(showtime.id)/holds"
            let seat = showtime.rows[0][0]
            #expect(try await app.request(.post, path, json: Self.holdJSON([seat])).status == .unauthorized)
            let unknown = try await app.request(.post, path, as: user, json: Self.holdJSON([seat, 999_999]))
            #expect(unknown.status == .unprocessableContent)
            #expect(unknown.problemCode == "unknown_seats")
            #expect(try await app.request(.post, path, as: user, json: Self.holdJSON([seat, seat])).problemCode == "duplicate_seats")
            #expect(try await app.request(.post, path, as: user, json: Self.holdJSON([])).status == .unprocessableContent)
            #expect(try await app.request(.post, path, as: user, json: "{}").status == .unprocessableContent)
            #expect(try await app.request(.post, path, as: user, json: "{\"count\": 0}").status == .unprocessableContent)
            #expect(try await app.request(.post, path, as: user, json: "not json").status == .badRequest)
            // The limit counts seats across all of one person's holds.
            #expect(try await app.request(.post, path, as: user, json: Self.holdJSON(Array(showtime.rows[1][0..<2]))).status == .created)
            let over = try await app.request(.post, path, as: user, json: Self.holdJSON(Array(showtime.rows[2][0..<2])))
            #expect(over.status == .unprocessableContent)
            #expect(over.problemCode == "seat_limit")
            #expect(try await app.request(.post, "/showtimes/999999/holds", as: user, json: Self.holdJSON([seat])).status == .notFound)
        }
    }

    @Test func cancelledAndStartedShowtimesAnswer410() async throws {
        try await TestApp.run { app in
            let user = try await app.makeUser()
            let started = try await app.makeShowtime(startsIn: -60)
            let late = try await app.request(.post, "/showtimes/\(started.id)/holds", as: user, json: Self.holdJSON([started.rows[0][0]]))
            #expect(late.status == .gone)
            #expect(late.problemCode == "showtime_started")
            let cancelled = try await app.makeShowtime()
            try await app.dependencies.postgres.query("UPDATE showtimes SET status = 'cancelled' WHERE id = \(cancelled.id)")
            let refused = try await app.request(.post, "/showtimes/\(cancelled.id)/holds", as: user, json: Self.holdJSON([cancelled.rows[0][0]]))
            #expect(refused.status == .gone)
            #expect(refused.problemCode == "showtime_cancelled")
        }
    }

    @Test func onlyTheOwnerSeesExtendsAndReleasesAHold() async throws {
        try await TestApp.run(configure: { $0.maxHoldExtensions = 1 }) { app in
            let showtime = try await app.makeShowtime()
            let (alice, mallory) = (try await app.makeUser(), try await app.makeUser())
            let seat = showtime.rows[0][0]
            let created = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: alice, json: Self.holdJSON([seat]))
            let id = try #require(try created.json()["id"] as? String)
            let expiresAt = try #require(try created.json()["expires_at"] as? String)
            #expect(try await app.request(.get, "/holds/\(id)", as: alice).status == .ok)
            #expect(try await app.request(.get, "/holds/\(id)", as: mallory).status == .notFound)
            #expect(try await app.request(.post, "/holds/\(id)/extend", as: mallory).status == .notFound)
            #expect(try await app.request(.delete, "/holds/\(id)", as: mallory).status == .notFound)
            #expect(try await app.request(.get, "/holds/not-a-hold", as: alice).status == .notFound)

            let extended = try await app.request(.post, "/holds/\(id)/extend", as: alice)
            #expect(extended.status == .ok)
            #expect(try extended.json()["expires_at"] as? String != expiresAt)
            #expect(try extended.json()["extensions_left"] as? Int == 0)
            let again = try await app.request(.post, "/holds/\(id)/extend", as: alice)
            #expect(again.status == .conflict)
            #expect(again.problemCode == "extension_limit")

            #expect(try await app.request(.delete, "/holds/\(id)", as: alice).status == .noContent)
            #expect(try await app.request(.get, "/holds/\(id)", as: alice).status == .notFound)
            let map = try Self.statuses(try await app.request(.get, "/showtimes/\(showtime.id)/seats"))
            #expect(map[seat] == "available")
        }
    }

    @Test func holdAttemptsBeyondTheRateAre429WithRetryAfter() async throws {
        try await TestApp.run(configure: { $0.holdAttemptsPerSecond = 3 }) { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            var statuses: [HTTPResponse.Status] = []
            for index in 0..<6 {
                let response = try await app.request(
                    .post, "/showtimes/\(showtime.id)/holds", as: user, json: Self.holdJSON([showtime.rows[2][index]])
                )
                statuses.append(response.status)
                if response.status == .tooManyRequests { #expect(response.headers[.retryAfter] == "1") }
            }
            #expect(statuses.contains(.tooManyRequests))
        }
    }

    @Test func anExpiredHoldIsReleasedByTheWorkerAndItsSeatsAreFreeAgain() async throws {
        try await TestApp.run(configure: { $0.holdTTL = .milliseconds(300) }) { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let seat = showtime.rows[1][1]
            let created = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: Self.holdJSON([seat]))
            let id = try #require(try created.json()["id"] as? String)
            let heldETag = try await app.request(.get, "/showtimes/\(showtime.id)/seats").headers[.eTag]
            try await Task.sleep(for: .milliseconds(400))
            let worker = app.dependencies.holds.expiryWorker(logger: Logger(label: "test"))
            // The app's own worker may have swept first; either way the hold's record must be gone.
            _ = try await worker.sweep()
            let after = try await app.request(.get, "/showtimes/\(showtime.id)/seats")
            #expect(try Self.statuses(after)[seat] == "available")
            #expect(after.headers[.eTag] != heldETag)
            #expect(try await app.request(.get, "/holds/\(id)", as: user).status == .notFound)
        }
    }

    @Test func withoutRedisHoldsAre503AndTheSeatMapIsReadFromPostgres() async throws {
        try await TestServices.withDatabase { configuration in
            // A Redis nobody listens on.
            let redis = RedisConfiguration(host: "127.0.0.1", port: 1)
            try await TestServices.withDependencies(postgres: configuration, redis: redis) { dependencies in
                let app = buildApplication(dependencies, settings: TestServices.serverSettings, logger: Logger(label: "test"))
                try await app.test(.router) { client in
                    let test = TestApp(client: client, dependencies: dependencies)
                    let showtime = try await test.makeShowtime()
                    let user = try await test.makeUser()
                    let hold = try await test.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: Self.holdJSON([showtime.rows[0][0]]))
                    #expect(hold.status == .serviceUnavailable)
                    #expect(hold.headers[.retryAfter] != nil)
                    let map = try await test.request(.get, "/showtimes/\(showtime.id)/seats")
                    #expect(map.status == .ok)
                    #expect(try map.json()["degraded"] as? Bool == true)
                    #expect(map.headers[.eTag] == nil)
                }
            }
        }
    }
}
