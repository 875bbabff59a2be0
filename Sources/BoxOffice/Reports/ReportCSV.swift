public import Foundation

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
        static func date(_ value: Date?) -> Field { value.map { .text(ReportCSV.instant($0)) } ?? .empty }
    }

    /// `2026-01-15T18:30:00Z` (UTC, whole seconds), as `SchedulingTime.format` writes it but
    /// without a date formatter: a CSV export writes hundreds of thousands of these.
    public static func instant(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let (quotient, remainder) = seconds.quotientAndRemainder(dividingBy: 86_400)
        let days = remainder < 0 ? quotient - 1 : quotient
        let secondOfDay = remainder < 0 ? remainder + 86_400 : remainder
        // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(secondOfDay / 3600, 2) + ":"
            + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2) + "Z"
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
            .text(id.canonical), .date(createdAt), .text(status), .text(user.id.canonical),
            .text(user.email), .text(user.name), .int(showtime.id), .date(showtime.startsAt), .int(showtime.movie.id),
            .text(showtime.movie.name), .int(showtime.hall.id), .text(showtime.hall.name),
            .text(seats.map(\.label).joined(separator: " ")), .int(seats.count), .int(amountMinor), .int(refundedMinor),
            .text(currency), .date(confirmedAt), .date(cancelledAt),
        ])
    }
}
