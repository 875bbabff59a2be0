import BoxOffice
import BoxOfficeHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// A showtime whose seats go on sale at a set time.
@Suite struct OnSaleTests {
    @Test func holdsBeforeTheSaleOpensAreRefusedSayingWhenItOpens() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let admin = try await app.makeUser(role: .admin)
            let user = try await app.makeUser()
            let opensAt = SchedulingTime.format(Date().addingTimeInterval(3600).rounded())
            let scheduled = try await app.request(.put, "/admin/showtimes/\(showtime.id)", as: admin,
                                                  json: #"{"sale_opens_at": "\#(opensAt)", "waiting_room": "always"}"#)
            #expect(scheduled.status == .ok)
            #expect(try scheduled.json()["sale_opens_at"] as? String == opensAt)
            #expect(try scheduled.json()["waiting_room"] as? String == "always")

            let early = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: #"{"count": 1}"#)
            #expect(early.status == .forbidden)
            #expect(try early.json()["code"] as? String == "sale_not_open")
            #expect(try early.json()["sale_opens_at"] as? String == opensAt)
            #expect(try early.json()["detail"] as? String == "Tickets for this showtime go on sale at \(opensAt).")

            // Opened early by staff: holds go through at once on this instance.
            let opened = try await app.request(.put, "/admin/showtimes/\(showtime.id)", as: admin,
                                               json: #"{"sale_opens_at": "\#(SchedulingTime.format(Date().addingTimeInterval(-1)))"}"#)
            #expect(opened.status == .ok)
            #expect(try opened.json()["waiting_room"] as? String == "always", "absent fields stay")
            let queued = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: #"{"count": 1}"#)
            #expect(queued.problemCode == "queue_pass_required", "open, and its waiting room is on")
            _ = try await app.request(.put, "/admin/showtimes/\(showtime.id)", as: admin, json: #"{"waiting_room": "off"}"#)
            let held = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: #"{"count": 1}"#)
            #expect(held.status == .created)
        }
    }

    @Test func aSaleMustOpenBeforeTheShowtimeStarts() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime(startsIn: 3600)
            let admin = try await app.makeUser(role: .admin)
            for body in [
                #"{"sale_opens_at": "\#(SchedulingTime.format(Date().addingTimeInterval(7200)))"}"#,
                #"{"sale_opens_at": "yesterday"}"#,
            ] {
                let refused = try await app.request(.put, "/admin/showtimes/\(showtime.id)", as: admin, json: body)
                #expect(refused.status == .unprocessableContent, "\(body)")
                let errors = try refused.json()["errors"] as? [[String: Any]]
                #expect(errors?.first?["field"] as? String == "sale_opens_at")
            }
            let unknownMode = try await app.request(.put, "/admin/showtimes/\(showtime.id)", as: admin, json: #"{"waiting_room": "sometimes"}"#)
            #expect(unknownMode.status == .badRequest)
            #expect(try unknownMode.json()["code"] as? String == "invalid_body")
        }
    }
}

private extension Date {
    /// Whole seconds, as the API writes instants.
    func rounded() -> Date { Date(timeIntervalSince1970: timeIntervalSince1970.rounded(.down)) }
}
