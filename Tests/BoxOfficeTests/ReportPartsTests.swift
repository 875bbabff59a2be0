@testable import BoxOffice
import Foundation
import Testing

/// The parts of the reports that need no database: time slots, cursors, CSV, parameters.
@Suite struct ReportPartsTests {
    @Test func theLastTimeSlotRunsPastMidnightUntilTheFirst() {
        let slots = TimeSlots.standard
        #expect(slots.name(atMinute: 6 * 60) == "matinee")
        #expect(slots.name(atMinute: 16 * 60 + 59) == "matinee")
        #expect(slots.name(atMinute: 17 * 60) == "evening")
        #expect(slots.name(atMinute: 22 * 60) == "late")
        #expect(slots.name(atMinute: 30) == "late")
        #expect(slots.name(atMinute: 5 * 60 + 59) == "late")
    }

    @Test func timeSlotsAreReadFromTextAndSortedByStart() throws {
        let slots = try TimeSlots.parse("late=22:30, early=09:00,prime=18:00")
        #expect(slots.names == ["early", "prime", "late"])
        #expect(slots.startMinutes == [540, 1080, 1350])
    }

    @Test func badTimeSlotsAreRefusedWithTheReason() {
        #expect(throws: BoxOfficeError.self) { try TimeSlots.parse("matinee=6:00") }
        #expect(throws: BoxOfficeError.self) { try TimeSlots.parse("matinee=25:00") }
        #expect(throws: BoxOfficeError.self) { try TimeSlots.parse("a=10:00,a=12:00") }
        #expect(throws: BoxOfficeError.self) { try TimeSlots.parse("a=10:00,b=10:00") }
        #expect(throws: BoxOfficeError.self) { try TimeSlots.parse("Matinee=10:00") }
        #expect(throws: BoxOfficeError.self) { try TimeSlots([]) }
    }

    @Test func aCursorSurvivesItsTokenAndGarbageIsNoCursor() {
        let cursor = ReportCursor(microseconds: 1_768_501_800_123_456, id: "5e1c0a4e-0000-4000-8000-000000000001")
        #expect(ReportCursor(token: cursor.token) == cursor)
        #expect(!cursor.token.contains("="))
        #expect(ReportCursor(token: "nonsense") == nil)
        #expect(ReportCursor(token: "") == nil)
        #expect(ReportCursor(token: Data("12_".utf8).base64EncodedString()) == nil)
    }

    @Test func csvQuotesWhatNeedsQuotingAndDefusesFormulas() {
        let line = ReportCSV.line([.text("plain"), .text("a,b"), .text("say \"hi\""), .text("=1+1"), .text("-x"), .number("-5"), .empty])
        #expect(line == "plain,\"a,b\",\"say \"\"hi\"\"\",'=1+1,'-x,-5,\r\n")
    }

    @Test func aDayParameterCoversTheWholeLocalDay() throws {
        let berlin = TimeZone(identifier: "Europe/Berlin")!
        var parameters = ReportParameters(timeZone: berlin) { ["from": "2026-03-29", "to": "2026-03-29"][$0] }
        let read = parameters.period(required: true)
        let period = try #require(read)
        try parameters.validate()
        // The day daylight saving time starts has 23 hours.
        #expect(SchedulingTime.format(period.from) == "2026-03-28T23:00:00Z")
        #expect(SchedulingTime.format(period.to) == "2026-03-29T22:00:00Z")
    }
}

extension ReportPartsTests {
    @Test func csvInstantsMatchTheAPIsFormat() {
        for seconds in [0, 951_782_400, 1_768_501_800, 1_709_164_799, 4_102_444_800, -86_401] as [Double] {
            let date = Date(timeIntervalSince1970: seconds + 0.75)
            #expect(ReportCSV.instant(date) == SchedulingTime.format(Date(timeIntervalSince1970: seconds)), "\(seconds)")
        }
    }
}
