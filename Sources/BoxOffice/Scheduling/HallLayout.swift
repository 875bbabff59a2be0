/// A hall's seat layout as an admin gives it: exactly one of explicit `seats`, compact `rows`,
/// or the most compact `grid`.
public struct LayoutInput: Sendable, Codable, Equatable {
    public var seats: [ExplicitSeat]?
    public var rows: [RowSpec]?
    public var grid: GridSpec?

    public init(seats: [ExplicitSeat]? = nil, rows: [RowSpec]? = nil, grid: GridSpec? = nil) {
        self.seats = seats
        self.rows = rows
        self.grid = grid
    }

    /// One seat, spelled out.
    public struct ExplicitSeat: Sendable, Codable, Equatable {
        public var row: String
        public var number: Int
        public var category: String?
        /// Places along the row, aisles included; defaults to `number - 1`.
        public var position: Int?
        public var x: Double?
        public var y: Double?

        public init(row: String, number: Int, category: String? = nil, position: Int? = nil, x: Double? = nil, y: Double? = nil) {
            self.row = row
            self.number = number
            self.category = category
            self.position = position
            self.x = x
            self.y = y
        }
    }

    /// Seats `from...to` (1-based, inclusive) of a row get `category`.
    public struct CategoryRange: Sendable, Codable, Equatable {
        public var from: Int
        public var to: Int
        public var category: String

        public init(from: Int, to: Int, category: String) {
            self.from = from
            self.to = to
            self.category = category
        }
    }

    /// One row: `seats` seats numbered from 1, an empty place after each seat in `aisles_after`.
    public struct RowSpec: Sendable, Codable, Equatable {
        public var label: String
        public var seats: Int
        /// Empty places before the first seat, for shorter or staggered rows.
        public var offset: Int?
        public var aislesAfter: [Int]?
        public var categories: [CategoryRange]?
        public var defaultCategory: String?

        enum CodingKeys: String, CodingKey {
            case label, seats, offset, categories
            case aislesAfter = "aisles_after"
            case defaultCategory = "default_category"
        }

        public init(
            label: String,
            seats: Int,
            offset: Int? = nil,
            aislesAfter: [Int]? = nil,
            categories: [CategoryRange]? = nil,
            defaultCategory: String? = nil
        ) {
            self.label = label
            self.seats = seats
            self.offset = offset
            self.aislesAfter = aislesAfter
            self.categories = categories
            self.defaultCategory = defaultCategory
        }
    }

    /// Whole rows of a grid get `category`.
    public struct RowsCategory: Sendable, Codable, Equatable {
        public var rows: [String]
        public var category: String

        public init(rows: [String], category: String) {
            self.rows = rows
            self.category = category
        }
    }

    /// `rows` equal rows labelled A, B, … (after Z: AA, AB, …).
    public struct GridSpec: Sendable, Codable, Equatable {
        public var rows: Int
        public var seatsPerRow: Int
        public var aislesAfter: [Int]?
        public var categories: [RowsCategory]?
        public var defaultCategory: String?

        enum CodingKeys: String, CodingKey {
            case rows, categories
            case seatsPerRow = "seats_per_row"
            case aislesAfter = "aisles_after"
            case defaultCategory = "default_category"
        }

        public init(
            rows: Int,
            seatsPerRow: Int,
            aislesAfter: [Int]? = nil,
            categories: [RowsCategory]? = nil,
            defaultCategory: String? = nil
        ) {
            self.rows = rows
            self.seatsPerRow = seatsPerRow
            self.aislesAfter = aislesAfter
            self.categories = categories
            self.defaultCategory = defaultCategory
        }
    }
}

/// A seat as stored: `rowIndex` 0-based in row order, `number` as printed on the ticket,
/// `position` the place along the row with aisles counted, so adjacency is `position ± 1`.
public struct LayoutSeat: Sendable, Equatable {
    public var rowLabel: String
    public var rowIndex: Int
    public var number: Int
    public var position: Int
    public var category: String
    public var x: Double
    public var y: Double

    public init(rowLabel: String, rowIndex: Int, number: Int, position: Int, category: String, x: Double, y: Double) {
        self.rowLabel = rowLabel
        self.rowIndex = rowIndex
        self.number = number
        self.position = position
        self.category = category
        self.x = x
        self.y = y
    }
}

/// A validated, expanded layout. Pure: no I/O, so every rule is unit-tested on its own.
public struct HallLayout: Sendable, Equatable {
    public static let maxRows = 100
    public static let maxSeatsPerRow = 100
    public static let defaultCategory = "standard"

    /// In row order, then position order.
    public let seats: [LayoutSeat]

