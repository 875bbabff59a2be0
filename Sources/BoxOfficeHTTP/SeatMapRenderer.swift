import BoxOffice
import Foundation
import NIOCore
import Synchronization

/// Renders seat maps as JSON by hand from per-seat pieces encoded once per layout, and keeps
/// the rendering for viewers who hold nothing, per showtime and version: polling clients of a
/// popular showtime then cost one small Redis script and a buffer copy.
final class SeatMapRenderer: Sendable {
    struct Rendered: Sendable {
        var version: Int
        var bodies: SeatMapBodies
        /// When Redis last said this version was current.
        var confirmedAt: ContinuousClock.Instant
    }

    private struct Pieces {
        /// The layout they were made from; a reloaded layout makes new pieces.
        var startsAt: Date
        var seatCount: Int
        var head: String
        /// `{"id":1,...,"status":"` for each seat.
        var seats: [String]
    }

    private let pieces = Mutex<[Int: Pieces]>([:])
    private let rendered = Mutex<[Int: Rendered]>([:])

    private let reads = Mutex<[Int: Task<(SeatMapBodies, version: Int?), any Error>]>([:])

    func cached(showtimeID: Int) -> Rendered? {
        rendered.withLock { $0[showtimeID] }
    }

    /// The rendering for viewers who hold nothing, if Redis said it was current within `maxAge`.
    func shared(showtimeID: Int, maxAge: Duration) -> Rendered? {
        guard maxAge > .zero, let cached = cached(showtimeID: showtimeID),
              ContinuousClock.now - cached.confirmedAt <= maxAge else { return nil }
        return cached
    }

    /// Redis said `version` is still current.
    func confirm(showtimeID: Int, version: Int) {
        let now = ContinuousClock.now
        rendered.withLock { all in
            if all[showtimeID]?.version == version { all[showtimeID]?.confirmedAt = now }
        }
    }

    /// Runs `read` once for every caller that asks for the same showtime while it runs.
    func coalescing(
        showtimeID: Int, _ read: @escaping @Sendable () async throws -> (SeatMapBodies, version: Int?)
    ) async throws -> (SeatMapBodies, version: Int?) {
        let task = reads.withLock { reads in
            if let running = reads[showtimeID] { return running }
            let task = Task {
                defer { _ = self.reads.withLock { $0.removeValue(forKey: showtimeID) } }
                return try await read()
            }
            reads[showtimeID] = task
            return task
        }
        return try await task.value
    }

    func render(_ map: SeatMap, viewer: UUID?) -> SeatMapBodies {
        let layout = map.layout
        let parts = pieces(for: layout)
        let state = "\"version\":\(map.version.map(String.init) ?? "null"),\"degraded\":\(map.isDegraded)"
        var text = parts.head
        text.reserveCapacity(parts.seats.reduce(parts.head.utf8.count + 64) { $0 + $1.utf8.count + 16 })
        text += state + ",\"seats\":["
        var letters = ""
        letters.reserveCapacity(map.statuses.count)
        for (index, seat) in parts.seats.enumerated() {
            if index > 0 { text += "," }
            text += seat
            text += map.statuses[index].rawValue
            text += "\"}"
            letters.unicodeScalars.append(SeatMapView.letter(map.statuses[index]))
        }
        text += "]}"
        let bodies = SeatMapBodies(
            full: ByteBuffer(string: text),
            statuses: ByteBuffer(string: "{\"showtime_id\":\(layout.showtimeID),\(state),\"statuses\":\"\(letters)\"}")
        )
        // Only a map with no seat of the viewer's own is right for everyone else too.
        if let version = map.version, !map.statuses.contains(.heldByYou) {
            rendered.withLock { all in
                if (all[layout.showtimeID]?.version ?? Int.min) <= version {
                    all[layout.showtimeID] = Rendered(version: version, bodies: bodies, confirmedAt: .now)
                }
            }
        }
        return bodies
    }

    private func pieces(for layout: ShowtimeLayout) -> Pieces {
        if let existing = pieces.withLock({ $0[layout.showtimeID] }),
           existing.startsAt == layout.startsAt, existing.seatCount == layout.seats.count {
            return existing
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func json(_ value: some Encodable) -> String {
            (try? encoder.encode(value)).flatMap { String(data: $0, encoding: .utf8) } ?? "null"
        }
        struct SeatJSON: Encodable {
            var id: Int, row: String, number: Int, category: String, x: Double, y: Double, price: Int
        }
        let seats = layout.seats.map { seat -> String in
            let object = json(SeatJSON(
                id: seat.id, row: seat.row, number: seat.number, category: seat.category, x: seat.x, y: seat.y, price: seat.price
            ))
            return String(object.dropLast()) + ",\"status\":\""
        }
        let head = "{\"showtime_id\":\(layout.showtimeID),\"currency\":\(json(layout.currency)),\"prices\":\(json(layout.prices)),"
        let made = Pieces(startsAt: layout.startsAt, seatCount: layout.seats.count, head: head, seats: seats)
        pieces.withLock { $0[layout.showtimeID] = made }
        return made
    }
}

/// What a seat map request asks for: every seat with its place, category and price, or only
/// the statuses, for clients that read the layout once and then poll (about 1 byte a seat
/// instead of about 100).
enum SeatMapView: Sendable {
    case full, statuses

    init(query: String?) throws(BoxOfficeError) {
        switch query {
        case nil, "full": self = .full
        case "statuses": self = .statuses
        default: throw .validation(field: "view", "must be full or statuses.")
        }
    }

    /// The letter for a status in `statuses`: a(vailable), h(eld), y(ours), s(old).
    static func letter(_ status: SeatMap.Status) -> Unicode.Scalar {
        switch status {
        case .available: "a"
        case .held: "h"
        case .heldByYou: "y"
        case .sold: "s"
        }
    }
}

/// One seat map rendered both ways.
struct SeatMapBodies: Sendable {
    var full: ByteBuffer
    var statuses: ByteBuffer

    subscript(view: SeatMapView) -> ByteBuffer {
        switch view {
        case .full: full
        case .statuses: statuses
        }
    }
}
