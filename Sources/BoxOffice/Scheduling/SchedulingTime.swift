public import Foundation

/// Reading the times scheduling is given: instants with a zone, and calendar days in the
/// cinema's zone.
public enum SchedulingTime {
    /// An ISO 8601 instant with an explicit offset or `Z`, seconds optionally fractional.
    public static func parseInstant(_ text: String) -> Date? {
        // RFC 3339 allows a lower-case `t` and `z`; the formatter does not.
        let text = text.uppercased()
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    /// `2026-05-01T19:30:00Z`, as the API writes instants.
    public static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// `date` as wall-clock time in `timeZone` with its offset: `2026-05-01T20:00:00+02:00`.
    public static func formatLocal(_ date: Date, in timeZone: TimeZone) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = timeZone
        return formatter.string(from: date)
    }

    /// The instants `[start, end)` of the calendar day `YYYY-MM-DD` in `timeZone`; nil when
    /// the text is not such a day. A day is not always 24 hours (daylight saving time), so
    /// both ends come from the calendar.
    public static func dayBounds(_ text: String, in timeZone: TimeZone) -> (start: Date, end: Date)? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let components = DateComponents(year: year, month: month, day: day)
        // Reject days the month lacks (2026-02-30) instead of rolling them over.
        guard components.isValidDate(in: calendar),
              let start = calendar.date(from: components),
              let end = calendar.date(byAdding: .day, value: 1, to: start)
        else { return nil }
        return (start, end)
    }

    /// Today, `YYYY-MM-DD`, in `timeZone`.
    public static func today(in timeZone: TimeZone, now: Date = Date()) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day], from: now)
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }
}
