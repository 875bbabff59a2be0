#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// PostgreSQL's array text: `{1,2,NULL}`, `{"a b","say \"hi\"","back\\slash"}`, `{{1,2},{3,4}}`.
enum PostgresArrayText {
    /// An array literal of already text-encoded elements (nil is NULL). `elementsAreArrays`
    /// nests the elements unquoted, as sub-arrays of a multi-dimensional array.
    static func encode(_ elements: [String?], elementsAreArrays: Bool) -> String {
        var result = "{"
        for (index, element) in elements.enumerated() {
            if index > 0 { result.append(",") }
            guard let element else {
                result.append("NULL")
                continue
            }
            if elementsAreArrays || !self.needsQuotes(element) {
                result.append(element)
            } else {
                result.append("\"")
                for character in element.unicodeScalars {
                    if character == "\"" || character == "\\" { result.append("\\") }
                    result.unicodeScalars.append(character)
                }
                result.append("\"")
            }
        }
        result.append("}")
        return result
    }

    private static func needsQuotes(_ element: String) -> Bool {
        if element.isEmpty || element.lowercased() == "null" { return true }
        return element.utf8.contains { byte in
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: ","),
                UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), 0x0B, 0x0C:
                true
            default:
                false
            }
        }
    }

    /// The top-level elements of an array's text (nil for NULL); sub-arrays of a
    /// multi-dimensional array come back as their own array text. Nil when the text is malformed.
    static func parse(_ text: String) -> [String?]? {
        let bytes = Array(text.utf8)
        var index = 0

        func isSpace(_ byte: UInt8) -> Bool {
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
                || byte == UInt8(ascii: "\r") || byte == 0x0B || byte == 0x0C
        }
        func skipSpaces() {
            while index < bytes.count, isSpace(bytes[index]) { index += 1 }
        }

        skipSpaces()
        // Explicit bounds, as in "[0:2]={1,2,3}".
        if index < bytes.count, bytes[index] == UInt8(ascii: "[") {
            guard let equals = bytes[index...].firstIndex(of: UInt8(ascii: "=")) else { return nil }
            index = equals + 1
            skipSpaces()
        }
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        skipSpaces()

        var elements: [String?] = []
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            skipSpaces()
            return index == bytes.count ? [] : nil
        }

        while true {
            skipSpaces()
            guard index < bytes.count else { return nil }
            let first = bytes[index]
            if first == UInt8(ascii: "\"") {
                // Quoted: backslash escapes the next byte.
                index += 1
                var value: [UInt8] = []
                var closed = false
                while index < bytes.count {
                    let byte = bytes[index]
                    index += 1
                    if byte == UInt8(ascii: "\\") {
                        guard index < bytes.count else { return nil }
                        value.append(bytes[index])
                        index += 1
                    } else if byte == UInt8(ascii: "\"") {
                        closed = true
                        break
                    } else {
                        value.append(byte)
                    }
                }
                guard closed, let string = String(validating: value, as: UTF8.self) else { return nil }
                elements.append(string)
            } else if first == UInt8(ascii: "{") {
                // A sub-array: keep its text, balancing braces outside quotes.
                let start = index
                var depth = 0
                var inQuotes = false
                while index < bytes.count {
                    let byte = bytes[index]
                    if inQuotes {
                        if byte == UInt8(ascii: "\\") {
                            index += 1
                        } else if byte == UInt8(ascii: "\"") {
                            inQuotes = false
                        }
                    } else if byte == UInt8(ascii: "\"") {
                        inQuotes = true
                    } else if byte == UInt8(ascii: "{") {
                        depth += 1
                    } else if byte == UInt8(ascii: "}") {
                        depth -= 1
                        if depth == 0 {
                            index += 1
                            break
                        }
                    }
                    index += 1
                }
                guard depth == 0, let string = String(validating: bytes[start..<index], as: UTF8.self) else { return nil }
                elements.append(string)
            } else {
                // Unquoted: up to the next delimiter, trailing spaces trimmed; NULL is NULL.
                var value: [UInt8] = []
                var escaped = false
                var lengthWithoutTrailingSpaces = 0
                while index < bytes.count, bytes[index] != UInt8(ascii: ","), bytes[index] != UInt8(ascii: "}") {
                    let byte = bytes[index]
                    index += 1
                    if byte == UInt8(ascii: "\\") {
                        guard index < bytes.count else { return nil }
                        value.append(bytes[index])
                        index += 1
                        escaped = true
                        lengthWithoutTrailingSpaces = value.count
                    } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "\"") {
                        return nil
                    } else {
                        value.append(byte)
                        if !isSpace(byte) { lengthWithoutTrailingSpaces = value.count }
                    }
                }
                value.removeLast(value.count - lengthWithoutTrailingSpaces)
                guard !value.isEmpty, let string = String(validating: value, as: UTF8.self) else { return nil }
                if !escaped, string.lowercased() == "null" {
                    elements.append(nil)
                } else {
                    elements.append(string)
                }
            }
            skipSpaces()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                skipSpaces()
                return index == bytes.count ? elements : nil
            } else {
                return nil
            }
        }
    }
}

