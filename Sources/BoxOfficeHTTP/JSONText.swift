import Foundation

/// Writes JSON by hand for the few bodies on the hot paths, where `JSONEncoder` cost more
/// than the work behind the response (profiled on the hold path). Produces what the
/// default response encoder would: ISO 8601 dates in UTC to the second.
struct JSONText {
    private(set) var text = ""

    init(capacity: Int = 256) {
        text.reserveCapacity(capacity)
    }

    mutating func raw(_ fragment: String) {
        text += fragment
    }

    mutating func string(_ value: String) {
        text += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20:
                text += "\\u00"
                text.unicodeScalars.append(Self.hexDigit(scalar.value >> 4))
                text.unicodeScalars.append(Self.hexDigit(scalar.value & 0xf))
            default:
                text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }

    mutating func int(_ value: Int) {
        text += String(value)
    }

    /// `2026-11-22T20:00:00Z`
    mutating func date(_ value: Date) {
        var seconds = time_t(value.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ number: Int32) -> String { number < 10 ? "0\(number)" : String(number) }
        text += "\"\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
        text += "T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z\""
    }

    private static func hexDigit(_ value: UInt32) -> Unicode.Scalar {
        Unicode.Scalar(UInt8(value < 10 ? 48 + value : 87 + value))
    }
}
