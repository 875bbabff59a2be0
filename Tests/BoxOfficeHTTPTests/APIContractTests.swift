import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// What every client may rely on whatever the route: one spelling of ids, errors that name
/// the field and the type it should be, typed query parameters that are never silently
/// ignored, problem+json for every refusal.
@Suite struct APIContractTests {
    private static func isLowercase(_ text: String?) -> Bool {
        guard let text, UUID(uuidString: text) != nil else { return false }
        return text == text.lowercased()
    }

    @Test func userIdsAreLowerCaseAtMeInTheTokenAndInTheReservationsReport() async throws {
        try await TestApp.run { app in
            let signup = try await app.request(.post, "/auth/signup", json: """
                {"email": "case-\(UUID().canonical.prefix(8))@example.com", "password": "correct-horse-battery", "name": "Case"}
                """).json()
            #expect(Self.isLowercase((signup["user"] as? [String: Any])?["id"] as? String))
            let token = try #require(signup["access_token"] as? String)
            let me = try await app.request(.get, "/me", headers: [.authorization: "Bearer \(token)"]).json()
            #expect(Self.isLowercase(me["id"] as? String))

            // The token's `sub` claim, read from its payload.
            let payload = try #require(token.split(separator: ".").dropFirst().first)
            var base64 = payload.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
            let claims = try JSONSerialization.jsonObject(with: try #require(Data(base64Encoded: base64))) as? [String: Any]
            #expect(Self.isLowercase(claims?["sub"] as? String))
            #expect(claims?["sub"] as? String == me["id"] as? String)

            let f = try await ReportFixture.insert(app)
            let admin = try await app.makeUser(role: .admin)
            let report = try await app.request(.get, "/admin/reports/reservations", as: admin).json()
            let items = report["items"] as? [[String: Any]] ?? []
            #expect(!items.isEmpty)
            #expect(items.allSatisfy { Self.isLowercase($0["id"] as? String) })
            #expect(items.allSatisfy { Self.isLowercase(($0["user"] as? [String: Any])?["id"] as? String) })
            let csv = try await app.request(.get, "/admin/reports/reservations?format=csv", as: admin)
            let text = String(buffer: csv.body)
            #expect(text.contains(f.ann.canonical))
            #expect(!text.contains(f.ann.uuidString))
        }
    }

    @Test func aNumberThatIsNotAnIntegerIs400NamingTheFieldAndTheTypeItShouldBe() async throws {
        try await TestApp.run { app in
            let user = try await app.makeUser()
            let showtime = try await app.makeShowtime()
            let cases: [(body: String, field: String)] = [
                (#"{"count": 2.5}"#, "count"),
                (#"{"count": 186757356715132813312}"#, "count"),
                (#"{"seat_ids": [1, 2.5]}"#, "seat_ids.1"),
                (#"{"seat_ids": [1, -9223372036854775809]}"#, "seat_ids.1"),
            ]
            for (body, field) in cases {
                let response = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: body)
                #expect(response.status == .badRequest, "\(body)")
                #expect(response.problemCode == "invalid_body", "\(body)")
                #expect(response.problemFields == [field], "\(body)")
                let detail = try response.json()["detail"] as? String ?? ""
                #expect(detail.contains("should be an integer"), "\(body): \(detail)")
            }
            // A whole number written with a fraction or an exponent is still that number.
            let whole = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: #"{"count": 2.0}"#)
            #expect(whole.status == .created)

            // Not JSON at all stays "not valid JSON", without a field; an object where an array
            // is due is named in JSON's words, not Swift's.
            let broken = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: #"{"count": 2"#)
            #expect(broken.status == .badRequest)
            #expect(broken.problemFields.isEmpty)
            let admin = try await app.makeUser(role: .admin)
            let object = try await app.request(.post, "/admin/genres", as: admin, json: "0")
            #expect(object.status == .badRequest)
            #expect((try object.json()["detail"] as? String)?.contains("an object") == true)
        }
    }

    @Test func anEmptyTypedQueryParameterIs422NotIgnored() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            for (path, field) in [
                ("/admin/bookings?user_id=", "user_id"), ("/admin/bookings?from=", "from"), ("/showtimes?offset=", "offset"),
                ("/movies?genre=", "genre"), ("/admin/reports/reservations?status=", "status"),
                ("/admin/reports/showtimes?from=&to=2026-01-01", "from"),
            ] {
                let response = try await app.request(.get, path, as: admin)
                #expect(response.status == .unprocessableContent, "\(path)")
                #expect(response.problemFields.contains(field), "\(path): \(response.problemFields)")
            }
            // Free text may be empty.
            #expect(try await app.request(.get, "/movies?q=").status == .ok)
            // The live stream's `since` is typed too (a stray `Last-Event-ID` only means a snapshot).
            let showtime = try await app.makeShowtime()
            let since = try await app.request(.get, "/showtimes/\(showtime.id)/live?since=-9223372036854775809")
            #expect(since.status == .unprocessableContent)
            #expect(since.problemFields == ["since"])
        }
    }

    @Test func aMalformedHoldIs422EvenOnACancelledShowtimeAndAWellFormedOne410() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let admin = try await app.makeUser(role: .admin)
            #expect(try await app.request(.post, "/admin/showtimes/\(showtime.id)/cancel", as: admin).status == .ok)
            let user = try await app.makeUser()
            for body in [#"{"count": 0}"#, #"{"seat_ids": []}"#, #"{"seat_ids": [0]}"#] {
                let response = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: body)
                #expect(response.status == .unprocessableContent, "\(body)")
            }
            let wellFormed = try await app.request(.post, "/showtimes/\(showtime.id)/holds", as: user, json: #"{"count": 1}"#)
            #expect(wellFormed.status == .gone)
        }
    }

    @Test func offsetsPastTheDocumentedMaximumAre422OnEveryList() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            for path in ["/movies", "/showtimes", "/admin/halls", "/admin/users", "/admin/bookings"] {
                let response = try await app.request(.get, "\(path)?offset=1000001", as: admin)
                #expect(response.status == .unprocessableContent, "\(path)")
                #expect(response.problemFields == ["offset"], "\(path)")
                #expect(try await app.request(.get, "\(path)?offset=1000000", as: admin).status == .ok, "\(path)")
            }
        }
    }

    @Test func aPathWithDotDotIsTheRoutesOwn404ProblemNotABare400() async throws {
        try await TestApp.run { app in
            let user = try await app.makeUser()
            for path in ["/holds/..%2F..%2Fetc%2Fpasswd", "/movies/..%2F1", "/..%2F..%2Fetc%2Fpasswd"] {
                let response = try await app.request(.get, path, as: user)
                #expect(response.status == .notFound, "\(path)")
                #expect(response.headers[.contentType] == "application/problem+json", "\(path)")
                #expect(response.problemCode != nil, "\(path)")
            }
        }
    }
}
