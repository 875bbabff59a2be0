import Foundation
import NIOCore

/// A showtime's seats as the simulated people see them. The layout never changes during a
/// sale, so it is decoded once; every later 200 is only scanned for its statuses. Building a
/// JSON tree of a 1,000-seat map hundreds of times a second cost the generator more CPU than
/// the server spent answering (profiled: 70% of the generator's time), which made the run
/// measure the generator rather than the server.
final class ShowtimeSeats: Sendable {
    struct Seat: Sendable, Decodable {
        var id: Int
        var row: String
        var number: Int
        var x: Double
        var y: Double
    }

    let seats: [Seat]
    /// Seat indices, nearest the centre (two thirds back) first: where people want to sit.
    let byCentre: [Int]
    private let indexByPlace: [Place: Int]

    private struct Place: Hashable {
        var row: String
        var number: Int
    }

    init(seats: [Seat]) {
        self.seats = seats
        let xs = seats.map(\.x), ys = seats.map(\.y)
        let centreX = ((xs.min() ?? 0) + (xs.max() ?? 0)) / 2
        let centreY = (ys.min() ?? 0) + ((ys.max() ?? 0) - (ys.min() ?? 0)) * 2 / 3
        func distance(_ seat: Seat) -> Double {
            (seat.x - centreX) * (seat.x - centreX) + (seat.y - centreY) * (seat.y - centreY)
        }
        byCentre = seats.indices.sorted { distance(seats[$0]) < distance(seats[$1]) }
        indexByPlace = Dictionary(
            seats.enumerated().map { (Place(row: $0.element.row, number: $0.element.number), $0.offset) },
            uniquingKeysWith: { first, _ in first }
        )
    }

    /// The index of the seat at `number` in `row`, if the hall has one there.
    func index(row: String, number: Int) -> Int? {
        indexByPlace[Place(row: row, number: number)]
    }

    /// Reads a whole seat map: the layout and each seat's availability.
    static func decode(_ body: ByteBuffer) -> (ShowtimeSeats, free: [Bool])? {
        struct Body: Decodable { var seats: [Seat] }
        guard let decoded = try? JSONDecoder().decode(Body.self, from: Data(body.readableBytesView)) else { return nil }
        let layout = ShowtimeSeats(seats: decoded.seats)
        guard let free = layout.availability(in: body) else { return nil }
        return (layout, free)
    }

    /// Each seat's availability in a seat map of this layout, in layout order, found by scanning
    /// for `"status":"`; nil when the body does not have one status per seat.
    func availability(in body: ByteBuffer) -> [Bool]? {
        let marker = Array(#""status":""#.utf8)
        var free: [Bool] = []
        free.reserveCapacity(seats.count)
        body.withUnsafeReadableBytes { bytes in
            var index = 0
            let end = bytes.count - marker.count
            scanning: while index < end {
                guard bytes[index] == marker[0] else { index += 1; continue }
                for offset in 1..<marker.count where bytes[index + offset] != marker[offset] {
                    index += 1
                    continue scanning
                }
                // "available" is the only status that starts with an "a".
                free.append(bytes[index + marker.count] == UInt8(ascii: "a"))
                index += marker.count
            }
        }
        return free.count == seats.count ? free : nil
    }

    /// Each seat's availability in a `?view=statuses` answer (one letter per seat, in layout
    /// order); nil when it does not have one letter per seat.
    func availability(inStatuses body: ByteBuffer) -> [Bool]? {
        let marker = Array(#""statuses":""#.utf8)
        return body.withUnsafeReadableBytes { bytes -> [Bool]? in
            guard let start = bytes.indices.first(where: { index in
                index + marker.count <= bytes.count && marker.indices.allSatisfy { bytes[index + $0] == marker[$0] }
            }) else { return nil }
            var free: [Bool] = []
            free.reserveCapacity(seats.count)
            var index = start + marker.count
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                free.append(bytes[index] == UInt8(ascii: "a"))
                index += 1
            }
            return free.count == seats.count ? free : nil
        }
    }
}

/// One seat map as a person last saw it.
struct SeatMapSnapshot: Sendable {
    var etag: String
    var layout: ShowtimeSeats
    /// Per seat of `layout.seats`: free to hold.
    var free: [Bool]

    var freeCount: Int { free.reduce(0) { $0 + ($1 ? 1 : 0) } }
}
