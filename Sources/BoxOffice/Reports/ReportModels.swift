public import Foundation

// Money in every report, per currency (minor units):
// - gross: the amounts of bookings that were confirmed (`confirmed_at` set), including those
//   cancelled later;
// - refunds: the refunds recorded against those bookings, requested or succeeded (a failed
//   refund returned nothing);
// - net = gross − refunds.
// Every figure belongs to the showtime the booking is for, not to the day it was paid.

/// The instants `[from, to)` a report covers.
public struct ReportPeriod: Sendable, Equatable {
    public var from: Date
    public var to: Date

    public init(from: Date, to: Date) {
        self.from = from
        self.to = to
    }
}

/// A named row reference (`{id, name}` or `{id, title}` in JSON).
public struct ReportRef: Sendable, Equatable, Encodable {
    public var id: Int
    public var name: String

    public init(id: Int, name: String) {
        self.id = id
        self.name = name
    }
}

// MARK: - Showtimes

/// Filters of the showtimes report: showtimes starting within `period`, by start.
public struct ShowtimeReportFilter: Sendable, Equatable {
    public var period: ReportPeriod
    public var movieID: Int?
    public var hallID: Int?
    public var cinemaID: Int?

    public init(period: ReportPeriod, movieID: Int? = nil, hallID: Int? = nil, cinemaID: Int? = nil) {
        self.period = period
        self.movieID = movieID
        self.hallID = hallID
        self.cinemaID = cinemaID
    }
}

/// One showtime's sales.
public struct ShowtimeReportRow: Sendable, Equatable, Encodable {
    public var id: Int
    public var movie: ReportRef
    public var hall: ReportRef
    public var startsAt: Date
    /// The start in the cinema's time zone, `YYYY-MM-DDTHH:MM`.
    public var startsAtLocal: String
    public var status: String
    public var currency: String
    /// Seats of the showtime.
    public var capacity: Int
    /// Seats sold now (a cancelled booking's or showtime's seats are free again).
    public var sold: Int
    /// Seats held in Redis right now; nil when Redis could not be asked. 0 for showtimes that
    /// are cancelled or over, which have no holds.
    public var held: Int?
    /// capacity − sold − held (never below 0); nil when `held` is.
    public var available: Int?
    /// sold / capacity × 100, two decimals.
    public var occupancyPercent: Double
    public var grossMinor: Int
    public var refundsMinor: Int
    public var netMinor: Int { grossMinor - refundsMinor }
    /// Whether holds may exist: scheduled and not yet over.
    public var isOnSale: Bool

    public init(
        id: Int, movie: ReportRef, hall: ReportRef, startsAt: Date, startsAtLocal: String, status: String,
        currency: String, capacity: Int, sold: Int, held: Int?, occupancyPercent: Double,
        grossMinor: Int, refundsMinor: Int, isOnSale: Bool
    ) {
        self.id = id
        self.movie = movie
        self.hall = hall
        self.startsAt = startsAt
        self.startsAtLocal = startsAtLocal
        self.status = status
        self.currency = currency
        self.capacity = capacity
        self.sold = sold
        self.held = held
        self.occupancyPercent = occupancyPercent
        self.grossMinor = grossMinor
        self.refundsMinor = refundsMinor
        self.isOnSale = isOnSale
        self.available = held.map { max(0, capacity - sold - $0) }
    }

    /// Sets the live hold count (nil: unknown), and `available` with it.
    public mutating func setHeld(_ held: Int?) {
        self.held = held
        self.available = held.map { max(0, capacity - sold - $0) }
    }

    enum CodingKeys: String, CodingKey {
        case id, movie, hall, status, currency, capacity, sold, held, available
        case startsAt = "starts_at"
        case startsAtLocal = "starts_at_local"
        case occupancyPercent = "occupancy_pct"
        case grossMinor = "gross_minor"
        case refundsMinor = "refunds_minor"
        case netMinor = "net_minor"
    }

    enum RefKeys: String, CodingKey { case id, title, name }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        var movieContainer = container.nestedContainer(keyedBy: RefKeys.self, forKey: .movie)
        try movieContainer.encode(movie.id, forKey: .id)
        try movieContainer.encode(movie.name, forKey: .title)
        try container.encode(hall, forKey: .hall)
        try container.encode(startsAt, forKey: .startsAt)
        try container.encode(startsAtLocal, forKey: .startsAtLocal)
        try container.encode(status, forKey: .status)
        try container.encode(currency, forKey: .currency)
        try container.encode(capacity, forKey: .capacity)
        try container.encode(sold, forKey: .sold)
        // Explicit nulls: "Redis did not answer" is information, not a missing field.
        try container.encode(held, forKey: .held)
        try container.encode(available, forKey: .available)
        try container.encode(occupancyPercent, forKey: .occupancyPercent)
        try container.encode(grossMinor, forKey: .grossMinor)
        try container.encode(refundsMinor, forKey: .refundsMinor)
        try container.encode(netMinor, forKey: .netMinor)
    }
}

