import BoxOffice
@testable import BoxOfficeHTTP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import HummingbirdWSTesting
import Logging
import NIOWebSocket
import RedisClient
import Synchronization
import Testing

/// The live seat map over WebSocket, through a real socket: the same messages as the event
/// stream, from the same fan-out.
@Suite struct LiveSocketTests {
    /// Connects to the showtime's live socket and hands `body` the JSON messages as they come;
    /// the close frame the server sent, if any, is returned with `body`'s result.
    static func withLiveSocket<R: Sendable>(
        _ app: TestApp, showtimeID: Int, query: String = "", headers: HTTPFields = [:],
        _ body: @escaping @Sendable (Messages) async throws -> R
    ) async throws -> (result: R?, close: WebSocketCloseFrame?) {
        let (texts, continuation) = AsyncStream<String>.makeStream()
        let result = Shared<R?>(nil)
        let close = try await app.client.ws(
            "/showtimes/\(showtimeID)/live\(query)", configuration: .init(maxFrameSize: 1 << 20, additionalHeaders: headers)
        ) { inbound, _, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await message in inbound.messages(maxSize: 1 << 22) {
                        if case .text(let text) = message { continuation.yield(text) }
                    }
                    continuation.finish()
                }
                let value = try await body(Messages(iterator: texts.makeAsyncIterator()))
                result.value.withLock { $0 = value }
                group.cancelAll()
            }
        }
        return (result.value.withLock { $0 }, close)
    }

    final class Shared<Value: Sendable>: Sendable {
        let value: Mutex<Value>
        init(_ value: Value) { self.value = Mutex(value) }
    }

    /// The server's messages as JSON objects.
    struct Messages {
        var iterator: AsyncStream<String>.Iterator

        mutating func next() async -> [String: Any]? {
            guard let text = await iterator.next() else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
        }
    }

    static func statuses(_ delta: [String: Any]) -> [Int: String] {
        let seats = delta["seats"] as? [[String: Any]] ?? []
        return Dictionary(seats.map { ($0["id"] as! Int, $0["status"] as! String) }, uniquingKeysWith: { $1 })
    }

    @Test(.timeLimit(.minutes(1)))
    func aSocketGetsTheMapThenEveryChangeInOrder() async throws {
        try await TestApp.run(.live) { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let seats = Array(showtime.rows[0][0...1])
            _ = try await Self.withLiveSocket(app, showtimeID: showtime.id) { messages in
                var messages = messages
                let snapshot = try #require(await messages.next())
                #expect(snapshot["type"] as? String == "snapshot")
                let version = try #require(snapshot["version"] as? Int)
                #expect((snapshot["seats"] as? [Any])?.count == showtime.rows.joined().count)
                for seat in seats {
                    let held = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: "{\"seat_ids\": [\(seat)]}")
                    #expect(held.status == .created)
                }
                // The two holds' deltas, in one message or two, in order.
                var deltas: [[String: Any]] = []
                while deltas.count < 2, let message = await messages.next() {
                    #expect(message["type"] as? String == "deltas")
                    deltas += message["deltas"] as? [[String: Any]] ?? []
                }
                #expect(deltas.map { $0["version"] as? Int } == [version + 1, version + 2])
                #expect(Self.statuses(deltas[0]) == [seats[0]: "held"])
                #expect(Self.statuses(deltas[1]) == [seats[1]: "held"])
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aSocketThatResumesGetsOnlyWhatItMissed() async throws {
        try await TestApp.run(.live) { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let (first, _) = try await Self.withLiveSocket(app, showtimeID: showtime.id) { messages in
                var messages = messages
                return await messages.next()?["version"] as? Int
            }
            let version = try #require(first ?? nil)
            let seat = showtime.rows[1][0]
            _ = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: "{\"seat_ids\": [\(seat)]}")
            _ = try await Self.withLiveSocket(app, showtimeID: showtime.id, query: "?since=\(version)") { messages in
                var messages = messages
                let next = try #require(await messages.next())
                #expect(next["type"] as? String == "deltas", "the missed change, not the map again")
                let deltas = next["deltas"] as? [[String: Any]] ?? []
                #expect(deltas.first?["version"] as? Int == version + 1)
                #expect(deltas.first.map(Self.statuses) == [seat: "held"])
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aRefusedSocketIsClosedWithACodeAndAReason() async throws {
        try await TestApp.run(.live) { app in
            let showtime = try await app.makeShowtime()
            let cases: [(path: Int, query: String, headers: HTTPFields, code: Int, reason: String)] = [
                (999_999, "", [:], 4404, "not_found:"),
                (showtime.id, "?since=yesterday", [:], 4422, "validation_failed: since"),
                (showtime.id, "", [.authorization: "Bearer not-a-token"], 4401, "invalid_token:"),
            ]
            for example in cases {
                let (_, close) = try await Self.withLiveSocket(app, showtimeID: example.path, query: example.query, headers: example.headers) { messages in
                    var messages = messages
                    return await messages.next() == nil
                }
                #expect(close?.closeCode == WebSocketErrorCode(codeNumber: example.code), "\(example)")
                #expect(close?.reason?.hasPrefix(example.reason) == true, "\(String(describing: close?.reason))")
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func theSamePathStillServesServerSentEventsToPlainRequests() async throws {
        try await TestApp.run(.live) { app in
            let showtime = try await app.makeShowtime()
            let port = try #require(app.client.port)
            let name = try await LiveStreamTests.withLiveStream(port: port, showtimeID: showtime.id) { events in
                try #require(try await events.next()).name
            }
            #expect(name == "snapshot")
        }
    }

    /// A session whose client cannot take deltas as fast as they come ends as too slow (the
    /// socket then closes with 4100), and says so at once, while its write may still be stuck.
    @Test(.timeLimit(.minutes(1)))
    func aSessionThatCannotKeepUpEndsAsTooSlow() async throws {
        try await TestApp.run(.router) { app in
            let showtime = try await app.makeShowtime()
            let dependencies = app.dependencies
            let broadcaster = AvailabilityBroadcaster(redis: dependencies.redis, bufferLimit: 2, frame: .zero, logger: Logger(label: "test"))
            let session = LiveSession(holds: dependencies.holds, broadcaster: broadcaster, renderer: SeatMapRenderer())
            let user = try await app.makeUser()
            let told = Shared(false)
            let sent = Shared(0)
            let end = try await withThrowingTaskGroup(of: LiveSession.End?.self) { group in
                group.addTask { try await broadcaster.run(); return nil }
                group.addTask {
                    try await session.run(showtimeID: showtime.id, viewer: nil, since: nil, heartbeat: nil,
                                          whenDroppedAsSlow: { told.value.withLock { $0 = true } }) { _ in
                        // A client that takes a second for each message.
                        if sent.value.withLock({ $0 += 1; return $0 }) > 1 { try await Task.sleep(for: .seconds(1)) }
                    }
                }
                try await Task.sleep(for: .milliseconds(300))
                for seat in showtime.rows.joined().prefix(8) {
                    _ = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: "{\"seat_ids\": [\(seat)]}")
                }
                let end = try await group.next() ?? nil
                group.cancelAll()
                return end
            }
            #expect(end == .tooSlow)
            #expect(told.value.withLock { $0 })
        }
    }
}
