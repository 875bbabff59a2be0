import BoxOffice
import Foundation
import NIOCore
import ServiceLifecycle

/// One live client of a showtime's availability, whatever carries it (server-sent events or a
/// WebSocket): a snapshot, or only the deltas it missed when it names the version it last saw,
/// then every delta in order. One fan-out (`AvailabilityBroadcaster`) feeds every transport.
struct LiveSession: Sendable {
    enum Message: Sendable {
        /// The whole seat map (`version` nil when read from PostgreSQL while Redis is down).
        case snapshot(version: Int?, json: ByteBuffer)
        /// Deltas in order, versions contiguous, to be written at once.
        case deltas([AvailabilityDelta])
        /// Nothing happened for a while: lets a transport without its own keep-alive notice a
        /// client that went away.
        case heartbeat
    }

    /// Why a session ended.
    enum End: Sendable, Equatable {
        /// The server is stopping.
        case shutdown
        /// The client was too far behind: it resumes with its version.
        case tooSlow
        /// The showtime's subscription was lost (its Redis node failed over): deltas may have
        /// been missed, so the client reconnects.
        case subscriptionLost
    }

    let holds: HoldService
    let broadcaster: AvailabilityBroadcaster
    let renderer: SeatMapRenderer

    /// Subscribes first and reads the map second, so that no delta falls between the two. A
    /// delta whose version does not follow the last one sent (a version that published no
    /// delta, as when the sold cache was reloaded) is answered with a fresh snapshot.
    func run(
        showtimeID: Int, viewer: UUID?, since: Int?, heartbeat: Duration?,
        whenDroppedAsSlow: (@Sendable () -> Void)? = nil,
        send: (Message) async throws -> Void
    ) async throws -> End {
        try await broadcaster.withDeltas(showtimeID: showtimeID, whenDropped: whenDroppedAsSlow) { feed in
            // The feed is read directly (no queue in between): a client that cannot keep up must
            // leave its deltas waiting there, where the fan-out sees them and drops it.
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let heartbeat {
                    group.addTask {
                        while true {
                            try await Task.sleep(for: heartbeat)
                            feed.heartbeat()
                        }
                    }
                }
                defer { group.cancelAll() }

                /// The version the client has now; nil when unknown (a degraded map).
                var current: Int?
                func snapshot(_ map: SeatMap) async throws {
                    current = map.version
                    try await send(.snapshot(version: map.version, json: renderer.render(map, viewer: viewer).full))
                }
                func readMap() async throws -> SeatMap {
                    guard case .map(let map) = try await holds.seatMap(showtimeID: showtimeID, viewer: viewer) else {
                        throw BoxOfficeError(.unavailable(service: "redis", retryAfterSeconds: 1), code: "redis_unavailable",
                                             message: "The seat map could not be read.")
                    }
                    return map
                }

                let map = try await readMap()
                if let version = map.version {
                    switch broadcaster.resume(showtimeID: showtimeID, since: since, current: version) {
                    case .upToDate:
                        current = version
                    case .deltas(let missed):
                        current = missed.last?.version ?? since
                        if !missed.isEmpty { try await send(.deltas(missed)) }
                    case .snapshot:
                        try await snapshot(map)
                    }
                } else {
                    try await snapshot(map)
                }

                // Ends at graceful shutdown, so that the server need not wait for streams.
                for await batch in feed.cancelOnGracefulShutdown() {
                    guard !batch.isEmpty else {
                        try await send(.heartbeat)
                        continue
                    }
                    var next: [AvailabilityDelta] = []
                    for delta in batch {
                        if let known = current, delta.version <= known { continue }
                        if let known = current, delta.version == known + 1 {
                            next.append(delta)
                            current = delta.version
                            continue
                        }
                        // A gap: what was gathered, then the whole map (it includes this delta).
                        if !next.isEmpty { try await send(.deltas(next)) }
                        next = []
                        try await snapshot(try await readMap())
                    }
                    if !next.isEmpty { try await send(.deltas(next)) }
                }
                if Task.isShuttingDownGracefully { return .shutdown }
                return feed.droppedAsSlow ? .tooSlow : .subscriptionLost
            }
        }
    }
}
