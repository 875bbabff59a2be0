import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// The e-ticket's QR code, read back by an independent decoder (`zbarimg`, Debian's zbar-tools).
@Suite struct TicketImageTests {
    /// `zbarimg --raw` of a PNG: the text of every code it finds, one a line.
    static func decode(png: ByteBuffer) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ticket-\(UUID()).png")
        try Data(png.readableBytesView).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/zbarimg")
        process.arguments = ["--quiet", "--raw", file.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The dark modules an SVG drawn by `TicketQR.svg()` paints, read from its path.
    static func modules(svg: String, size: Int) -> [Bool] {
        var dark = [Bool](repeating: false, count: size * size)
        let quiet = TicketQR.quietZone
        let pattern = /M(\d+),(\d+)h(\d+)v1h-\d+z/
        for match in svg.matches(of: pattern) {
            let (x, y, run) = (Int(match.1)!, Int(match.2)!, Int(match.3)!)
            for column in x..<(x + run) { dark[(y - quiet) * size + column - quiet] = true }
        }
        return dark
    }

    @Test func theTicketsQRCodeDecodesToItsTicketCodeAndOnlyItsOwnerOrAnAdminGetsIt() async throws {
        try await TestApp.run { app in
            let showtime = try await app.makeShowtime()
            let user = try await app.makeUser()
            let purchase = try await CheckoutTests.checkOut(app, showtime, [showtime.rows[0][0]], as: user)
            let early = try await app.request(.get, "/bookings/\(purchase.bookingID)/ticket.png", as: user)
            #expect(early.status == .conflict)
            #expect(early.problemCode == "no_ticket")

            _ = try await CheckoutTests.callback(app, payment: purchase.paymentID, amount: purchase.amount)
            let code = try #require(try await app.request(.get, "/bookings/\(purchase.bookingID)", as: user).json()["ticket_code"] as? String)
            let png = try await app.request(.get, "/bookings/\(purchase.bookingID)/ticket.png", as: user)
            #expect(png.status == .ok)
            #expect(png.headers[.contentType] == "image/png")
            #expect(png.headers[.cacheControl] == "private, no-store")
            #expect(try Self.decode(png: png.body) == code)

            let svg = try await app.request(.get, "/bookings/\(purchase.bookingID)/ticket.svg", as: user)
            #expect(svg.headers[.contentType] == "image/svg+xml")
            let qr = try #require(TicketQR(code))
            #expect(Self.modules(svg: String(buffer: svg.body), size: qr.size) == qr.modules, "the SVG draws the same modules")

            let admin = try await app.makeUser(role: .admin)
            #expect(try await app.request(.get, "/bookings/\(purchase.bookingID)/ticket.svg", as: admin).status == .ok)
            let stranger = try await app.makeUser()
            #expect(try await app.request(.get, "/bookings/\(purchase.bookingID)/ticket.png", as: stranger).status == .notFound)
            #expect(try await app.request(.get, "/bookings/\(purchase.bookingID)/ticket.png").status == .unauthorized)
        }
    }

    @Test(arguments: ["A", "BoxOffice-ticket-0123456789", String(repeating: "x", count: 300)])
    func anyTextDrawnAsPNGDecodesToItself(text: String) throws {
        let qr = try #require(TicketQR(text))
        #expect(try Self.decode(png: ByteBuffer(bytes: qr.png(scale: 4))) == text)
    }
}
