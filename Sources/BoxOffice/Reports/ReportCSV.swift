import Foundation

/// RFC 4180 CSV for the reports: a header line, then one line per row, CRLF line ends. Text
/// that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) is
/// prefixed with `'`, since movie titles and user names come from outside.
public enum ReportCSV {
    public enum Field: Sendable, Equatable {
        case text(String)
        case number(String)
        case empty

        static func int(_ value: Int?) -> Field { value.map { .number(String($0)) } ?? .empty }
        static func double(_ value: Double?) -> Field {
            value.map { .number(String(format: "%.2f", $0)) } ?? .empty
        }
        static func date(_ value: Date?) -> Field { value.map { .text(SchedulingTime.format($0)) } ?? .empty }
    }

    public static func line(_ fields: [Field]) -> String {
        fields.map(encode).joined(separator: ",") + "\r\n"
    }

    public static func header(_ names: [String]) -> String {
        line(names.map { .text($0) })
    }

    static func encode(_ field: Field) -> String {
        switch field {
        case .empty: return ""
        case .number(let text): return text
        case .text(var text):
            if let first = text.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) {
                text = "'" + text
            }
            if text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
                return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            }
            return text
        }
    }
}

extension ShowtimeReportRow {
    public static let csvHeader = ReportCSV.header([
        "showtime_id", "movie_id", "movie_title", "hall_id", "hall_name", "starts_at", "starts_at_local", "status",
        "currency", "capacity", "sold", "held", "available", "occupancy_pct", "gross_minor", "refunds_minor", "net_minor",
    ])

    public var csvLine: String {
        ReportCSV.line([
            .int(id), .int(movie.id), .text(movie.name), .int(hall.id), .text(hall.name), .date(startsAt), .text(startsAtLocal),
            .text(status), .text(currency), .int(capacity), .int(sold), .int(held), .int(available), .double(occupancyPercent),
            .int(grossMinor), .int(refundsMinor), .int(netMinor),
        ])
    }
}

extension RevenueRow {
    public static let csvHeader = ReportCSV.header([
        "key", "label", "currency", "showtimes", "cancelled_showtimes", "tickets_sold",
        "gross_minor", "refunds_minor", "net_minor", "average_occupancy_pct",
    ])

    public var csvLine: String {
        ReportCSV.line([
            key.map { .text($0) } ?? .empty, label.map { .text($0) } ?? .empty, .text(currency), .int(showtimes),
            .int(cancelledShowtimes), .int(ticketsSold), .int(grossMinor), .int(refundsMinor), .int(netMinor),
            .double(averageOccupancyPercent),
        ])
    }
}

extension ReservationRow {
    public static let csvHeader = ReportCSV.header([
        "booking_id", "created_at", "status", "user_id", "user_email", "user_name", "showtime_id", "starts_at",
        "movie_id", "movie_title", "hall_id", "hall_name", "seats", "seat_count", "amount_minor", "refunded_minor",
        "currency", "confirmed_at", "cancelled_at",
    ])

    public var csvLine: String {
        ReportCSV.line([
            .text(id.uuidString), .date(createdAt), .text(status), .text(user.id.uuidString),
            .text(user.email), .text(user.name), .int(showtime.id), .date(showtime.startsAt), .int(showtime.movie.id),
            .text(showtime.movie.name), .int(showtime.hall.id), .text(showtime.hall.name),
            .text(seats.map(\.label).joined(separator: " ")), .int(seats.count), .int(amountMinor), .int(refundedMinor),
            .text(currency), .date(confirmedAt), .date(cancelledAt),
        ])
    }
}
