import BoxOffice
import Foundation
import Logging
public import Hummingbird
import NIOCore

/// Staff reports: JSON pages, or CSV streamed page by page with `Accept: text/csv` or
/// `?format=csv`. Admins read the chain's (or one cinema's, `?cinema=`); staff and managers
/// their own cinema's only, its days counted in its time zone.
public struct ReportsController: Sendable {
    /// Rows read per query while streaming CSV.
    static let csvPageSize = 1000

    let reports: ReportStore
    let held: HeldSeatCounter
    let cinemas: CinemaStore
    let timeZone: TimeZone

    public init(_ dependencies: AppDependencies) {
        let settings = dependencies.settings
        self.reports = ReportStore(postgres: dependencies.reportsPostgres, timeZone: settings.timeZone, timeSlots: settings.timeSlots)
        self.held = HeldSeatCounter(redis: dependencies.redis, logger: Logger(label: "boxoffice.reports"))
        self.cinemas = CinemaStore(postgres: dependencies.postgres)
        self.timeZone = settings.timeZone
    }

    public func addRoutes(to router: Router<AppRequestContext>) {
        /// Per showtime starting in [from, to): capacity, sold, held now (Redis; null when it is
        /// down), available, occupancy, gross, refunds, net. Paged by `cursor`; CSV streams all.
        router.get("/admin/reports/showtimes") { request, context in
            let reach = try context.require(.readReports)
            var parameters = self.parameters(request)
            let cinemaID = try await cinema(&parameters, reach)
            let format = Self.format(request, &parameters)
            let period = parameters.period(required: true)
            let movieID = parameters.id("movie_id")
            let hallID = parameters.id("hall_id")
            let limit = parameters.limit()
            let cursor = parameters.cursor()
            try parameters.validate()
            let filter = ShowtimeReportFilter(period: period!, movieID: movieID, hallID: hallID, cinemaID: cinemaID)

            switch format {
            case .json:
                var page = try await reports.showtimes(filter, after: cursor, limit: limit)
                await held.fill(&page.items)
                return try context.responseEncoder.encode(ReportJSON(page), from: request, context: context)
            case .csv:
                // The first page before the status line, so that a failing database is still a problem+json.
                var firstPage = try await reports.showtimes(filter, after: nil, limit: Self.csvPageSize)
                let redisAnswered = await held.fill(&firstPage.items)
                let first = firstPage
                let reports = self.reports
                let held = self.held
                return Self.csv(filename: "showtimes-report.csv") { writer in
                    var buffer = ByteBuffer(string: ShowtimeReportRow.csvHeader)
                    var page = first
                    var redisUp = redisAnswered
                    while true {
                        for row in page.items { buffer.writeString(row.csvLine) }
                        try await writer.write(buffer)
                        buffer.clear()
                        guard let next = page.nextCursor else { break }
                        page = try await reports.showtimes(filter, after: next, limit: Self.csvPageSize)
                        // Redis failed once in this report: don't wait for it on every page.
                        if redisUp { redisUp = await held.fill(&page.items) } else { HeldSeatCounter.markUnknown(&page.items) }
                    }
                }
            }
        }

        /// Tickets sold, gross, refunds, net and average occupancy of the showtimes starting in
        /// [from, to), grouped by movie, genre, hall, day, day_of_week or time_slot (days and
        /// slots in the cinema's time zone), with totals per currency.
        router.get("/admin/reports/revenue") { request, context in
            let reach = try context.require(.readReports)
            var parameters = self.parameters(request)
            let cinemaID = try await cinema(&parameters, reach)
            let format = Self.format(request, &parameters)
            let period = parameters.period(required: true)
            let grouping = parameters.grouping()
            try parameters.validate()

            let report = try await reports.revenue(
                period: period!, groupBy: grouping, cinemaID: cinemaID, timeZone: cinemaID == nil ? nil : parameters.timeZone
            )
            switch format {
            case .json:
                return try context.responseEncoder.encode(ReportJSON(report), from: request, context: context)
            case .csv:
                return Self.csv(filename: "revenue-by-\(grouping.rawValue).csv") { writer in
                    var buffer = ByteBuffer(string: RevenueRow.csvHeader)
                    for row in report.groups { buffer.writeString(row.csvLine) }
                    try await writer.write(buffer)
                }
            }
        }

        /// Bookings (filtered by movie_id, showtime_id, user_id, status, and creation time in
        /// [from, to)), oldest first, with user, seats, amount, refunded amount and status.
        router.get("/admin/reports/reservations") { request, context in
            let reach = try context.require(.readReports)
            var parameters = self.parameters(request)
            let cinemaID = try await cinema(&parameters, reach)
            let format = Self.format(request, &parameters)
            let filter = ReservationFilter(
                movieID: parameters.id("movie_id"),
                showtimeID: parameters.id("showtime_id"),
                userID: parameters.uuid("user_id"),
                statuses: parameters.statuses(),
                period: parameters.period(required: false),
                cinemaID: cinemaID
            )
            let limit = parameters.limit()
            let cursor = parameters.cursor()
            try parameters.validate()

            switch format {
            case .json:
                let page = try await reports.reservations(filter, after: cursor, limit: limit)
                return try context.responseEncoder.encode(ReportJSON(page), from: request, context: context)
            case .csv:
                let first = try await reports.reservations(filter, after: nil, limit: Self.csvPageSize)
                let reports = self.reports
                return Self.csv(filename: "reservations.csv") { writer in
                    var buffer = ByteBuffer(string: ReservationRow.csvHeader)
                    var page = first
                    while true {
                        for row in page.items { buffer.writeString(row.csvLine) }
                        try await writer.write(buffer)
                        buffer.clear()
                        guard let next = page.nextCursor else { break }
                        page = try await reports.reservations(filter, after: next, limit: Self.csvPageSize)
                    }
                }
            }
        }
    }