// MARK: - Revenue

/// How the revenue report groups showtimes. Day, day of week and time slot are taken from
/// the showtime's start in the cinema's time zone.
public enum RevenueGrouping: String, Sendable, CaseIterable {
    case movie, genre, hall, cinema, city, day
    case dayOfWeek = "day_of_week"
    case timeSlot = "time_slot"
}

/// One group of the revenue report, or the totals of one currency (`key` and `label` nil).
public struct RevenueRow: Sendable, Equatable, Encodable {
    /// The movie, genre or hall id (as text), the local day `YYYY-MM-DD`, the ISO day of week
    /// `1` (Monday) to `7`, or the slot's name; nil for movies without a genre, and in totals.
    public var key: String?
    /// Title, name, day, weekday name or slot name.
    public var label: String?
    public var currency: String
    /// Scheduled showtimes in the group.
    public var showtimes: Int
    public var cancelledShowtimes: Int
    /// Seats sold now.
    public var ticketsSold: Int
    public var grossMinor: Int
    public var refundsMinor: Int
    public var netMinor: Int { grossMinor - refundsMinor }
    /// The mean of the scheduled showtimes' occupancy (%), two decimals; nil without any.
    public var averageOccupancyPercent: Double?

    public init(
        key: String?, label: String?, currency: String, showtimes: Int, cancelledShowtimes: Int,
        ticketsSold: Int, grossMinor: Int, refundsMinor: Int, averageOccupancyPercent: Double?
    ) {
        self.key = key
        self.label = label
        self.currency = currency
        self.showtimes = showtimes
        self.cancelledShowtimes = cancelledShowtimes
        self.ticketsSold = ticketsSold
        self.grossMinor = grossMinor
        self.refundsMinor = refundsMinor
        self.averageOccupancyPercent = averageOccupancyPercent
    }

    enum CodingKeys: String, CodingKey {
        case key, label, currency, showtimes
        case cancelledShowtimes = "cancelled_showtimes"
        case ticketsSold = "tickets_sold"
        case grossMinor = "gross_minor"
        case refundsMinor = "refunds_minor"
        case netMinor = "net_minor"
        case averageOccupancyPercent = "average_occupancy_pct"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(key, forKey: .key)
        try container.encode(label, forKey: .label)
        try container.encode(currency, forKey: .currency)
        try container.encode(showtimes, forKey: .showtimes)
        try container.encode(cancelledShowtimes, forKey: .cancelledShowtimes)
        try container.encode(ticketsSold, forKey: .ticketsSold)
        try container.encode(grossMinor, forKey: .grossMinor)
        try container.encode(refundsMinor, forKey: .refundsMinor)
        try container.encode(netMinor, forKey: .netMinor)
        try container.encode(averageOccupancyPercent, forKey: .averageOccupancyPercent)
    }
}

/// The revenue report: its groups, and the totals per currency (a showtime counts once in the
/// totals even when its movie has several genres).
public struct RevenueReport: Sendable, Equatable, Encodable {
    public var groupBy: RevenueGrouping
    public var from: Date
    public var to: Date
    public var timeZone: String
    public var groups: [RevenueRow]
    public var totals: [RevenueRow]

    public init(groupBy: RevenueGrouping, period: ReportPeriod, timeZone: String, groups: [RevenueRow], totals: [RevenueRow]) {
        self.groupBy = groupBy
        self.from = period.from
        self.to = period.to
        self.timeZone = timeZone
        self.groups = groups
        self.totals = totals
    }

    enum CodingKeys: String, CodingKey {
        case from, to, groups, totals
        case groupBy = "group_by"
        case timeZone = "time_zone"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(groupBy.rawValue, forKey: .groupBy)
        try container.encode(from, forKey: .from)
        try container.encode(to, forKey: .to)
        try container.encode(timeZone, forKey: .timeZone)
        try container.encode(groups, forKey: .groups)
        try container.encode(totals, forKey: .totals)
    }
}

// MARK: - Reservations

