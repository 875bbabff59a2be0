import RedisClient
import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import Testing

/// The live seat-map stream (server-sent events) over a real socket.
@Suite struct LiveStreamTests {
    /// One server-sent event: its name and its `data:` JSON.
    struct LiveEvent: Sendable {
        var name: String
        var data: String

        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any]) ?? [:]
        }
    }

    /// Opens `/showtimes/{id}/live` on the server at `port` and hands `body` the events as they come.
    static func withLiveStream<R: Sendable>(
        port: Int, showtimeID: Int, since: Int? = nil,
        _ body: (inout AsyncThrowingStream<LiveEvent, any Error>.Iterator) async throws -> R
    ) async throws -> R {
        try await withEventStream(port: port, path: "/showtimes/\(showtimeID)/live", headers: since.map { ["Last-Event-ID: \($0)"] } ?? [], body)
    }

    /// Opens an event stream at `path` over a real socket (`headers` as "Name: value" lines) and
    /// hands `body` the events as they come; the iterator ends when the server ends the stream.
    static func withEventStream<R: Sendable>(
        port: Int, path: String, headers: [String] = [],
        _ body: (inout AsyncThrowingStream<LiveEvent, any Error>.Iterator) async throws -> R
    ) async throws -> R {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            for header in headers { request += header + "\r\n" }
            try await outbound.write(ByteBuffer(string: request + "\r\n"))
            let events = AsyncThrowingStream<LiveEvent, any Error> { continuation in
                let task = Task {
                    var pending = ""
                    var name = ""
                    do {
                        for try await chunk in inbound {
                            // "\r\n" is one Character in Swift: normalise so lines split on "\n".
                            pending += String(buffer: chunk).replacingOccurrences(of: "\r\n", with: "\n")
                            while let newline = pending.firstIndex(of: "\n") {
                                let line = pending[..<newline].trimmingCharacters(in: .whitespacesAndNewlines)
                                pending.removeSubrange(...newline)
                                if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                                if line.hasPrefix("data: ") { continuation.yield(LiveEvent(name: name, data: String(line.dropFirst(6)))) }
                            }
                        }
                        continuation.finish()
                    } catch {
                        continuation.finish(throwing: error)
                    }
                }
                continuation.onTermination = { _ in task.cancel() }
            }
            var iterator = events.makeAsyncIterator()
            return try await body(&iterator)
        }
    }

    static func statuses(_ event: [String: Any]) -> [Int: String] {
        let seats = event["seats"] as? [[String: Any]] ?? []
        return Dictionary(seats.map { ($0["id"] as! Int, $0["status"] as! String) }, uniquingKeysWith: { $1 })
    }

    @Test(.timeLimit(.minutes(1)))
    func aHoldMadeThroughOneInstanceIsSeenLiveByAClientOfAnother() async throws {
        try await TestServices.withDatabase { configuration in
            try await TestServices.withDependencies(postgres: configuration) { first in
                try await TestServices.withDependencies(postgres: configuration) { second in
                    let holdingApp = buildApplication(first, settings: TestServices.serverSettings, logger: Logger(label: "test.a"))
                    let watchingApp = buildApplication(second, settings: TestServices.serverSettings, logger: Logger(label: "test.b"))
                    try await holdingApp.test(.router) { holdingClient in
                        let holder = TestApp(client: holdingClient, dependencies: first)
                        let showtime = try await holder.makeShowtime()
                        let user = try await holder.makeUser()
                        let seats = Array(showtime.rows[1][0...1])
                        try await watchingApp.test(.live) { watchingClient in
                            let port = try #require(watchingClient.port)
                            // The stream subscribes to the showtime before its snapshot; nothing to wait for.
                            try await Self.withLiveStream(port: port, showtimeID: showtime.id) { events in
                                let first = try #require(try await events.next())
                                let snapshot = first.json
                                #expect(first.name == "snapshot")
                                #expect(Self.statuses(snapshot)[seats[0]] == "available")
                                let snapshotVersion = try #require(snapshot["version"] as? Int)

                                let hold = try await holder.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: "{\"seat_ids\": \(seats)}")
                                #expect(hold.status == .created)
                                let next = try #require(try await events.next())
                                let delta = next.json
                                #expect(next.name == "delta")
                                #expect(Self.statuses(delta) == [seats[0]: "held", seats[1]: "held"])
                                #expect((delta["version"] as? Int ?? 0) > snapshotVersion)

                                let holdID = try #require(try hold.json()["id"] as? String)
                                #expect(try await holder.request(.delete, "/holds/\(holdID)", as: user).status == .noContent)
                                let freed = try #require(try await events.next()).json
                                #expect(Self.statuses(freed) == [seats[0]: "available", seats[1]: "available"])
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func withoutTheRedisSubscriptionTheStreamIsRefusedRatherThanSilentlyMissingDeltas() async throws {
        try await TestServices.withDatabase { configuration in
            try await TestServices.withDependencies(postgres: configuration) { dependencies in
                var unsubscribed = dependencies
                // Its subscriptions go to a Redis that does not answer: like an instance cut off from
                // the node of the showtime's channel.
                var unreachable = RedisConfiguration(host: "127.0.0.1", port: 1)
                unreachable.connectTimeout = .milliseconds(200)
                unsubscribed.broadcaster = AvailabilityBroadcaster(
                    redis: RedisClient(configuration: unreachable, logger: Logger(label: "test")), logger: Logger(label: "test")
                )
                let app = Application(router: buildRouter(unsubscribed, settings: TestServices.serverSettings))
                try await app.test(.router) { client in
                    let showtime = try await TestApp(client: client, dependencies: dependencies).makeShowtime()
                    let response = try await client.execute(uri: "/showtimes/\(showtime.id)/live", method: .get)
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers[.retryAfter] == "1")
                    #expect(try response.json()["code"] as? String == "live_unavailable")
                    // Unknown showtimes are still 404, and the seat map still answers.
                    #expect(try await client.execute(uri: "/showtimes/999999/live", method: .get).status == .notFound)
                    #expect(try await client.execute(uri: "/showtimes/\(showtime.id)/seats", method: .get).status == .ok)
                }
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aClientThatReconnectsWithTheCurrentVersionGetsNoSecondSnapshot() async throws {
        try await TestApp.run(.live) { app in
            let showtime = try await app.makeShowtime()
            let port = try #require(app.client.port)
            let version = try await Self.withLiveStream(port: port, showtimeID: showtime.id) { events in
                try #require(try await events.next()).json["version"] as? Int
            }
            try await Self.withLiveStream(port: port, showtimeID: showtime.id, since: version) { events in
                let user = try await app.makeUser()
                _ = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: "{\"seat_ids\": [\(showtime.rows[0][0])]}")
                let event = try #require(try await events.next())
                #expect(event.name == "delta", "up to date: the first event is the next change, not a snapshot")
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aClientThatMissedChangesGetsOnlyThoseDeltasNotTheMapAgain() async throws {
        try await TestApp.run(.live) { app in
            let showtime = try await app.makeShowtime()
            let port = try #require(app.client.port)
            let first = try await Self.withLiveStream(port: port, showtimeID: showtime.id) { events in
                try #require(try await events.next()).json["version"] as? Int
            }
            let version = try #require(first)
            // Two changes while the client is away (the instance still follows the showtime).
            let user = try await app.makeUser()
            for seat in showtime.rows[0][0...1] {
                let held = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: "{\"seat_ids\": [\(seat)]}")
                #expect(held.status == .created)
            }
            try await Self.withLiveStream(port: port, showtimeID: showtime.id, since: version) { events in
                let first = try #require(try await events.next())
                let second = try #require(try await events.next())
                #expect([first.name, second.name] == ["delta", "delta"], "the missed changes, not a snapshot")
                #expect(first.json["version"] as? Int == version + 1)
                #expect(second.json["version"] as? Int == version + 2)
                #expect(Self.statuses(first.json) == [showtime.rows[0][0]: "held"])
                #expect(Self.statuses(second.json) == [showtime.rows[0][1]: "held"])
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aVersionThatPublishedNoDeltaMakesTheStreamSendTheWholeMap() async throws {
        try await TestApp.run(.live) { app in
            let showtime = try await app.makeShowtime()
            let port = try #require(app.client.port)
            try await Self.withLiveStream(port: port, showtimeID: showtime.id) { events in
                let snapshot = try #require(try await events.next())
                let version = try #require(snapshot.json["version"] as? Int)
                // As a reload of the sold cache does: the version moves, no delta says why.
                _ = try await app.dependencies.redis.send(RedisCommand<RedisReply>(["INCR", ShowtimeKeys(showtimeID: showtime.id).version]))
                let user = try await app.makeUser()
                let seat = showtime.rows[0][0]
                _ = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: "{\"seat_ids\": [\(seat)]}")
                let next = try #require(try await events.next())
                #expect(next.name == "snapshot", "a client cannot rebuild the map across a gap")
                #expect(next.json["version"] as? Int == version + 2)
                #expect(Self.statuses(next.json)[seat] == "held")
            }
        }
    }
}
