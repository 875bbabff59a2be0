public import Foundation

/// Reads a report's query parameters, collecting every problem as a field error (422), so a
/// bad parameter is never a 500. Knows nothing of HTTP: it is given a lookup function.
public struct ReportParameters {
    public static let defaultLimit = 100
    public static let maximumLimit = 1000

    let value: (String) -> String?
    /// The zone whose days `from` and `to` name: the report's cinema's, or the default one's.
    public var timeZone: TimeZone
    public private(set) var validator = Validator()

    public init(timeZone: TimeZone, _ value: @escaping (String) -> String?) {
        self.timeZone = timeZone
        // `?from=` is a bad value, not an absent one: the document types every parameter.
        self.value = value
    }

    /// Throws the collected field errors, if any.
    public func validate() throws(BoxOfficeError) {
        try validator.validate()
    }

    /// `from` and `to`: each a day `YYYY-MM-DD` in the cinema's time zone (`from` at its start,
    /// `to` at its end, so `from=2026-05-01&to=2026-05-01` is that whole day) or an ISO 8601
    /// instant (`to` exclusive). nil when absent and not `required`, or invalid.
    public mutating func period(required: Bool) -> ReportPeriod? {
        let fromText = value("from")
        let toText = value("to")
        if !required, fromText == nil, toText == nil { return nil }
        // (An empty value is not a day or an instant: it is refused below.)
        let from = instant("from", fromText, dayEnd: false)
        let to = instant("to", toText, dayEnd: true)
        guard let from, let to else { return nil }
        validator.check(from < to, "to", "must be after from.")
        return from < to ? ReportPeriod(from: from, to: to) : nil
    }

    private mutating func instant(_ name: String, _ text: String?, dayEnd: Bool) -> Date? {
        guard let text else {
            validator.check(false, name, "is required: a day (YYYY-MM-DD, in the cinema's time zone) or an instant (ISO 8601).")
            return nil
        }
        if let day = SchedulingTime.dayBounds(text, in: timeZone) { return dayEnd ? day.end : day.start }
        if let date = SchedulingTime.parseInstant(text) { return date }
        validator.check(false, name, "must be a day (YYYY-MM-DD) or an ISO 8601 instant with a zone, e.g. 2026-05-01T19:30:00Z.")
        return nil
    }

    /// An optional positive id.
    public mutating func id(_ name: String) -> Int? {
        guard let text = value(name) else { return nil }
        guard let id = Int(text), id > 0 else {
            validator.check(false, name, "must be a positive integer.")
            return nil
        }
        return id
    }

    public mutating func uuid(_ name: String) -> UUID? {
        guard let text = value(name) else { return nil }
        guard let id = UUID(uuidString: text) else {
            validator.check(false, name, "must be a UUID.")
            return nil
        }
        return id
    }

    /// `status=confirmed` or `status=confirmed,cancelled`; empty when absent.
    public mutating func statuses() -> [BookingStatus] {
        guard let text = value("status") else { return [] }
        var statuses: [BookingStatus] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let status = BookingStatus(rawValue: String(part)) else {
                let names = BookingStatus.allCases.map(\.rawValue).joined(separator: ", ")
                validator.check(false, "status", "'\(part)' is not one of \(names).")
                continue
            }
            if !statuses.contains(status) { statuses.append(status) }
        }
        return statuses
    }

    /// `group_by`, default `movie`.
    public mutating func grouping() -> RevenueGrouping {
        guard let text = value("group_by") else { return .movie }
        guard let grouping = RevenueGrouping(rawValue: text) else {
            let names = RevenueGrouping.allCases.map(\.rawValue).joined(separator: ", ")
            validator.check(false, "group_by", "must be one of \(names).")
            return .movie
        }
        return grouping
    }

    /// `limit`, 1 to 1000, default 100.
    public mutating func limit() -> Int {
        guard let text = value("limit") else { return Self.defaultLimit }
        guard let limit = Int(text), (1...Self.maximumLimit).contains(limit) else {
            validator.check(false, "limit", "must be an integer from 1 to \(Self.maximumLimit).")
            return Self.defaultLimit
        }
        return limit
    }

    /// `cursor`, a previous page's `next_cursor`.
    public mutating func cursor() -> ReportCursor? {
        guard let text = value("cursor") else { return nil }
        guard let cursor = ReportCursor(token: text) else {
            validator.check(false, "cursor", "is not a next_cursor this server gave; start again without it.")
            return nil
        }
        return cursor
    }

    /// Lets the caller record a problem of its own (e.g. `format`).
    public mutating func check(_ condition: Bool, _ field: String, _ message: String) {
        validator.check(condition, field, message)
    }
}
