/// Named parts of a cinema's day, by a showtime's local start time. Each slot runs from its
/// start until the next slot's start; the last one runs on past midnight until the first, so
/// with the standard slots a showtime at 00:30 is still `late`.
public struct TimeSlots: Sendable, Equatable {
    public struct Slot: Sendable, Equatable {
        /// A lowercase identifier (a–z, 0–9, _), e.g. `matinee`.
        public var name: String
        /// Minutes after local midnight, 0 to 1439.
        public var startMinute: Int

        public init(name: String, startMinute: Int) {
            self.name = name
            self.startMinute = startMinute
        }
    }

    /// Sorted by start; at least one; names and starts unique.
    public let slots: [Slot]

    /// matinee from 06:00, evening from 17:00, late from 21:00 (through the night).
    public static let standard = try! TimeSlots([
        Slot(name: "matinee", startMinute: 6 * 60),
        Slot(name: "evening", startMinute: 17 * 60),
        Slot(name: "late", startMinute: 21 * 60),
    ])

    public init(_ slots: [Slot]) throws(BoxOfficeError) {
        var validator = Validator()
        validator.check(!slots.isEmpty, "time_slots", "needs at least one slot.")
        for slot in slots {
            validator.check(Self.isValidName(slot.name), "time_slots", "'\(slot.name)' is not a slot name (a–z, 0–9, _; up to 40).")
            validator.check((0..<1440).contains(slot.startMinute), "time_slots", "\(slot.name) must start between 00:00 and 23:59.")
        }
        validator.check(Set(slots.map(\.name)).count == slots.count, "time_slots", "names must be unique.")
        validator.check(Set(slots.map(\.startMinute)).count == slots.count, "time_slots", "two slots cannot start at the same time.")
        try validator.validate()
        self.slots = slots.sorted { $0.startMinute < $1.startMinute }
    }

    /// Reads `matinee=06:00,evening=17:00,late=21:00` (as `BOXOFFICE_TIME_SLOTS` gives it).
    public static func parse(_ text: String) throws(BoxOfficeError) -> TimeSlots {
        var slots: [Slot] = []
        for part in text.split(separator: ",") {
            let pieces = part.split(separator: "=", omittingEmptySubsequences: false)
            let clock = pieces.count == 2 ? pieces[1].split(separator: ":", omittingEmptySubsequences: false) : []
            guard pieces.count == 2, clock.count == 2, clock[0].count == 2, clock[1].count == 2,
                  let hour = Int(clock[0]), let minute = Int(clock[1]), (0..<24).contains(hour), (0..<60).contains(minute)
            else {
                throw BoxOfficeError.validation(field: "time_slots", "'\(part)' is not name=HH:MM, e.g. matinee=06:00.")
            }
            slots.append(Slot(name: String(pieces[0]).trimmingSpaces, startMinute: hour * 60 + minute))
        }
        return try TimeSlots(slots)
    }

    /// The slot a local time of day (minutes after midnight) falls in.
    public func name(atMinute minute: Int) -> String {
        slots.last { $0.startMinute <= minute }?.name ?? slots.last!.name
    }

    public var names: [String] { slots.map(\.name) }
    public var startMinutes: [Int] { slots.map(\.startMinute) }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 40
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(self.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
