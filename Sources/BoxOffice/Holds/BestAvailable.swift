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
    private struct Row {
        var seats: [SeatPlace]
        var byPosition: [Int: SeatPlace]
    }

    private let rows: [Row]
    let bestX: Double
    let bestY: Double

    public init(seats: [SeatPlace], bestX: Double, bestY: Double) {
        self.rows = Dictionary(grouping: seats, by: \.rowIndex).sorted { $0.key < $1.key }.map { _, seats in
            Row(
                seats: seats.sorted { $0.position < $1.position },
                byPosition: Dictionary(seats.map { ($0.position, $0) }, uniquingKeysWith: { first, _ in first })
            )
        }
        self.bestX = bestX
        self.bestY = bestY
    }

    /// The seat ids of the best block of `count`, or nil when no row has one.
    public func pick(count: Int, category: String? = nil, isFree: (Int) -> Bool) -> [Int]? {
        guard count > 0 else { return nil }
        var best: (block: [SeatPlace], strands: Bool, distance: Double)?
        for row in rows {
            func freeSeat(at position: Int) -> Bool {
                guard let seat = row.byPosition[position] else { return false }
                return isFree(seat.id) && (category == nil || seat.category == category)
            }
            for start in row.seats where freeSeat(at: start.position) {
                let positions = start.position..<(start.position + count)
                guard positions.allSatisfy(freeSeat(at:)) else { continue }
                let block = positions.map { row.byPosition[$0]! }
                // A lone free seat beside the block, with no free seat beyond it, is stranded.
                let strands = (freeSeat(at: positions.lowerBound - 1) && !freeSeat(at: positions.lowerBound - 2))
                    || (freeSeat(at: positions.upperBound) && !freeSeat(at: positions.upperBound + 1))
                let centreX = block.map(\.x).reduce(0, +) / Double(count)
                let centreY = block.map(\.y).reduce(0, +) / Double(count)
                let distance = (centreX - bestX) * (centreX - bestX) + (centreY - bestY) * (centreY - bestY)
                if let current = best {
                    let better = (!strands && current.strands)
                        || (strands == current.strands && (distance, block[0].id) < (current.distance, current.block[0].id))
                    if !better { continue }
                }
                best = (block, strands, distance)
            }
        }
        return best?.block.map(\.id)
    }
}
