public import Foundation

/// A point in seat coordinates.
public struct SeatPoint: Sendable, Codable, Equatable {
    public var x: Double
    public var y: Double

    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

/// A live seat of a hall, as clients draw it.
public struct HallSeat: Sendable, Codable, Equatable {
    public var id: Int
    public var row: String
    public var rowIndex: Int
    public var number: Int
    public var position: Int
    public var category: String
    public var x: Double
    public var y: Double

    enum CodingKeys: String, CodingKey {
        case id, row, number, position, category, x, y
        case rowIndex = "row_index"
    }
}

/// A hall; `seats` only where the whole layout is asked for.
public struct Hall: Sendable, Codable, Equatable {
    public var id: Int
    public var cinemaID: Int
    public var name: String
    public var cleaningMinutes: Int
    public var bestView: SeatPoint
    public var seatCount: Int
    public var categories: [String]
    public var seats: [HallSeat]?

    enum CodingKeys: String, CodingKey {
        case id, name, categories, seats
        case cinemaID = "cinema_id"
        case cleaningMinutes = "cleaning_minutes"
        case bestView = "best_view"
        case seatCount = "seat_count"
    }
}

/// What an admin sends to create or replace a hall.
public struct HallInput: Sendable, Codable {
    public var name: String
    public var cleaningMinutes: Int
    public var bestView: SeatPoint?
    /// Required on create; on update, nil keeps the current layout.
    public var layout: LayoutInput?
    /// The cinema it belongs to; on create, absent means the default (first) cinema; on
    /// update, absent keeps it.
    public var cinemaID: Int?

    enum CodingKeys: String, CodingKey {
        case name, layout
        case cinemaID = "cinema_id"
        case cleaningMinutes = "cleaning_minutes"
        case bestView = "best_view"
    }

    public init(name: String, cleaningMinutes: Int, bestView: SeatPoint? = nil, layout: LayoutInput? = nil) {
        self.name = name
        self.cleaningMinutes = cleaningMinutes
        self.bestView = bestView
        self.layout = layout
    }
}

/// A page of a list.
public struct HallList: Sendable, Codable {
    public var items: [Hall]
    public var total: Int
    public var limit: Int
    public var offset: Int
}

/// A showtime as the programme shows it.
public struct Showtime: Sendable, Codable, Equatable {
    public struct Movie: Sendable, Codable, Equatable {
        public var id: Int
        public var title: String
        public var durationMinutes: Int

        enum CodingKeys: String, CodingKey {
            case id, title
            case durationMinutes = "duration_minutes"
        }
    }

    public struct HallRef: Sendable, Codable, Equatable {
        public var id: Int
        public var name: String
    }

    public struct CinemaRef: Sendable, Codable, Equatable {
        public var id: Int
        public var name: String
        public var city: String
        public var timeZone: String

        enum CodingKeys: String, CodingKey {
            case id, name, city
            case timeZone = "time_zone"
        }
    }

    public var id: Int
    public var startsAt: Date
    public var endsAt: Date
    public var status: String
    public var currency: String
    /// Minor units by seat category.
    public var prices: [String: Int]
    public var movie: Movie
    public var hall: HallRef
    public var cinema: CinemaRef
    /// The start in the cinema's time zone, with its offset: `2026-05-01T20:00:00+02:00`.
    public var localStartsAt: String
    public var cancelledAt: Date?
    /// When its seats go on sale; nil: since it was scheduled.
    public var saleOpensAt: Date?
    public var waitingRoom: WaitingRoomMode
    /// The number of seats; only on a single showtime.
    public var capacity: Int?

    enum CodingKeys: String, CodingKey {
        case id, status, currency, prices, movie, hall, capacity, cinema
        case startsAt = "starts_at"
        case localStartsAt = "local_starts_at"
        case endsAt = "ends_at"
        case cancelledAt = "cancelled_at"
        case saleOpensAt = "sale_opens_at"
        case waitingRoom = "waiting_room"
    }
}

public struct ShowtimeList: Sendable, Codable {
    public var items: [Showtime]
    public var total: Int
    public var limit: Int
    public var offset: Int
}

/// What an admin sends to schedule a showtime. `starts_at` is read here rather than by the
/// JSON decoder so that a bad timestamp is a 422 naming the field.
public struct ShowtimeInput: Sendable, Codable {
    public var movieID: Int
    public var hallID: Int
    public var startsAt: String
    public var currency: String?
    public var prices: [String: Int]
    /// When its seats go on sale (before the start); absent: at once.
    public var saleOpensAt: String?
    public var waitingRoom: WaitingRoomMode?

    enum CodingKeys: String, CodingKey {
        case currency, prices
        case movieID = "movie_id"
        case hallID = "hall_id"
        case startsAt = "starts_at"
        case saleOpensAt = "sale_opens_at"
        case waitingRoom = "waiting_room"
    }

    public init(
        movieID: Int, hallID: Int, startsAt: String, currency: String? = nil, prices: [String: Int],
        saleOpensAt: String? = nil, waitingRoom: WaitingRoomMode? = nil
    ) {
        self.movieID = movieID
        self.hallID = hallID
        self.startsAt = startsAt
        self.currency = currency
        self.prices = prices
        self.saleOpensAt = saleOpensAt
        self.waitingRoom = waitingRoom
    }
}

/// A change to a showtime; absent fields stay.
public struct ShowtimeChange: Sendable, Codable {
    public var startsAt: String?
    public var currency: String?
    public var prices: [String: Int]?
    public var saleOpensAt: String?
    public var waitingRoom: WaitingRoomMode?

    enum CodingKeys: String, CodingKey {
        case currency, prices
        case startsAt = "starts_at"
        case saleOpensAt = "sale_opens_at"
        case waitingRoom = "waiting_room"
    }

    public init(
        startsAt: String? = nil, currency: String? = nil, prices: [String: Int]? = nil,
        saleOpensAt: String? = nil, waitingRoom: WaitingRoomMode? = nil
    ) {
        self.startsAt = startsAt
        self.currency = currency
        self.prices = prices
        self.saleOpensAt = saleOpensAt
        self.waitingRoom = waitingRoom
    }
}

/// The filters of the public programme.
public struct ShowtimeFilter: Sendable {
    /// The day's instants, `[from, to)`.
    public var from: Date
    public var to: Date
    public var genreID: Int?
    public var movieID: Int?
    public var hallID: Int?
    /// The day (YYYY-MM-DD) as each showtime's cinema counts it; `from` and `to` then only
    /// bound the search (a day spans every time zone within them).
    public var localDate: String?
    public var cinemaID: Int?
    public var city: String?
    public var limit: Int
    public var offset: Int

    public init(
        from: Date, to: Date, genreID: Int? = nil, movieID: Int? = nil, hallID: Int? = nil, localDate: String? = nil,
        cinemaID: Int? = nil, city: String? = nil, limit: Int = 50, offset: Int = 0
    ) {
        self.from = from
        self.to = to
        self.localDate = localDate
        self.cinemaID = cinemaID
        self.city = city
        self.genreID = genreID
        self.movieID = movieID
        self.hallID = hallID
        self.limit = limit
        self.offset = offset
    }
}
