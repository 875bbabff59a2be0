import BoxOffice
import Foundation
import Logging
import RedisClient
import Testing

/// Where the hold scripts run: one Redis, or the test Redis Cluster (the same scripts must
/// behave the same on both).
enum RedisTarget: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case standalone, cluster

    var environmentVariable: String {
        self == .standalone ? "BOXOFFICE_TEST_REDIS_URL" : "BOXOFFICE_TEST_REDIS_CLUSTER_URL"
    }

    var testDescription: String { rawValue }
}

/// The hold scripts against the real test Redis and the test Redis Cluster. Each test uses a
/// showtime id of its own.
@Suite struct SeatHoldStoreTests {
    static func withStore(
        _ target: RedisTarget = .standalone,
        _ body: (SeatHoldStore, RedisClient, Int) async throws -> Void
    ) async throws {
        guard let url = ProcessInfo.processInfo.environment[target.environmentVariable] else {
            throw HoldTestError("\(target.environmentVariable) is not set: run the tests with scripts/test")
        }
        let root = ProcessInfo.processInfo.environment["BOXOFFICE_REPO_ROOT"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().path
        var configuration = try RedisConfiguration(url: url)
        // Tests prove behaviour, not speed: a busy machine must not turn into timeouts.
        configuration.commandTimeout = .seconds(10)
        let redis = RedisClient(configuration: configuration, logger: Logger(label: "test"))
        let store = SeatHoldStore(redis: redis, scripts: try HoldScripts(directory: root + "/lua"))
        // A random showtime id far from real ones keeps tests apart on the shared Redis.
        let showtimeID = Int.random(in: 1_000_000_000...9_000_000_000)
        do {
            try await body(store, redis, showtimeID)
            await redis.close()
        } catch {
            await redis.close()
            throw error
        }
    }

    static func hold(
        _ store: SeatHoldStore, _ showtimeID: Int, _ seats: [Int],
        owner: UUID = UUID(), ttl: Duration = .seconds(60), limit: Int = 10
    ) async throws -> (String, SeatHoldStore.HoldOutcome) {
        let holdID = UUID().uuidString.lowercased()
        let outcome = try await store.hold(
            showtimeID: showtimeID, holdID: holdID, owner: owner, seatIDs: seats, ttl: ttl, perUserLimit: limit
        )
        return (holdID, outcome)
    }

    @Test func holdIDsNameTheirShowtimeAndAnythingElseIsNoHoldID() {
        let random = String(repeating: "0f", count: 16)
        #expect(HoldService.showtimeID(ofHold: "42-" + random) == 42)
        #expect(HoldService.showtimeID(ofHold: "42-" + random.uppercased()) == 42)
        for bad in ["42", "42-", "0-" + random, "-" + random, "x-" + random, "42-" + random + "0", "42-" + random.dropLast() + "g",
                    "4-2-" + random, "42-" + random.dropLast(2) + "-0"] {
            #expect(HoldService.showtimeID(ofHold: bad) == nil, "\(bad)")
        }
    }

    @Test(arguments: RedisTarget.allCases) func holdingBeforeTheSoldCacheIsLoadedAsksForIt(on target: RedisTarget) async throws {
        try await Self.withStore(target) { store, _, showtime in
            let (_, outcome) = try await Self.hold(store, showtime, [1])
            #expect(outcome == .soldNotLoaded)
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [5])
            let (_, afterLoad) = try await Self.hold(store, showtime, [1])
            guard case .held = afterLoad else { Issue.record("expected a hold, got \(afterLoad)"); return }
            let (_, sold) = try await Self.hold(store, showtime, [5])
            #expect(sold == .taken(seatIDs: [5]))
        }
    }

