import NIOCore

extension HoldInput {
    /// `{"seat_ids":[1,2,3]}` or `{"count":2}` read by hand: these are the bodies of a rush's
    /// hold requests, and decoding them with `JSONDecoder` cost more than the rest of the
    /// request's own work. Anything else (other keys, escapes, signs, fractions, leading zeros)
    /// gives nil and goes to the decoder, with its errors.
    static func scanned(_ body: ByteBuffer) -> HoldInput? {
        var scanner = Scanner(bytes: body.readableBytesView)
        guard scanner.take(UInt8(ascii: "{")) else { return nil }
        var input = HoldInput()
        if scanner.take(Self.seatIDsKey) {
            guard scanner.take(UInt8(ascii: ":")), scanner.take(UInt8(ascii: "[")) else { return nil }
            var seats: [Int] = []
            if !scanner.take(UInt8(ascii: "]")) {
                repeat {
                    guard let seat = scanner.integer() else { return nil }
                    seats.append(seat)
                } while scanner.take(UInt8(ascii: ","))
                guard scanner.take(UInt8(ascii: "]")) else { return nil }
            }
            input.seatIDs = seats
        } else if scanner.take(Self.countKey) {
            guard scanner.take(UInt8(ascii: ":")), let count = scanner.integer() else { return nil }
            input.count = count
        } else {
            return nil
        }
        guard scanner.take(UInt8(ascii: "}")), scanner.isAtEnd else { return nil }
        return input
    }

    private static let seatIDsKey = Array("\"seat_ids\"".utf8)
    private static let countKey = Array("\"count\"".utf8)

    private struct Scanner {
        let bytes: ByteBufferView
        var index: ByteBufferView.Index

        init(bytes: ByteBufferView) {
            self.bytes = bytes
            self.index = bytes.startIndex
        }

        var isAtEnd: Bool {
            mutating get {
                skipBlanks()
                return index == bytes.endIndex
            }
        }

        /// Skips blanks, then takes `byte` if it comes next.
        mutating func take(_ byte: UInt8) -> Bool {
            skipBlanks()
            guard index < bytes.endIndex, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// Skips blanks, then takes `text` if it comes next.
        mutating func take(_ text: [UInt8]) -> Bool {
            skipBlanks()
            guard bytes[index...].starts(with: text) else { return false }
            index += text.count
            return true
        }

        /// A JSON integer without sign, fraction or exponent, small enough for any seat id.
        mutating func integer() -> Int? {
            skipBlanks()
            let start = index
            var value = 0
            while index < bytes.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]), index - start < 15 {
                value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                index += 1
            }
            let digits = index - start
            guard digits > 0, digits < 15, !(digits > 1 && bytes[start] == UInt8(ascii: "0")) else { return nil }
            // "12.5", "1e3" and the like are the decoder's to judge.
            if index < bytes.endIndex, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) { return nil }
            return value
        }

        private mutating func skipBlanks() {
            while index < bytes.endIndex, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }
    }
}
