public import PostgresClient

/// A showtime is `scheduled` until staff cancel it; a cancelled one sells nothing and its
/// bookings are refunded.
public enum ShowtimeStatus: String, Sendable, CaseIterable, Codable, PostgresCodable {
    case scheduled, cancelled
}
