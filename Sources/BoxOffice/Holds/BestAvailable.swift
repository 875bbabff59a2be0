/// A seat as best-available selection sees it. Along a row, `position` counts places with
/// aisles and gaps included, so two seats are adjacent exactly when positions differ by one.
public struct SeatPlace: Sendable, Hashable {
    public var id: Int
    public var rowIndex: Int
    public var position: Int
    public var category: String
    public var x: Double
    public var y: Double

    public init(id: Int, rowIndex: Int, position: Int, category: String, x: Double, y: Double) {
        self.id = id
        self.rowIndex = rowIndex
        self.position = position
        self.category = category
        self.x = x
        self.y = y
    }
}

/// Picks the best block of adjacent free seats in one row.
///
/// "Best" is the block whose centre is nearest the hall's best-view point. A block that would
/// strand a single free seat between itself and a taken seat, an aisle or the row's end is
/// chosen only when every block does so: such seats rarely sell.
public struct BestAvailable: Sendable {
    /// One row's places from its first seat to its last; nil where there is no seat (an aisle
    /// or a gap), so adjacent places are adjacent indices.
    private let rows: [[SeatPlace?]]
    let bestX: Double
    let bestY: Double

    public init(seats: [SeatPlace], bestX: Double, bestY: Double) {
        self.rows = Dictionary(grouping: seats, by: \.rowIndex).sorted { $0.key < $1.key }.map { _, seats in
            let first = seats.map(\.position).min()!
            var places = [SeatPlace?](repeating: nil, count: seats.map(\.position).max()! - first + 1)
            for seat in seats where places[seat.position - first] == nil { places[seat.position - first] = seat }
            return places
        }
        self.bestX = bestX
        self.bestY = bestY
    }

    /// The seat ids of the best block of `count`, or nil when no row has one.
    ///
    /// One pass along each row with a run of usable places: a layout of a thousand seats is
    /// scanned once per pick (it is picked on every best-available hold of a rush).
    public func pick(count: Int, category: String? = nil, isFree: (Int) -> Bool) -> [Int]? {
        guard count > 0 else { return nil }
        var best: (row: Int, start: Int, strands: Bool, distance: Double, firstID: Int)?
        for (rowNumber, places) in rows.enumerated() {
            let usable = places.map { place in
                place.map { isFree($0.id) && (category == nil || $0.category == category) } ?? false
            }
            func isUsable(_ index: Int) -> Bool { usable.indices.contains(index) && usable[index] }
            var run = 0
            for end in usable.indices {
                run = usable[end] ? run + 1 : 0
                guard run >= count else { continue }
                let start = end - count + 1
                // A lone free seat beside the block, with no free seat beyond it, is stranded.
                let strands = (isUsable(start - 1) && !isUsable(start - 2)) || (isUsable(end + 1) && !isUsable(end + 2))
                var sumX = 0.0
                var sumY = 0.0
                for index in start...end {
                    sumX += places[index]!.x
                    sumY += places[index]!.y
                }
                let centreX = sumX / Double(count)
                let centreY = sumY / Double(count)
                let distance = (centreX - bestX) * (centreX - bestX) + (centreY - bestY) * (centreY - bestY)
                let firstID = places[start]!.id
                if let current = best {
                    let better = (!strands && current.strands)
                        || (strands == current.strands && (distance, firstID) < (current.distance, current.firstID))
                    if !better { continue }
                }
                best = (rowNumber, start, strands, distance, firstID)
            }
        }
        guard let best else { return nil }
        return rows[best.row][best.start..<(best.start + count)].map { $0!.id }
    }
}