    /// Expands `input`, or throws a 422 naming every problem with a path under `field`.
    public init(_ input: LayoutInput, field: String = "layout") throws(BoxOfficeError) {
        var validator = Validator()
        let given = [input.seats != nil, input.rows != nil, input.grid != nil].filter { $0 }.count
        validator.check(given == 1, field, "give exactly one of 'seats', 'rows' or 'grid'.")
        try validator.validate()
        var seats: [LayoutSeat] = []
        if let explicit = input.seats {
            seats = Self.expand(explicit, field: "\(field).seats", validator: &validator)
        } else if let rows = input.rows {
            seats = Self.expand(rows, field: "\(field).rows", validator: &validator)
        } else if let grid = input.grid {
            seats = Self.expand(grid, field: "\(field).grid", validator: &validator)
        }
        try validator.validate()
        self.seats = seats.sorted { ($0.rowIndex, $0.position) < ($1.rowIndex, $1.position) }
    }

    /// The categories present, sorted.
    public var categories: [String] { Array(Set(seats.map(\.category))).sorted() }

    /// The default best view: the middle of the x range, about two thirds of the way back.
    public var defaultBestView: (x: Double, y: Double) {
        Self.defaultBestView(xs: seats.map(\.x), ys: seats.map(\.y))
    }

    public static func defaultBestView(xs: [Double], ys: [Double]) -> (x: Double, y: Double) {
        guard let minX = xs.min(), let maxX = xs.max(), let minY = ys.min(), let maxY = ys.max() else { return (0, 0) }
        return ((minX + maxX) / 2, minY + (maxY - minY) * 2 / 3)
    }

    /// Row labels of a grid: A…Z, then AA, AB, … like spreadsheet columns.
    public static func gridLabel(_ index: Int) -> String {
        var index = index
        var label = ""
        repeat {
            label = String(UnicodeScalar(UInt8(65 + index % 26))) + label
            index = index / 26 - 1
        } while index >= 0
        return label
    }

