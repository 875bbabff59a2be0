public import Foundation

/// An e-mail as RFC 5322 text with MIME parts: a UTF-8 text body and attachments, each base64
/// in lines of 76. Pure, so the exact bytes a relay gets are testable.
public struct EmailMessage: Sendable, Equatable {
    public struct Attachment: Sendable, Equatable {
        public var filename: String
        public var contentType: String
        public var data: Data
    }

    public var from: String
    public var to: String
    public var subject: String
    public var text: String
    public var attachments: [Attachment] = []
    /// A stable id per event, so that a relay or a mail client can spot a repeat.
    public var messageID: String
    public var date: Date

    public var rendered: String {
        let boundary = "=_boxoffice_" + String(messageID.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) }.prefix(24).map(Character.init))
        var lines = [
            "From: \(from)",
            "To: <\(to)>",
            "Subject: \(Self.encodedWord(subject))",
            "Date: \(Self.rfc5322(date))",
            "Message-ID: <\(messageID)>",
            "MIME-Version: 1.0",
            "Content-Type: multipart/mixed; boundary=\"\(boundary)\"",
            "",
            "--\(boundary)",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
            "",
        ]
        lines += Self.base64Lines(Data(text.utf8))
        for attachment in attachments {
            lines += [
                "--\(boundary)",
                "Content-Type: \(attachment.contentType); name=\"\(attachment.filename)\"",
                "Content-Transfer-Encoding: base64",
                "Content-Disposition: attachment; filename=\"\(attachment.filename)\"",
                "",
            ]
            lines += Self.base64Lines(attachment.data)
        }
        lines.append("--\(boundary)--")
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// `=?UTF-8?B?…?=` when the text is not plain ASCII.
    static func encodedWord(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { !$0.isASCII || $0.value < 32 }) else { return text }
        return "=?UTF-8?B?\(Data(text.utf8).base64EncodedString())?="
    }

    static func base64Lines(_ data: Data) -> [String] {
        let text = data.base64EncodedString()
        return stride(from: 0, to: text.count, by: 76).map { start in
            let from = text.index(text.startIndex, offsetBy: start)
            return String(text[from..<(text.index(from, offsetBy: 76, limitedBy: text.endIndex) ?? text.endIndex)])
        }
    }

    static func rfc5322(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }
}
