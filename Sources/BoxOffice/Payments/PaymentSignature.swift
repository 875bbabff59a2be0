import Crypto
public import Foundation

/// The provider's callback signature: `BoxOffice-Signature: t=<unix seconds>,v1=<hex
/// HMAC-SHA256 of "<t>.<raw body>">` with the shared secret. The timestamp is inside the MAC,
/// so an old callback cannot be replayed with a fresh time.
public struct PaymentSignature: Sendable {
    public static let headerName = "BoxOffice-Signature"

    private let key: SymmetricKey
    /// How far a callback's timestamp may be from now, either way.
    public let tolerance: TimeInterval

    public init(secret: String, tolerance: TimeInterval = 300) {
        self.key = SymmetricKey(data: Data(secret.utf8))
        self.tolerance = tolerance
    }

    /// The header value for `body` sent at `time`.
    public func header(for body: [UInt8], at time: Date = Date()) -> String {
        let timestamp = Int(time.timeIntervalSince1970)
        return "t=\(timestamp),v1=\(hex(mac(body, timestamp: timestamp)))"
    }

    /// Throws 401 `invalid_signature` or `stale_signature` unless `header` signs `body`.
    public func verify(_ header: String?, body: [UInt8], now: Date = Date()) throws(BoxOfficeError) {
        guard let header else { throw Self.invalid("The BoxOffice-Signature header is missing.") }
        var timestamp: Int?
        var signatures: [String] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            if pair[0] == "t" { timestamp = Int(pair[1]) }
            if pair[0] == "v1" { signatures.append(pair[1].lowercased()) }
        }
        guard let timestamp, !signatures.isEmpty else {
            throw Self.invalid("The BoxOffice-Signature header must be t=<unix seconds>,v1=<hex HMAC>.")
        }
        let expected = mac(body, timestamp: timestamp)
        // Constant-time comparison of the MACs, so timing does not reveal how much matched.
        let matches = signatures.contains { candidate in
            guard let bytes = bytes(fromHex: candidate) else { return false }
            return HMAC<SHA256>.isValidAuthenticationCode(bytes, authenticating: signed(body, timestamp), using: key)
                && bytes.count == expected.count
        }
        guard matches else { throw Self.invalid("The signature does not match the body.") }
        guard abs(now.timeIntervalSince1970 - Double(timestamp)) <= tolerance else {
            throw BoxOfficeError(
                .unauthorized, code: "stale_signature",
                message: "The signature's timestamp is more than \(Int(tolerance)) seconds from now."
            )
        }
    }

    private static func invalid(_ message: String) -> BoxOfficeError {
        BoxOfficeError(.unauthorized, code: "invalid_signature", message: message)
    }

    private func signed(_ body: [UInt8], _ timestamp: Int) -> [UInt8] {
        Array("\(timestamp).".utf8) + body
    }

    private func mac(_ body: [UInt8], timestamp: Int) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: signed(body, timestamp), using: key))
    }

    private func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    private func bytes(fromHex text: String) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count / 2)
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
