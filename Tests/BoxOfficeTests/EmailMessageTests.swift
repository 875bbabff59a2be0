@testable import BoxOffice
import Foundation
import Testing

/// The bytes an SMTP relay gets.
@Suite struct EmailMessageTests {
    static let message = EmailMessage(
        from: "BoxOffice <tickets@example.com>", to: "ada@example.com", subject: "Your tickets: Amélie, Friday",
        text: "Ticket code: abc\nSeats: A1", attachments: [.init(filename: "ticket-abc.png", contentType: "image/png", data: Data(repeating: 7, count: 200))],
        messageID: "0f1e2d3c@boxoffice", date: Date(timeIntervalSince1970: 1_800_000_000)
    )

    @Test func headersNameTheSenderTheRecipientAndAStableID() {
        let lines = Self.message.rendered.components(separatedBy: "\r\n")
        #expect(lines.contains("From: BoxOffice <tickets@example.com>"))
        #expect(lines.contains("To: <ada@example.com>"))
        #expect(lines.contains("Message-ID: <0f1e2d3c@boxoffice>"))
        #expect(lines.contains("Date: Fri, 15 Jan 2027 08:00:00 +0000"))
        #expect(lines.contains("MIME-Version: 1.0"))
    }

    @Test func aSubjectBeyondASCIIIsAnEncodedWord() {
        let subject = Self.message.rendered.components(separatedBy: "\r\n").first { $0.hasPrefix("Subject: ") }
        #expect(subject == "Subject: =?UTF-8?B?\(Data("Your tickets: Amélie, Friday".utf8).base64EncodedString())?=")
        #expect(EmailMessage.encodedWord("Plain") == "Plain")
        #expect(EmailMessage.encodedWord("Line\nbreak").hasPrefix("=?UTF-8?B?"), "no header injection")
    }

    @Test func partsAreBase64InShortLinesAndTheMessageEndsItsBoundary() {
        let rendered = Self.message.rendered
        let lines = rendered.components(separatedBy: "\r\n")
        #expect(lines.allSatisfy { $0.utf8.count <= 998 })
        let body = lines.filter { $0.count == 76 }
        #expect(!body.isEmpty, "the attachment wraps at 76")
        #expect(rendered.contains("Content-Disposition: attachment; filename=\"ticket-abc.png\""))
        #expect(rendered.contains(Data("Ticket code: abc\nSeats: A1".utf8).base64EncodedString()))
        #expect(rendered.hasSuffix("--=_boxoffice_0f1e2d3cboxoffice--\r\n"))
    }
}
