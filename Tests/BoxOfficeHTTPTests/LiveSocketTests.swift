import BoxOffice
@testable import BoxOfficeHTTP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import HummingbirdWSTesting
import Logging
import NIOCore
import NIOPosix
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
                    // However reading ends (a close, or a connection cut after it), the body hears of it.
                    defer { continuation.finish() }
                    for try await message in inbound.messages(maxSize: 1 << 22) {
                        if case .text(let text) = message { continuation.yield(text) }
                    }
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

    /// Upgrades over a plain socket and reads the server's first frame, which must be a close:
    /// the response's status, the close code and the reason.
    static func firstCloseFrame(port: Int, path: String, headers: HTTPFields) async throws -> (status: Int, code: Int, reason: String) {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            for field in headers { request += "\(field.name): \(field.value)\r\n" }
            try await outbound.write(ByteBuffer(string: request + "\r\n"))
            var received: [UInt8] = []
            for try await chunk in inbound {
                received += chunk.readableBytesView
                guard let end = received.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound, received.count >= end + 2 else { continue }
                let length = Int(received[end + 1] & 0x7f)
                guard received.count >= end + 2 + length else { continue }
                let head = String(decoding: received[..<end], as: UTF8.self)
                let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
                #expect(received[end] == 0x88, "a close frame, unfragmented")
                let payload = Array(received[(end + 2)..<(end + 2 + length)])
                let code = payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : 0
                return (status, code, String(decoding: payload.dropFirst(2), as: UTF8.self))
            }
            return (0, 0, "")
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
            let port = try #require(app.client.port)
            for example in cases {
                let (status, code, reason) = try await Self.firstCloseFrame(
                    port: port, path: "/showtimes/\(example.path)/live\(example.query)", headers: example.headers
                )
                #expect(status == 101, "\(example)")
                #expect(code == example.code, "\(example)")
                #expect(reason.hasPrefix(example.reason), "\(reason)")
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