/// `timestamptz` text in UTC with microseconds, without a (locale-dependent) date formatter.
enum PostgresTimestamp {
    private static let microsecondsPerDay: Int64 = 86_400_000_000

    /// `2024-05-01 12:34:56.123456+00`; years before 1 get PostgreSQL's ` BC` suffix.
    static func format(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        if seconds.isInfinite { return seconds > 0 ? "infinity" : "-infinity" }
        let micros = Int64((seconds * 1_000_000).rounded())
        let (days, microsOfDay) = micros.quotientAndRemainder(dividingBy: self.microsecondsPerDay)
        let dayNumber = microsOfDay < 0 ? days - 1 : days
        let dayMicros = microsOfDay < 0 ? microsOfDay + self.microsecondsPerDay : microsOfDay
        let (year, month, day) = self.civil(fromDays: dayNumber)
        let secondOfDay = dayMicros / 1_000_000
        let fraction = dayMicros % 1_000_000

        var text = ""
        text.reserveCapacity(32)
        text.append(self.pad(year <= 0 ? 1 - year : year, 4))
        text.append("-")
        text.append(self.pad(month, 2))
        text.append("-")
        text.append(self.pad(day, 2))
        text.append(" ")
        text.append(self.pad(secondOfDay / 3600, 2))
        text.append(":")
        text.append(self.pad(secondOfDay / 60 % 60, 2))
        text.append(":")
        text.append(self.pad(secondOfDay % 60, 2))
        text.append(".")
        text.append(self.pad(fraction, 6))
        text.append("+00")
        if year <= 0 { text.append(" BC") }
        return text
    }

    /// Reads `YYYY-MM-DD[ HH:MM:SS[.ffffff]][+HH[:MM[:SS]]|Z][ BC]` (also with `T`), as sent
    /// for `timestamptz`, `timestamp` (taken as UTC) and `date`; `infinity` maps to the distant future.
    static func parse(_ text: String) -> Date? {
        switch text {
        case "infinity": return .distantFuture
        case "-infinity": return .distantPast
        default: break
        }
        var bytes = Array(text.utf8)
        var isBC = false
        if bytes.count > 3, bytes.suffix(3) == Array(" BC".utf8) {
            isBC = true
            bytes.removeLast(3)
        }
        var index = 0

        func number(minDigits: Int, maxDigits: Int) -> Int64? {
            var value: Int64 = 0
            var digits = 0
            while index < bytes.count, digits < maxDigits, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                value = value * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
                digits += 1
                index += 1
            }
            return digits >= minDigits ? value : nil
        }
        func expect(_ character: Character) -> Bool {
            guard index < bytes.count, bytes[index] == character.asciiValue! else { return false }
            index += 1
            return true
        }

        guard var year = number(minDigits: 4, maxDigits: 9), expect("-"),
            let month = number(minDigits: 2, maxDigits: 2), expect("-"),
            let day = number(minDigits: 2, maxDigits: 2),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        if isBC { year = 1 - year }

        var microsOfDay: Int64 = 0
        var offsetSeconds: Int64 = 0
        if index < bytes.count {
            guard expect(" ") || expect("T"),
                let hour = number(minDigits: 2, maxDigits: 2), expect(":"),
                let minute = number(minDigits: 2, maxDigits: 2), expect(":"),
                let second = number(minDigits: 2, maxDigits: 2),
                hour <= 24, minute < 60, second < 61
            else { return nil }
            var fraction: Int64 = 0
            if expect(".") {
                let start = index
                guard var value = number(minDigits: 1, maxDigits: 6) else { return nil }
                for _ in (index - start)..<6 { value *= 10 }
                fraction = value
                _ = number(minDigits: 0, maxDigits: 100)  // digits beyond microseconds
            }
            microsOfDay = ((hour * 60 + minute) * 60 + second) * 1_000_000 + fraction

            if index < bytes.count {
                if expect("Z") {
                    offsetSeconds = 0
                } else {
                    let sign: Int64
                    if expect("+") {
                        sign = 1
                    } else if expect("-") {
                        sign = -1
                    } else {
                        return nil
                    }
                    guard let offsetHours = number(minDigits: 2, maxDigits: 2) else { return nil }
                    var offsetMinutes: Int64 = 0
                    var offsetExtraSeconds: Int64 = 0
                    if expect(":") {
                        guard let minutes = number(minDigits: 2, maxDigits: 2) else { return nil }
                        offsetMinutes = minutes
                        if expect(":") {
                            guard let seconds = number(minDigits: 2, maxDigits: 2) else { return nil }
                            offsetExtraSeconds = seconds
                        }
                    }
                    offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60 + offsetExtraSeconds)
                }
            }
        }
        guard index == bytes.count else { return nil }

        let days = self.days(fromCivil: year, month, day)
        let micros = days * self.microsecondsPerDay + microsOfDay - offsetSeconds * 1_000_000
        return Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date of a day number since 1970-01-01.
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
