import BoxOffice
import Testing

/// Layouts drawn as text: one line a row, `.` a free seat, `x` a taken one, ` ` an aisle,
/// `p` a free premium seat. Seat ids are row * 100 + position.
private func layout(_ rows: [String]) -> (seats: [SeatPlace], taken: Set<Int>) {
    var seats: [SeatPlace] = []
    var taken: Set<Int> = []
    for (rowIndex, row) in rows.enumerated() {
        for (position, character) in row.enumerated() where character != " " {
            let id = rowIndex * 100 + position
            seats.append(SeatPlace(
                id: id, rowIndex: rowIndex, position: position,
                category: character == "p" ? "premium" : "standard",
                x: Double(position), y: Double(rowIndex)
            ))
            if character == "x" { taken.insert(id) }
        }
    }
    return (seats, taken)
}

@Suite struct BestAvailableTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var rows: [String]
        var count: Int
        var category: String? = nil
        var best: (Double, Double)
        var expected: [Int]?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "the centre of the best row", rows: [".........", "........."], count: 2, best: (4, 1), expected: [103, 104]),
        Case(name: "a block never spans an aisle", rows: ["... ..."], count: 4, best: (3, 0), expected: nil),
        Case(name: "a block fits beside an aisle", rows: ["... ...."], count: 3, best: (3, 0), expected: [0, 1, 2]),
        Case(name: "taken seats split the row", rows: ["..x....x.."], count: 3, best: (2, 0), expected: [3, 4, 5]),
        Case(name: "no single seat stranded against a taken one", rows: ["x......"], count: 2, best: (2.5, 0), expected: [1, 2]),
        Case(name: "no single seat stranded against an aisle", rows: [". ......"], count: 2, best: (3.5, 0), expected: [2, 3]),
        Case(name: "no single seat stranded at the row's end", rows: ["......"], count: 4, best: (2.5, 0), expected: [0, 1, 2, 3]),
        Case(name: "stranding is allowed when nothing else fits", rows: ["x...x"], count: 2, best: (2, 0), expected: [1, 2]),
        Case(name: "another row when the best one is full", rows: ["xxxxx", "....."], count: 3, best: (2, 0), expected: [100, 101, 102]),
        Case(name: "only the requested category", rows: ["..ppp.."], count: 2, category: "premium", best: (0, 0), expected: [2, 3]),
        Case(name: "nothing left", rows: ["xx.xx"], count: 2, best: (2, 0), expected: nil),
    ]

    @Test(arguments: cases)
    func picksTheBestBlock(_ testCase: Case) {
        let (seats, taken) = layout(testCase.rows)
        let picker = BestAvailable(seats: seats, bestX: testCase.best.0, bestY: testCase.best.1)
        let picked = picker.pick(count: testCase.count, category: testCase.category) { !taken.contains($0) }
        #expect(picked == testCase.expected)
    }

    @Test func aCountOfZeroPicksNothing() {
        let (seats, _) = layout(["....."])
        #expect(BestAvailable(seats: seats, bestX: 2, bestY: 0).pick(count: 0) { _ in true } == nil)
    }
}