/// Filters of the reservations report; all optional. `period` is when the booking was made.
public struct ReservationFilter: Sendable, Equatable {
    public var movieID: Int?
    public var showtimeID: Int?
    public var userID: UUID?
    public var statuses: [BookingStatus]
    public var period: ReportPeriod?
    public var cinemaID: Int?

    public init(
        movieID: Int? = nil, showtimeID: Int? = nil, userID: UUID? = nil, statuses: [BookingStatus] = [], period: ReportPeriod? = nil,
        cinemaID: Int? = nil
    ) {
        self.cinemaID = cinemaID
        self.movieID = movieID
        self.showtimeID = showtimeID
        self.userID = userID
        self.statuses = statuses
        self.period = period
    }
}

/// One booking with its user, showtime and seats.
public struct ReservationRow: Sendable, Equatable, Encodable {
    public struct User: Sendable, Equatable, Encodable {
        public var id: UUID
        public var email: String
        public var name: String

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id.canonical, forKey: .id)
            try container.encode(email, forKey: .email)
            try container.encode(name, forKey: .name)
        }

        enum CodingKeys: String, CodingKey { case id, email, name }
    }

    public struct ShowtimeRef: Sendable, Equatable, Encodable {
        public var id: Int
        public var startsAt: Date
        public var movie: ReportRef
        public var hall: ReportRef

        enum CodingKeys: String, CodingKey {
            case id, movie, hall
            case startsAt = "starts_at"
        }

        enum RefKeys: String, CodingKey { case id, title }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(startsAt, forKey: .startsAt)
            var movieContainer = container.nestedContainer(keyedBy: RefKeys.self, forKey: .movie)
            try movieContainer.encode(movie.id, forKey: .id)
            try movieContainer.encode(movie.name, forKey: .title)
            try container.encode(hall, forKey: .hall)
        }
    }

    public struct Seat: Sendable, Equatable, Encodable {
        public var id: Int
        public var row: String
        public var number: Int
        public var priceMinor: Int

        /// `A7`: row label and number, as printed on a ticket.
        public var label: String { row + String(number) }

        enum CodingKeys: String, CodingKey {
            case id, row, number
            case priceMinor = "price_minor"
        }
    }

    public var id: UUID
    public var createdAt: Date
    public var status: String
    public var amountMinor: Int
    public var refundedMinor: Int
    public var currency: String
    public var confirmedAt: Date?
    public var cancelledAt: Date?
    public var user: User
    public var showtime: ShowtimeRef
    public var seats: [Seat]

    enum CodingKeys: String, CodingKey {
        case id, status, currency, user, showtime, seats
        case createdAt = "created_at"
        case amountMinor = "amount_minor"
        case refundedMinor = "refunded_minor"
        case confirmedAt = "confirmed_at"
        case cancelledAt = "cancelled_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id.canonical, forKey: .id)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(status, forKey: .status)
        try container.encode(amountMinor, forKey: .amountMinor)
        try container.encode(refundedMinor, forKey: .refundedMinor)
        try container.encode(currency, forKey: .currency)
        try container.encode(confirmedAt, forKey: .confirmedAt)
        try container.encode(cancelledAt, forKey: .cancelledAt)
        try container.encode(user, forKey: .user)
        try container.encode(showtime, forKey: .showtime)
        try container.encode(seats, forKey: .seats)
    }
}

// MARK: - Pages

/// A page of a report, in a stable order; `nextCursor` (nil on the last page) asks for the next.
public struct ReportPage<Item: Sendable & Encodable & Equatable>: Sendable, Equatable, Encodable {
    public var items: [Item]
    public var nextCursor: ReportCursor?

    public init(items: [Item], nextCursor: ReportCursor?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(nextCursor?.token, forKey: .nextCursor)
    }
}

/// Where a page ends, for keyset paging: the last row's sort instant (µs since 1970) and id.
/// Clients see it as an opaque token.
public struct ReportCursor: Sendable, Equatable {
    public var microseconds: Int64
    public var id: String

    public init(microseconds: Int64, id: String) {
        self.microseconds = microseconds
        self.id = id
    }

    /// base64url of `<microseconds>_<id>`.
    public var token: String {
        Data("\(microseconds)_\(id)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Reads a token; nil when it is not one this server wrote.
    public init?(token: String) {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64.append("=") }
        guard token.count <= 200, let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8),
              let separator = text.firstIndex(of: "_"),
              let microseconds = Int64(text[..<separator])
        else { return nil }
        let id = String(text[text.index(after: separator)...])
        guard !id.isEmpty else { return nil }
        self.init(microseconds: microseconds, id: id)
    }
}