    @Test(arguments: RedisTarget.allCases) func holdingASeatHeldByAnotherFailsWithItsNumberAndTakesNothing(on target: RedisTarget) async throws {
        try await Self.withStore(target) { store, _, showtime in
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [])
            let (_, first) = try await Self.hold(store, showtime, [1, 2])
            guard case .held = first else { Issue.record("expected a hold"); return }
            let (_, second) = try await Self.hold(store, showtime, [2, 3])
            #expect(second == .taken(seatIDs: [2]))
            // Seat 3 was not taken by the refused request.
            let (_, third) = try await Self.hold(store, showtime, [3])
            guard case .held = third else { Issue.record("seat 3 should be free, got \(third)"); return }
        }
    }

    @Test(arguments: RedisTarget.allCases) func twoHundredConcurrentHoldsOverFiveSeatsHoldEachSeatExactlyOnce(on target: RedisTarget) async throws {
        try await Self.withStore(target) { store, redis, showtime in
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [])
            let requests: [[Int]] = (0..<200).map { index in
                let start = index % 5 + 1
                return index % 2 == 0 ? [start] : [start, start % 5 + 1]
            }
            let results = try await withThrowingTaskGroup(of: ([Int], String, SeatHoldStore.HoldOutcome).self) { group in
                for seats in requests {
                    group.addTask {
                        let (holdID, outcome) = try await Self.hold(store, showtime, seats)
                        return (seats, holdID, outcome)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            var owners: [Int: String] = [:]
            for (seats, holdID, outcome) in results {
                guard case .held = outcome else { continue }
                for seat in seats {
                    #expect(owners[seat] == nil, "seat \(seat) held twice")
                    owners[seat] = holdID
                }
            }
            #expect(owners.count == 5)
            // Redis agrees: every seat key names the hold that won it (no partial holds).
            let keys = ShowtimeKeys(showtimeID: showtime)
            for (seat, holdID) in owners {
                #expect(try await redis.send(.get(keys.seat(seat))) == holdID)
            }
        }
    }

    @Test(arguments: RedisTarget.allCases) func thePerUserLimitCountsSeatsAcrossHolds(on target: RedisTarget) async throws {
        try await Self.withStore(target) { store, _, showtime in
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [])
            let owner = UUID()
            let (_, first) = try await Self.hold(store, showtime, [1, 2, 3], owner: owner, limit: 4)
            guard case .held = first else { Issue.record("expected a hold"); return }
            let (_, second) = try await Self.hold(store, showtime, [4, 5], owner: owner, limit: 4)
            #expect(second == .limitReached(heldNow: 3))
            let (_, someoneElse) = try await Self.hold(store, showtime, [4, 5], limit: 4)
            guard case .held = someoneElse else { Issue.record("another user is not limited"); return }
        }
    }

    @Test(arguments: RedisTarget.allCases) func attemptsBeyondTheRateAreRefusedAndTakeNothingWhileUncountedRetriesPass(on target: RedisTarget) async throws {
        try await Self.withStore(target) { store, _, showtime in
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [])
            let owner = UUID()
            func attempt(_ seat: Int, counted: Bool = true) async throws -> SeatHoldStore.HoldOutcome {
                try await store.hold(
                    showtimeID: showtime, holdID: UUID().uuidString.lowercased(), owner: owner, seatIDs: [seat],
                    ttl: .seconds(60), perUserLimit: 10, attemptsPerSecond: counted ? 2 : nil
                )
            }
            // A one-second window could roll over between attempts; three in a row within one
            // window must show the refusal, so try a few windows at most.
            var refused: SeatHoldStore.HoldOutcome?
            for base in stride(from: 1, through: 7, by: 3) where refused == nil {
                _ = try await attempt(base)
                _ = try await attempt(base + 1)
                let third = try await attempt(base + 2)
                if third == .tooManyAttempts {
                    refused = third
                    #expect(try await store.holders(showtimeID: showtime, seatIDs: [base + 2]).isEmpty)
                }
            }
            #expect(refused == .tooManyAttempts)
            guard case .held = try await attempt(20, counted: false) else { Issue.record("an uncounted retry is not limited"); return }
            let someoneElse = try await store.hold(
                showtimeID: showtime, holdID: UUID().uuidString.lowercased(), owner: UUID(), seatIDs: [21],
                ttl: .seconds(60), perUserLimit: 10, attemptsPerSecond: 2
            )
            guard case .held = someoneElse else { Issue.record("another person is not limited"); return }
        }
    }

    @Test(arguments: RedisTarget.allCases) func anInstanceMarksAShowtimeActiveAgainOnlyWhenAHoldOutlastsItsMarkByTheSlack(on target: RedisTarget) async throws {
        try await Self.withStore(target) { store, redis, showtime in
            func score() async throws -> Int? {
                try await redis.send(RedisCommand<RedisReply>(["ZSCORE", SeatHoldStore.activeShowtimesKey, String(showtime)]))
                    .string.flatMap { Double($0) }.map { Int($0) }
            }
            let first = Date().addingTimeInterval(600)
            try await store.markActive(showtimeID: showtime, until: first)
            let marked = try #require(try await score())
            try await store.markActive(showtimeID: showtime, until: first.addingTimeInterval(5))
            #expect(try await score() == marked)
            try await store.markActive(showtimeID: showtime, until: first.addingTimeInterval(30))
            #expect(try await score() == marked + 30_000)
            _ = try await redis.send(RedisCommand<RedisReply>(["ZREM", SeatHoldStore.activeShowtimesKey, String(showtime)]))
        }
    }

    @Test(arguments: RedisTarget.allCases) func releaseIsOwnerOnlyIdempotentAndFreesTheSeats(on target: RedisTarget) async throws {
        try await Self.withStore(target) { store, _, showtime in
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [])
            let owner = UUID()
            let (holdID, _) = try await Self.hold(store, showtime, [7, 8], owner: owner)
            #expect(try await store.release(showtimeID: showtime, holdID: holdID, owner: UUID()) == .notOwner)
            guard case .released(_, let seats) = try await store.release(showtimeID: showtime, holdID: holdID, owner: owner) else {
                Issue.record("expected a release"); return
            }
            #expect(seats == [7, 8])
            #expect(try await store.release(showtimeID: showtime, holdID: holdID, owner: owner) == .gone)
            let (_, again) = try await Self.hold(store, showtime, [7, 8], owner: owner)
            guard case .held = again else { Issue.record("seats should be free again"); return }
        }
    }

    @Test(arguments: RedisTarget.allCases) func releaseLeavesSeatsThatAnotherHoldTookAfterExpiry(on target: RedisTarget) async throws {
        try await Self.withStore(target) { store, redis, showtime in
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [])
            let (expired, _) = try await Self.hold(store, showtime, [9], ttl: .milliseconds(50))
            try await Task.sleep(for: .milliseconds(150))
            let (newer, outcome) = try await Self.hold(store, showtime, [9])
            guard case .held = outcome else { Issue.record("an expired seat is free"); return }
            _ = try await store.release(showtimeID: showtime, holdID: expired, owner: nil)
            #expect(try await redis.send(.get(ShowtimeKeys(showtimeID: showtime).seat(9))) == newer)
        }
    }

    @Test(arguments: RedisTarget.allCases) func extendIsBoundedAndOwnerOnly(on target: RedisTarget) async throws {
        try await Self.withStore(target) { store, _, showtime in
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [])
            let owner = UUID()
            let (holdID, outcome) = try await Self.hold(store, showtime, [1], owner: owner)
            guard case .held(_, let expiresAt) = outcome else { Issue.record("expected a hold"); return }
            #expect(try await store.extend(showtimeID: showtime, holdID: holdID, owner: UUID(), by: .seconds(60), maximumExtensions: 1) == .notOwner)
            guard case .extended(let later, 1) = try await store.extend(
                showtimeID: showtime, holdID: holdID, owner: owner, by: .seconds(60), maximumExtensions: 1
            ) else { Issue.record("expected an extension"); return }
            #expect(abs(later.timeIntervalSince(expiresAt) - 60) < 0.01)
            #expect(try await store.extend(showtimeID: showtime, holdID: holdID, owner: owner, by: .seconds(60), maximumExtensions: 1) == .limitReached)
        }
    }

    @Test(arguments: RedisTarget.allCases) func confirmMovesSeatsIntoTheSoldCacheAndPublishesTheDelta(on target: RedisTarget) async throws {
        try await Self.withStore(target) { store, redis, showtime in
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [])
            let keys = ShowtimeKeys(showtimeID: showtime)
            let (holdID, outcome) = try await Self.hold(store, showtime, [4, 5])
            guard case .held(let heldVersion, _) = outcome else { Issue.record("expected a hold"); return }
            // The scripts publish to the showtime's shard channel (SPUBLISH), in its slot.
            let shards = RedisShardSubscriber(client: redis)
            try await shards.subscribe(keys.events)
            let version = try await store.confirm(showtimeID: showtime, holdID: holdID, seatIDs: [4, 5])
            #expect(version == heldVersion + 1)
            var message = ""
            for await event in shards.events {
                if case .message(let received) = event,
                   (AvailabilityBroadcaster.version(ofDelta: received.text) ?? 0) > heldVersion {
                    message = received.text
                    break
                }
            }
            await shards.close()
            let delta = try JSONSerialization.jsonObject(with: Data(message.utf8)) as? [String: Any]
            #expect(delta?["version"] as? Int == heldVersion + 1)
            let seats = delta?["seats"] as? [[String: Any]]
            #expect(seats?.compactMap { $0["status"] as? String } == ["sold", "sold"])
            #expect(try await redis.send(.get(keys.seat(4))) == nil)
            let (_, again) = try await Self.hold(store, showtime, [5])
            #expect(again == .taken(seatIDs: [5]))
        }
    }

    /// A sale (row version 1) and the cancel that freed the seat again (version 2) reach Redis
    /// in the wrong order: the cache keeps the newer state, free; then a newer sale applies.
    @Test(arguments: RedisTarget.allCases) func changesThatReachRedisOutOfOrderNeverUndoANewerOne(on target: RedisTarget) async throws {
        try await Self.withStore(target) { store, redis, showtime in
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [])
            let keys = ShowtimeKeys(showtimeID: showtime)
            func sold(_ seat: Int) async throws -> Bool {
                try await redis.send(RedisCommand<RedisReply>(["SISMEMBER", keys.sold, String(seat)])).integer == 1
            }
            try await store.unsell(showtimeID: showtime, seatIDs: [7], rowVersions: [2])
            try await store.confirm(showtimeID: showtime, holdID: "late", seatIDs: [7], rowVersions: [1])
            #expect(try await sold(7) == false, "the late sale is older than the cancel")
            try await store.confirm(showtimeID: showtime, holdID: "next", seatIDs: [7], rowVersions: [3])
            #expect(try await sold(7))
            try await store.unsell(showtimeID: showtime, seatIDs: [7], rowVersions: [2])
            #expect(try await sold(7), "a late cancel of an older sale leaves the newer sale")
        }
    }

    @Test(arguments: RedisTarget.allCases) func theSeatMapShowsLiveHoldsAndTheViewersOwnButNotLapsedOnes(on target: RedisTarget) async throws {
        try await Self.withStore(target) { store, _, showtime in
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [1])
            let viewer = UUID(), other = UUID()
            _ = try await Self.hold(store, showtime, [2, 3], owner: viewer)
            _ = try await Self.hold(store, showtime, [4], owner: other)
            _ = try await Self.hold(store, showtime, [5], owner: viewer, ttl: .milliseconds(50))
            try await Task.sleep(for: .milliseconds(150))
            guard case .seats(let seen) = try await store.availability(showtimeID: showtime, viewer: viewer) else {
                Issue.record("expected the seats"); return
            }
            #expect(seen.sold == [1])
            #expect(seen.held == [2, 3, 4], "seat 5's hold lapsed without a release")
            #expect(seen.heldByViewer == [2, 3])
            // Seat 5 taken again by someone else: theirs, not the viewer's.
            _ = try await Self.hold(store, showtime, [5], owner: other)
            guard case .seats(let again) = try await store.availability(showtimeID: showtime, viewer: viewer) else {
                Issue.record("expected the seats"); return
            }
            #expect(again.held == [2, 3, 4, 5])
            #expect(again.heldByViewer == [2, 3])
        }
    }

    @Test(arguments: RedisTarget.allCases) func aCallerWrongAboutAHoldsSeatsStillReleasesAndExtendsExactlyThem(on target: RedisTarget) async throws {
        try await Self.withStore(target) { store, redis, showtime in
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [])
            let owner = UUID()
            let (holdID, _) = try await Self.hold(store, showtime, [7, 8], owner: owner)
            guard case .extended = try await store.extend(
                showtimeID: showtime, holdID: holdID, owner: owner, seatIDs: [7], by: .seconds(10), maximumExtensions: 2
            ) else { Issue.record("expected an extension"); return }
            let pttl = try await redis.send(RedisCommand<RedisReply>(["PTTL", ShowtimeKeys(showtimeID: showtime).seat(8)])).integer ?? 0
            #expect(pttl > 60_000, "both seats were extended")
            guard case .released(_, let seats) = try await store.release(
                showtimeID: showtime, holdID: holdID, owner: owner, seatIDs: [99]
            ) else { Issue.record("expected a release"); return }
            #expect(seats == [7, 8])
            #expect(try await store.holders(showtimeID: showtime, seatIDs: [7, 8]).isEmpty)
            guard case .seats(let seen) = try await store.availability(showtimeID: showtime, viewer: owner) else {
                Issue.record("expected the seats"); return
            }
            #expect(seen.held.isEmpty)
        }
    }

    @Test(arguments: RedisTarget.allCases) func aHoldExpiresByItsTTL(on target: RedisTarget) async throws {
        try await Self.withStore(target) { store, redis, showtime in
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [])
            _ = try await Self.hold(store, showtime, [3], ttl: .milliseconds(50))
            try await Task.sleep(for: .milliseconds(150))
            #expect(try await redis.send(.get(ShowtimeKeys(showtimeID: showtime).seat(3))) == nil)
        }
    }
}

struct HoldTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
