import BoxOffice
import Foundation
import Testing

@Suite struct HallLayoutTests {
    private func fields(_ input: LayoutInput) -> [String] {
        do {
            _ = try HallLayout(input)
            return []
        } catch {
            return error.fieldErrors.map(\.field)
        }
    }

    @Test func aRowWithAislesCountsAnEmptyPlaceAfterEachAisleSeat() throws {
        let layout = try HallLayout(LayoutInput(rows: [.init(label: "A", seats: 6, aislesAfter: [2, 4])]))
        #expect(layout.seats.map(\.number) == [1, 2, 3, 4, 5, 6])
        #expect(layout.seats.map(\.position) == [0, 1, 3, 4, 6, 7])
        #expect(layout.seats.map(\.x) == [0, 1, 3, 4, 6, 7])
        #expect(layout.seats.allSatisfy { $0.y == 0 && $0.rowIndex == 0 && $0.rowLabel == "A" })
    }

    @Test func seatsAcrossAnAisleAreNotAdjacentButNeighboursAre() throws {
        let seats = try HallLayout(LayoutInput(rows: [.init(label: "A", seats: 4, aislesAfter: [2])])).seats
        #expect(seats[1].position - seats[0].position == 1)
        #expect(seats[2].position - seats[1].position == 2)
    }

    @Test func categoryRangesOverrideTheRowDefault() throws {
        let layout = try HallLayout(LayoutInput(rows: [.init(
            label: "A", seats: 5,
            categories: [.init(from: 1, to: 2, category: "accessible"), .init(from: 5, to: 5, category: "premium")],
            defaultCategory: "standard"
        )]))
        #expect(layout.seats.map(\.category) == ["accessible", "accessible", "standard", "standard", "premium"])
        #expect(layout.categories == ["accessible", "premium", "standard"])
    }

    @Test func anOffsetShiftsTheWholeRow() throws {
        let layout = try HallLayout(LayoutInput(rows: [.init(label: "A", seats: 2, offset: 3)]))
        #expect(layout.seats.map(\.position) == [3, 4])
    }

    @Test func anOffsetNearTheLargestIntegerIsRefusedNotOverflowed() {
        #expect(fields(LayoutInput(rows: [.init(label: "A", seats: 87, offset: Int.max - 1)])) == ["layout.rows[0].offset"])
    }

    @Test func aGridLabelsRowsFromAAndGivesWholeRowsACategory() throws {
        let layout = try HallLayout(LayoutInput(grid: .init(
            rows: 3, seatsPerRow: 4, aislesAfter: [2],
            categories: [.init(rows: ["C"], category: "premium")]
        )))
        #expect(layout.seats.count == 12)
        #expect(Set(layout.seats.map(\.rowLabel)) == ["A", "B", "C"])
        #expect(layout.seats.filter { $0.rowLabel == "C" }.allSatisfy { $0.category == "premium" && $0.rowIndex == 2 && $0.y == 2 })
        #expect(layout.seats.filter { $0.rowLabel == "A" }.allSatisfy { $0.category == "standard" })
        #expect(layout.seats.filter { $0.rowLabel == "B" }.map(\.position) == [0, 1, 3, 4])
    }

    @Test func gridLabelsGoOnAfterZLikeSpreadsheetColumns() {
        #expect(HallLayout.gridLabel(0) == "A")
        #expect(HallLayout.gridLabel(25) == "Z")
        #expect(HallLayout.gridLabel(26) == "AA")
        #expect(HallLayout.gridLabel(27) == "AB")
        #expect(HallLayout.gridLabel(99) == "CV")
    }

    @Test func explicitSeatsKeepTheirCoordinatesAndOrderRowsByFirstAppearance() throws {
        let layout = try HallLayout(LayoutInput(seats: [
            .init(row: "B", number: 1, x: 10, y: 20),
            .init(row: "A", number: 2, category: "premium"),
            .init(row: "A", number: 1, position: 5),
        ]))
        #expect(layout.seats.map(\.rowLabel) == ["B", "A", "A"])
        #expect(layout.seats[0].x == 10 && layout.seats[0].y == 20 && layout.seats[0].rowIndex == 0)
        #expect(layout.seats[1].number == 2 && layout.seats[1].position == 1 && layout.seats[1].y == 1)
        #expect(layout.seats[2].number == 1 && layout.seats[2].position == 5 && layout.seats[2].x == 5)
    }

    @Test func theDefaultBestViewIsTheMiddleTwoThirdsBack() throws {
        let layout = try HallLayout(LayoutInput(grid: .init(rows: 4, seatsPerRow: 11)))
        #expect(layout.defaultBestView.x == 5)
        #expect(layout.defaultBestView.y == 2)
    }