    enum Format { case json, csv }

    func parameters(_ request: Request) -> ReportParameters {
        let query = request.uri.queryParameters
        return ReportParameters(timeZone: timeZone) { name in query[name[...]].map(String.init) }
    }

    /// The cinema a report covers: `?cinema=` (any for admins, their own for staff and
    /// managers, whose reports are always their cinema's; 403 `other_cinema` for another), or
    /// nil for the chain. Its days are counted in its time zone.
    func cinema(_ parameters: inout ReportParameters, _ reach: Reach) async throws -> Int? {
        guard let cinemaID = try reach.limit(parameters.id("cinema")) else { return nil }
        do {
            if let zone = TimeZone(identifier: try await cinemas.get(cinemaID).timeZone) { parameters.timeZone = zone }
        } catch let error as BoxOfficeError where error.kind == .notFound {
            parameters.check(false, "cinema", "there is no cinema \(cinemaID).")
        }
        return cinemaID
    }

    /// `?format=json|csv` wins; otherwise CSV when `Accept` asks for `text/csv`.
    static func format(_ request: Request, _ parameters: inout ReportParameters) -> Format {
        if let format = request.uri.queryParameters["format"] {
            switch format {
            case "csv": return .csv
            case "json": return .json
            default:
                parameters.check(false, "format", "must be json or csv.")
                return .json
            }
        }
        let accept = request.headers[values: .accept].joined(separator: ",").lowercased()
        return accept.contains("text/csv") ? .csv : .json
    }

    /// A `text/csv` attachment whose body `write` streams; the body is finished after it.
    static func csv(
        filename: String,
        _ write: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void
    ) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"\(filename)\""
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            try await write(&writer)
            try await writer.finish(nil)
        })
    }
}

/// Encodes a report as the JSON body, so the domain needs no HTTP types.
struct ReportJSON<Value: Encodable & Sendable>: ResponseEncodable {
    let value: Value

    init(_ value: Value) {
        self.value = value
    }

    func encode(to encoder: any Encoder) throws {
        try value.encode(to: encoder)
    }
}
