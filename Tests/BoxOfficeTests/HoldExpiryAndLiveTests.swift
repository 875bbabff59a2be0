import BoxOffice
import Foundation
import Logging
import RedisClient
import Testing

@Suite struct HoldExpiryAndLiveTests {
    @Test func aDeltasVersionIsReadWithoutDecodingIt() {
        #expect(AvailabilityBroadcaster.version(ofDelta: #"{"version":17,"seats":[{"id":3,"status":"held"}]}"#) == 17)
        #expect(AvailabilityBroadcaster.version(ofDelta: #"{"seats":[],"version":9}"#) == 9)
        #expect(AvailabilityBroadcaster.version(ofDelta: #"{"seats":[]}"#) == nil)
        #expect(AvailabilityBroadcaster.version(ofDelta: #"{"version":"x"}"#) == nil)
    }

    @Test func theWorkerReleasesAnExpiredHoldMovesTheVersionAndFreesTheOwnersCount() async throws {
        try await SeatHoldStoreTests.withStore { store, redis, showtime in
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [])
            let owner = UUID()
            let (_, outcome) = try await SeatHoldStoreTests.hold(store, showtime, [1, 2], owner: owner, ttl: .milliseconds(80), limit: 2)
            guard case .held(let heldVersion, let expiresAt) = outcome else { Issue.record("expected a hold"); return }
            try await store.markActive(showtimeID: showtime, until: expiresAt)
            try await Task.sleep(for: .milliseconds(200))

            let worker = HoldExpiryWorker(redis: redis, store: store, logger: Logger(label: "test"))
            // Another test's worker may sweep it first (bo:active is shared): harmless by design.
            try await worker.sweep()
            #expect(try await store.version(showtimeID: showtime) == heldVersion + 1)
            // The owner's seats no longer count against the limit.
            let (_, again) = try await SeatHoldStoreTests.hold(store, showtime, [3, 4], owner: owner, limit: 2)
            guard case .held = again else { Issue.record("the limit should be free again, got \(again)"); return }
        }
    }

    @Test func aLiveClientHearsAHoldAndThenItsExpiry() async throws {
        try await SeatHoldStoreTests.withStore { store, redis, showtime in
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [])
            let broadcaster = AvailabilityBroadcaster(redis: redis, logger: Logger(label: "test"))
            let worker = HoldExpiryWorker(redis: redis, store: store, interval: .milliseconds(50), logger: Logger(label: "test"))
            let statuses = try await withThrowingTaskGroup(of: [String].self) { group in
                group.addTask { try await broadcaster.run(); return [] }
                group.addTask { try await worker.run(); return [] }
                _ = await broadcaster.follow(showtimeID: showtime)
                let heard = try await broadcaster.withDeltas(showtimeID: showtime) { deltas in
                    let (_, outcome) = try await SeatHoldStoreTests.hold(store, showtime, [7], ttl: .milliseconds(100))
                    if case .held(_, let expiresAt) = outcome { try await store.markActive(showtimeID: showtime, until: expiresAt) }
                    var statuses: [String] = []
                    deltas: for await batch in deltas {
                        for delta in batch {
                            let object = try JSONSerialization.jsonObject(with: Data(delta.json.utf8)) as? [String: Any]
                            let seats = object?["seats"] as? [[String: Any]] ?? []
                            statuses += seats.compactMap { $0["status"] as? String }
                            if statuses.count == 2 { break deltas }
                        }
                    }
                    return statuses
                }
                group.cancelAll()
                return heard
            }
            #expect(statuses == ["held", "available"])
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aClientWhoseShowtimeCannotBeSubscribedGetsAnEndedStreamNotASilentOne() async throws {
        var unreachable = RedisConfiguration(host: "127.0.0.1", port: 1)
        unreachable.connectTimeout = .milliseconds(200)
        let redis = RedisClient(configuration: unreachable, logger: Logger(label: "test"))
        let broadcaster = AvailabilityBroadcaster(redis: redis, logger: Logger(label: "test"))
        #expect(await broadcaster.follow(showtimeID: 1) == false)
        let next = await broadcaster.withDeltas(showtimeID: 1) { deltas in
            var iterator = deltas.makeAsyncIterator()
            return await iterator.next()
        }
        #expect(next == nil, "the stream ended: without a subscription it would miss every delta")
        await redis.close()
    }

    /// The node a showtime's channel lives on goes away (a crash; in a cluster, also a
    /// failover or a slot moved elsewhere): its live clients may miss deltas from then on, so
    /// their streams end and they reconnect for a fresh snapshot.
    @Test(.timeLimit(.minutes(1)))
    func whenAShowtimesSubscriptionIsLostItsClientsAreDroppedToResynchronise() async throws {
        let port = Int.random(in: 30_001...40_000)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-lost-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                            "--dir", directory.path]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        var configuration = RedisConfiguration(host: "127.0.0.1", port: port)
        configuration.commandTimeout = .seconds(10)
        let redis = RedisClient(configuration: configuration, logger: Logger(label: "test"))
        for _ in 0..<100 where (try? await redis.ping()) == nil { try await Task.sleep(for: .milliseconds(50)) }
        let broadcaster = AvailabilityBroadcaster(redis: redis, logger: Logger(label: "test"))
        let ended = await withThrowingTaskGroup(of: Bool?.self) { group in
            group.addTask { try await broadcaster.run(); return nil }
            let ended = await broadcaster.withDeltas(showtimeID: 7) { deltas in
                // The node goes away (a child of this process may not hear SIGTERM: over the wire).
                _ = try? await redis.send(RedisCommand<RedisReply>(["SHUTDOWN", "NOSAVE"]))
                var iterator = deltas.makeAsyncIterator()
                return await iterator.next() == nil
            }
            group.cancelAll()
            return ended
        }
        #expect(ended == true, "the client's stream ended when the subscription was lost")
        await redis.close()
        server.terminate()
        try? FileManager.default.removeItem(at: directory)
    }

    @Test func deltasThatArriveWhileAClientIsBusyComeAsOneBatchInOrder() async throws {
        try await SeatHoldStoreTests.withStore { store, redis, showtime in
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [])
            let broadcaster = AvailabilityBroadcaster(redis: redis, logger: Logger(label: "test"))
            let versions = try await withThrowingTaskGroup(of: [[Int]].self) { group in
                group.addTask { try await broadcaster.run(); return [] }
                _ = await broadcaster.follow(showtimeID: showtime)
                let batches = try await broadcaster.withDeltas(showtimeID: showtime) { deltas in
                    var iterator = deltas.makeAsyncIterator()
                    _ = try await SeatHoldStoreTests.hold(store, showtime, [1])
                    var batches = [await iterator.next()?.map(\.version) ?? []]
                    for seat in 2...5 { _ = try await SeatHoldStoreTests.hold(store, showtime, [seat]) }
                    try await Task.sleep(for: .milliseconds(200))  // busy: all four arrive meanwhile
                    batches.append(await iterator.next()?.map(\.version) ?? [])
                    return batches
                }
                group.cancelAll()
                return batches
            }
            #expect(versions.count == 2 && versions[0].count == 1)
            #expect(versions.count == 2 && versions[1] == (1...4).map { versions[0][0] + $0 })
        }
    }

    @Test func aClientThatDoesNotReadIsDroppedNotBufferedForever() async throws {
        try await SeatHoldStoreTests.withStore { store, redis, showtime in
            try await store.loadSold(showtimeID: showtime, soldSeatIDs: [])
            let broadcaster = AvailabilityBroadcaster(redis: redis, bufferLimit: 2, logger: Logger(label: "test"))
            let received = try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask { try await broadcaster.run(); return 0 }
                _ = await broadcaster.follow(showtimeID: showtime)
                let count = try await broadcaster.withDeltas(showtimeID: showtime) { deltas in
                    // One hold a frame (50 ms): the backlog grows frame by frame, unread.
                    for seat in 1...6 {
                        _ = try await SeatHoldStoreTests.hold(store, showtime, [seat])
                        try await Task.sleep(for: .milliseconds(120))
                    }
                    var count = 0
                    for await batch in deltas { count += batch.count }  // ends: the client was dropped
                    return count
                }
                group.cancelAll()
                return count
            }
            #expect(received >= 2 && received < 6, "dropped once two or more deltas waited unread, got \(received)")
        }
    }
}