    /// Lowercase identifiers, so categories match price keys exactly.
    public static func isValidCategory(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 50 && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || $0 == "_" }
    }

    static func isValidLabel(_ label: String) -> Bool {
        !label.isEmpty && label.count <= 10 && !label.contains(where: \.isWhitespace)
            && !label.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    private static func checkCategory(_ name: String, _ field: String, _ validator: inout Validator) {
        validator.check(isValidCategory(name), field, "must be a lowercase identifier (a–z and _), e.g. 'standard'.")
    }

    /// Positions of seats `1...count` after `offset` empty places, one extra place after each
    /// seat in `aisles`.
    private static func positions(count: Int, offset: Int, aisles: Set<Int>) -> [Int] {
        var result: [Int] = []
        var position = offset
        for number in 1...count {
            result.append(position)
            position += aisles.contains(number) ? 2 : 1
        }
        return result
    }

    private static func checkAisles(_ aisles: [Int]?, seats: Int, field: String, _ validator: inout Validator) -> Set<Int> {
        guard let aisles else { return [] }
        for (index, aisle) in aisles.enumerated() {
            validator.check(
                aisle >= 1 && aisle < seats,
                "\(field)[\(index)]",
                "an aisle must come after a seat of the row and before its last seat (1…\(max(seats - 1, 1)))."
            )
        }
        validator.check(Set(aisles).count == aisles.count, field, "names an aisle twice.")
        return Set(aisles)
    }

    private static func expand(_ rows: [LayoutInput.RowSpec], field: String, validator: inout Validator) -> [LayoutSeat] {
        validator.check((1...maxRows).contains(rows.count), field, "must have 1 to \(maxRows) rows.")
        var labels: Set<String> = []
        var seats: [LayoutSeat] = []
        for (rowIndex, row) in rows.enumerated() {
            let rowField = "\(field)[\(rowIndex)]"
            validator.check(isValidLabel(row.label), "\(rowField).label", "must be 1 to 10 characters without spaces or control characters.")
            validator.check(labels.insert(row.label).inserted, "\(rowField).label", "'\(row.label)' is used by an earlier row.")
            let seatCountValid = (1...maxSeatsPerRow).contains(row.seats)
            validator.check(seatCountValid, "\(rowField).seats", "must be 1 to \(maxSeatsPerRow).")
            let offset = row.offset ?? 0
            let offsetValid = (0...maxSeatsPerRow).contains(offset)
            validator.check(offsetValid, "\(rowField).offset", "must be 0 to \(maxSeatsPerRow).")
            let defaultCategory = row.defaultCategory ?? defaultCategory
            checkCategory(defaultCategory, "\(rowField).default_category", &validator)
            // Positions are only counted from a valid offset (one near Int.max would overflow).
            guard seatCountValid, offsetValid else { continue }
            let aisles = checkAisles(row.aislesAfter, seats: row.seats, field: "\(rowField).aisles_after", &validator)
            var categories = Array(repeating: defaultCategory, count: row.seats)
            var assigned = Array(repeating: false, count: row.seats)
            for (index, range) in (row.categories ?? []).enumerated() {
                let rangeField = "\(rowField).categories[\(index)]"
                checkCategory(range.category, "\(rangeField).category", &validator)
                let valid = range.from >= 1 && range.from <= range.to && range.to <= row.seats
                validator.check(valid, rangeField, "'from' and 'to' must be seat numbers 1…\(row.seats) with from ≤ to.")
                guard valid else { continue }
                for number in range.from...range.to {
                    validator.check(!assigned[number - 1], rangeField, "seat \(number) is already in an earlier range.")
                    assigned[number - 1] = true
                    categories[number - 1] = range.category
                }
            }
            for (index, position) in positions(count: row.seats, offset: offset, aisles: aisles).enumerated() {
                seats.append(LayoutSeat(
                    rowLabel: row.label, rowIndex: rowIndex, number: index + 1, position: position,
                    category: categories[index], x: Double(position), y: Double(rowIndex)
                ))
            }
        }
        return seats
    }

    private static func expand(_ grid: LayoutInput.GridSpec, field: String, validator: inout Validator) -> [LayoutSeat] {
        let rowsValid = (1...maxRows).contains(grid.rows)
        validator.check(rowsValid, "\(field).rows", "must be 1 to \(maxRows).")
        let seatsValid = (1...maxSeatsPerRow).contains(grid.seatsPerRow)
        validator.check(seatsValid, "\(field).seats_per_row", "must be 1 to \(maxSeatsPerRow).")
        let defaultCategory = grid.defaultCategory ?? defaultCategory
        checkCategory(defaultCategory, "\(field).default_category", &validator)
        guard rowsValid, seatsValid else { return [] }
        let aisles = checkAisles(grid.aislesAfter, seats: grid.seatsPerRow, field: "\(field).aisles_after", &validator)
        let labels = (0..<grid.rows).map(gridLabel)
        var rowCategory: [String: String] = [:]
        for (index, entry) in (grid.categories ?? []).enumerated() {
            let entryField = "\(field).categories[\(index)]"
            checkCategory(entry.category, "\(entryField).category", &validator)
            validator.check(!entry.rows.isEmpty, "\(entryField).rows", "must name at least one row.")
            for label in entry.rows {
                validator.check(labels.contains(label), "\(entryField).rows", "the grid has no row '\(label)' (rows are \(labels.first!)…\(labels.last!)).")
                validator.check(rowCategory[label] == nil, "\(entryField).rows", "row '\(label)' is already in an earlier entry.")
                rowCategory[label] = entry.category
            }
        }
        let positions = positions(count: grid.seatsPerRow, offset: 0, aisles: aisles)
        var seats: [LayoutSeat] = []
        for (rowIndex, label) in labels.enumerated() {
            for (index, position) in positions.enumerated() {
                seats.append(LayoutSeat(
                    rowLabel: label, rowIndex: rowIndex, number: index + 1, position: position,
                    category: rowCategory[label] ?? defaultCategory, x: Double(position), y: Double(rowIndex)
                ))
            }
        }
        return seats
    }

    private static func expand(_ explicit: [LayoutInput.ExplicitSeat], field: String, validator: inout Validator) -> [LayoutSeat] {
        validator.check(!explicit.isEmpty, field, "must have at least one seat.")
        // Rows are ordered by the first appearance of their label.
        var rowIndexes: [String: Int] = [:]
        var perRow: [String: Int] = [:]
        var numbers: Set<String> = []
        var positions: Set<String> = []
        var seats: [LayoutSeat] = []
        for (index, seat) in explicit.enumerated() {
            let seatField = "\(field)[\(index)]"
            guard isValidLabel(seat.row) else {
                validator.check(false, "\(seatField).row", "must be 1 to 10 characters without spaces or control characters.")
                continue
            }
            let rowIndex: Int
            if let known = rowIndexes[seat.row] {
                rowIndex = known
            } else {
                rowIndex = rowIndexes.count
                rowIndexes[seat.row] = rowIndex
                validator.check(rowIndex < maxRows, "\(seatField).row", "a layout has at most \(maxRows) rows.")
            }
            perRow[seat.row, default: 0] += 1
            validator.check(perRow[seat.row]! <= maxSeatsPerRow, "\(seatField)", "row '\(seat.row)' has more than \(maxSeatsPerRow) seats.")
            validator.check((1...999).contains(seat.number), "\(seatField).number", "must be 1 to 999.")
            validator.check(numbers.insert("\(seat.row)\u{0}\(seat.number)").inserted, "\(seatField).number", "seat \(seat.row)\(seat.number) appears twice.")
            let position = seat.position ?? seat.number - 1
            validator.check((0...999).contains(position), "\(seatField).position", "must be 0 to 999.")
            validator.check(positions.insert("\(seat.row)\u{0}\(position)").inserted, "\(seatField).position", "another seat of row '\(seat.row)' has position \(position).")
            let category = seat.category ?? defaultCategory
            checkCategory(category, "\(seatField).category", &validator)
            let x = seat.x ?? Double(position)
            let y = seat.y ?? Double(rowIndex)
            validator.check(x.isFinite && abs(x) <= 100_000, "\(seatField).x", "must be a number within ±100000.")
            validator.check(y.isFinite && abs(y) <= 100_000, "\(seatField).y", "must be a number within ±100000.")
            seats.append(LayoutSeat(rowLabel: seat.row, rowIndex: rowIndex, number: seat.number, position: position, category: category, x: x, y: y))
        }
        return seats
    }
}
