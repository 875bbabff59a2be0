@testable import BoxOfficeHTTP
import Foundation
import NIOCore
import Testing

/// The hand scanner of hold bodies must read exactly what the decoder reads, or leave the body
/// to the decoder.
@Suite struct HoldInputScannerTests {
    @Test(arguments: [
        #"{"seat_ids":[12]}"#, #"{"seat_ids": [1, 2, 3]}"#, " {\n\t\"seat_ids\" : [ 7 ,8 ] }\r\n", #"{"seat_ids":[]}"#,
        #"{"count":2}"#, #"{"count": 10}"#, #"{"seat_ids":[0]}"#,
    ])
    func commonBodiesAreScannedAsTheDecoderReadsThem(body: String) throws {
        let scanned = try #require(HoldInput.scanned(ByteBuffer(string: body)))
        let decoded = try JSONDecoder().decode(HoldInput.self, from: Data(body.utf8))
        #expect(scanned.seatIDs == decoded.seatIDs)
        #expect(scanned.count == decoded.count)
        #expect(scanned.category == nil && decoded.category == nil)
    }

    @Test(arguments: [
        #"{"count":2,"category":"premium"}"#, #"{"seat_ids":[1],"count":2}"#, #"{"seat_ids":[01]}"#, #"{"seat_ids":[-1]}"#,
        #"{"seat_ids":[1.5]}"#, #"{"seat_ids":[1e2]}"#, #"{"seat_\u0069ds":[1]}"#, #"{"seat_ids":[1,]}"#, #"{"seat_ids":[1]"#,
        #"{"seat_ids":[1]}x"#, #"{"seat_ids":"1"}"#, #"{"count":123456789012345678}"#, "", "[]", #"{"seats":[1]}"#,
    ])
    func anythingUnusualIsLeftToTheDecoder(body: String) {
        #expect(HoldInput.scanned(ByteBuffer(string: body)) == nil)
    }
}
