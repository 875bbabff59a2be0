import BoxOffice
import Foundation
public import Hummingbird
public import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import ServiceLifecycle

/// The context of a WebSocket upgrade. Its own type, so that ordinary requests do not carry the
/// upgrade's handler reference; the live route reads the token itself.
public struct LiveSocketContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<LiveSocketContext>
    /// To drop a client whose writes no longer complete (see `LiveSocket.stuckWriteGrace`).
    let channel: any Channel

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.channel = source.channel
    }
}

/// `GET /showtimes/{id}/live` with `Upgrade: websocket`: the messages of the event stream as
/// JSON text messages (`{"type":"snapshot",…}` with the seat map, `{"type":"deltas",
/// "deltas":[…]}` with one or more deltas in order), from the same fan-out. Ping/pong keep the
/// connection alive. The server ends a session with a close code a client can act on:
///
/// - 4100 `too_slow`: the client fell too far behind; reconnect with `?since=` the last version.
/// - 4101 `resync`: the showtime's subscription was lost (a Redis failover); reconnect with
///   `?since=`.
/// - 4000 + an HTTP status for a refusal (4401 a bad token, 4404 no such showtime, 4422 a bad
///   `since`, 4503 live updates unavailable for a moment); the reason is `code: message`.
/// - 1001 when the server is stopping.
public struct LiveSocket: Sendable {
    let session: LiveSession
    let tokens: AccessTokens

    /// How long a write may stall after the client was found too slow before the connection is
    /// cut without a close frame (a client that reads nothing never reads one either).
    static let stuckWriteGrace: Duration = .seconds(5)

    public init(dependencies: AppDependencies) {
        self.session = LiveSession(holds: dependencies.holds, broadcaster: dependencies.broadcaster, renderer: SeatMapRenderer())
        self.tokens = dependencies.tokens
    }

    /// The router the server consults for upgrade requests only; plain requests to the same
    /// path reach the main router (server-sent events).
    public func router() -> Router<LiveSocketContext> {
        let router = Router(context: LiveSocketContext.self)
        router.ws("/showtimes/:id/live") { inbound, outbound, context in
            await serve(inbound: inbound, outbound: outbound, context: context)
        }
        return router
    }

    enum CloseCode {
        static let tooSlow = WebSocketErrorCode(codeNumber: 4100)
        static let resync = WebSocketErrorCode(codeNumber: 4101)
    }

    private func serve(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, context: WebSocketRouterContext<LiveSocketContext>
    ) async {
        let logger = context.logger
        let parameters: (showtimeID: Int, since: Int?, viewer: UUID?)
        do {
            parameters = try await self.parameters(of: context)
            guard await session.broadcaster.follow(showtimeID: parameters.showtimeID) else {
                throw BoxOfficeError(
                    .unavailable(service: "redis", retryAfterSeconds: 1), code: "live_unavailable",
                    message: "Live updates are unavailable for a moment; reconnect shortly."
                )
            }
        } catch {
            let problem = ProblemMiddleware<LiveSocketContext>.problem(for: error)
            try? await outbound.close(.init(codeNumber: 4000 + Int(problem.status.code)), reason: Self.reason(problem.code, problem.message))
            // Read on until the client's close answers ours: what completes the closing handshake.
            do { for try await _ in inbound {} } catch {}
            return
        }
        let channel = context.requestContext.channel
        let end: LiveSession.End? = await withTaskGroup(of: LiveSession.End?.self) { group in
            // Read what the client sends (nothing but control frames): that is what answers
            // pings and notices its close.
            group.addTask {
                do { for try await _ in inbound {} } catch {}
                return nil
            }
            group.addTask {
                do {
                    return try await session.run(
                        showtimeID: parameters.showtimeID, viewer: parameters.viewer, since: parameters.since, heartbeat: nil,
                        whenDroppedAsSlow: {
                            Task {
                                try? await Task.sleep(for: Self.stuckWriteGrace)
                                channel.close(promise: nil)
                            }
                        }
                    ) { message in
                        try await outbound.writeTextMessage(Self.text(message))
                    }
                } catch {
                    logger.debug("live socket ended", metadata: ["error": "\(error)"])
                    return nil
                }
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        switch end {
        case .tooSlow?: try? await outbound.close(CloseCode.tooSlow, reason: "too_slow: reconnect with ?since=<last version>")
        case .subscriptionLost?: try? await outbound.close(CloseCode.resync, reason: "resync: reconnect with ?since=<last version>")
        case .shutdown?: try? await outbound.close(.goingAway, reason: "the server is stopping")
        case nil: break  // the client went, or its connection broke
        }
    }

    private func parameters(of context: WebSocketRouterContext<LiveSocketContext>) async throws -> (showtimeID: Int, since: Int?, viewer: UUID?) {
        let text = context.requestContext.parameters.get("id") ?? ""
        guard let showtimeID = Int(text), showtimeID > 0 else { throw BoxOfficeError.notFound("Showtime '\(text)'") }
        var validator = Validator()
        let since = SchedulingQuery.integer(context.request, "since", &validator)
        try validator.validate()
        var viewer: UUID?
        if let header = context.request.headers[.authorization] {
            guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
                throw BoxOfficeError(.unauthorized, code: "invalid_token", message: "Use 'Authorization: Bearer <access token>'.")
            }
            viewer = try await tokens.verify(String(header.dropFirst(7))).userID
        }
        _ = try await session.holds.layouts.layout(for: showtimeID)  // 4404 for an unknown showtime
        return (showtimeID, since, viewer)
    }

    /// A close reason fits in 123 bytes of UTF-8.
    static func reason(_ code: String, _ message: String) -> String {
        var reason = "\(code): \(message)"
        while reason.utf8.count > 123 { reason.removeLast() }
        return reason
    }

    /// A session's message as one JSON text message.
    static func text(_ message: LiveSession.Message) -> String {
        switch message {
        case .snapshot(_, let json):
            // `{"type":"snapshot",` then the map's members.
            var text = "{\"type\":\"snapshot\","
            text += String(buffer: json).dropFirst()
            return text
        case .deltas(let deltas):
            var text = "{\"type\":\"deltas\",\"version\":\(deltas.last?.version ?? 0),\"deltas\":["
            for (index, delta) in deltas.enumerated() {
                if index > 0 { text += "," }
                text += delta.json
            }
            return text + "]}"
        case .heartbeat:
            return "{\"type\":\"heartbeat\"}"
        }
    }
}