    @Test func exactlyOneFormOfLayoutIsAccepted() {
        #expect(fields(LayoutInput()) == ["layout"])
        #expect(fields(LayoutInput(rows: [.init(label: "A", seats: 1)], grid: .init(rows: 1, seatsPerRow: 1))) == ["layout"])
    }

    @Test func badRowsAreNamedByTheirPath() {
        let errors = fields(LayoutInput(rows: [
            .init(label: "A", seats: 10),
            .init(label: "A", seats: 10),
            .init(label: "C", seats: 0),
            .init(label: "D", seats: 5, aislesAfter: [5], categories: [.init(from: 4, to: 6, category: "VIP")]),
        ]))
        #expect(errors.contains("layout.rows[1].label"))
        #expect(errors.contains("layout.rows[2].seats"))
        #expect(errors.contains("layout.rows[3].aisles_after[0]"))
        #expect(errors.contains("layout.rows[3].categories[0]"))
        #expect(errors.contains("layout.rows[3].categories[0].category"))
        #expect(!errors.contains { $0.hasPrefix("layout.rows[0]") })
    }

    @Test func tooManyRowsOrSeatsAreRefused() {
        let rows = (0..<101).map { LayoutInput.RowSpec(label: "R\($0)", seats: 1) }
        #expect(fields(LayoutInput(rows: rows)) == ["layout.rows"])
        #expect(fields(LayoutInput(rows: [])) == ["layout.rows"])
        #expect(fields(LayoutInput(rows: [.init(label: "A", seats: 101)])) == ["layout.rows[0].seats"])
        #expect(fields(LayoutInput(grid: .init(rows: 0, seatsPerRow: 101))) == ["layout.grid.rows", "layout.grid.seats_per_row"])
    }

    @Test func overlappingCategoryRangesAreRefused() {
        let errors = fields(LayoutInput(rows: [.init(
            label: "A", seats: 5,
            categories: [.init(from: 1, to: 3, category: "premium"), .init(from: 3, to: 4, category: "accessible")]
        )]))
        #expect(errors == ["layout.rows[0].categories[1]"])
    }

    @Test func gridCategoriesMustNameExistingRowsOnce() {
        let errors = fields(LayoutInput(grid: .init(
            rows: 2, seatsPerRow: 3,
            categories: [.init(rows: ["A", "Z"], category: "premium"), .init(rows: ["A"], category: "vip")]
        )))
        #expect(errors == ["layout.grid.categories[0].rows", "layout.grid.categories[1].rows"])
    }

    @Test func explicitSeatsMustBeUniqueByNumberAndPosition() {
        let errors = fields(LayoutInput(seats: [
            .init(row: "A", number: 1),
            .init(row: "A", number: 1),
            .init(row: "A", number: 3, position: 1),
            .init(row: "A", number: 4, position: 1),
            .init(row: "", number: 1),
        ]))
        #expect(errors == ["layout.seats[1].number", "layout.seats[1].position", "layout.seats[3].position", "layout.seats[4].row"])
    }

    @Test func categoryNamesAreLowercaseIdentifiers() {
        #expect(HallLayout.isValidCategory("wheel_chair"))
        #expect(!HallLayout.isValidCategory("Premium"))
        #expect(!HallLayout.isValidCategory("vip-2"))
        #expect(!HallLayout.isValidCategory(""))
    }

    @Test func aDayInTheCinemasZoneStartsAtItsLocalMidnight() throws {
        let berlin = TimeZone(identifier: "Europe/Berlin")!
        let summer = try #require(SchedulingTime.dayBounds("2026-07-01", in: berlin))
        #expect(SchedulingTime.format(summer.start) == "2026-06-30T22:00:00Z")
        #expect(SchedulingTime.format(summer.end) == "2026-07-01T22:00:00Z")
        // The day the clocks go back has 25 hours.
        let autumn = try #require(SchedulingTime.dayBounds("2026-10-25", in: berlin))
        #expect(autumn.end.timeIntervalSince(autumn.start) == 25 * 3600)
        #expect(SchedulingTime.dayBounds("2026-02-30", in: berlin) == nil)
        #expect(SchedulingTime.dayBounds("2026-7-1", in: berlin) == nil)
        #expect(SchedulingTime.dayBounds("tomorrow", in: berlin) == nil)
    }

    @Test func instantsNeedAZone() {
        #expect(SchedulingTime.parseInstant("2026-05-01T19:30:00Z") != nil)
        #expect(SchedulingTime.parseInstant("2026-05-01T19:30:00.250+02:00") != nil)
        #expect(SchedulingTime.parseInstant("2026-05-01T19:30:00") == nil)
        #expect(SchedulingTime.parseInstant("next friday") == nil)
    }
}
