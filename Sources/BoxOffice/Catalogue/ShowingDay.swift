public import Foundation

/// A day of the calendar (`YYYY-MM-DD`), as the cinema's visitors mean it: its instants
/// depend on the cinema's time zone.
public struct ShowingDay: Sendable, Hashable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    /// Parses exactly `YYYY-MM-DD`; nil for anything else, including days that do not exist.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        self.year = year
        self.month = month
        self.day = day
        // 2026-02-30 would silently become March 2nd; refuse it instead.
        let utc = TimeZone(identifier: "UTC")!
        let components = Self.gregorian(in: utc).dateComponents([.year, .month, .day], from: self.interval(in: utc).start)
        guard components.year == year, components.month == month, components.day == day else { return nil }
    }

    /// From the day's first instant up to (not including) the next day's, in `timeZone`;
    /// 23 or 25 hours long on the days clocks change.
    public func interval(in timeZone: TimeZone) -> (start: Date, end: Date) {
        let calendar = Self.gregorian(in: timeZone)
        let start = calendar.date(from: DateComponents(year: year, month: month, day: day))!
        let end = calendar.date(byAdding: .day, value: 1, to: start)!
        return (start, end)
    }

    public var description: String {
        let pad = { (value: Int, width: Int) in String(repeating: "0", count: max(0, width - String(value).count)) + String(value) }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }
}

extension ShowingDay {
    private static func gregorian(in timeZone: TimeZone) -> Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar
    }
}
