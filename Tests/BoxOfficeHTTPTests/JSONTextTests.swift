@testable import BoxOffice
@testable import BoxOfficeHTTP
import Foundation
import Testing

/// The hand-written hold body must say exactly what the default response encoder would.
@Suite struct JSONTextTests {
    struct EncodedHold: Encodable {
        struct Seat: Encodable { var id: Int, row: String, number: Int, category: String, price: Int }
        var id: String
        var showtime_id: Int
        var seats: [Seat]
        var total: Int
        var currency: String
        var expires_at: Date
        var extensions_used: Int
        var extensions_left: Int
    }

    @Test(arguments: ["A", "Loge \"Royal\"", "back\\slash", "tab\there, line\nbreak", "bell\u{07}", "Parkett é 🎬"])
    func aHoldBodyDecodesToWhatJSONEncoderWrites(row: String) throws {
        let place = SeatPlace(id: 7, rowIndex: 0, position: 3, category: row, x: 1, y: 2)
        let seat = ShowtimeLayout.Seat(id: 7, row: row, number: 3, category: "cat \(row)", x: 1, y: 2, price: 1250, place: place)
        let expires = Date(timeIntervalSince1970: 1_795_000_000.987)
        let hold = SeatHold(
            id: "42-00ff", showtimeID: 42, owner: UUID(), seats: [seat, seat], currency: "EUR",
            expiresAt: expires, extensionsUsed: 1, extensionsLeft: 1
        )
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let expected = try encoder.encode(EncodedHold(
            id: hold.id, showtime_id: 42,
            seats: [.init(id: 7, row: row, number: 3, category: "cat \(row)", price: 1250), .init(id: 7, row: row, number: 3, category: "cat \(row)", price: 1250)],
            total: 2500, currency: "EUR", expires_at: expires, extensions_used: 1, extensions_left: 1
        ))
        let written = HoldBody(hold).json
        let mine = try JSONSerialization.jsonObject(with: Data(written.utf8)) as? NSDictionary
        let theirs = try JSONSerialization.jsonObject(with: expected) as? NSDictionary
        #expect(mine != nil && mine == theirs, "\(written)")
    }
}
