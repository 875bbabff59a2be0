@testable import BoxOffice
import Testing

@Suite struct PickingViewsTests {
    /// One row of ten seats (ids 0...9), best view at its middle.
    let picker = BestAvailable(
        seats: (0..<10).map { SeatPlace(id: $0, rowIndex: 0, position: $0, category: "standard", x: Double($0), y: 0) },
        bestX: 4.5, bestY: 0
    )

    @Test func withoutAFreshViewAPickAsksForARead() {
        let views = PickingViews(maxAge: .seconds(60))
        #expect(views.claim(showtimeID: 1, count: 2, category: nil, with: picker) == nil)
        views.refresh(showtimeID: 1, unavailable: [], readAt: .now - .seconds(61))
        #expect(views.claim(showtimeID: 1, count: 2, category: nil, with: picker) == nil)
        views.refresh(showtimeID: 1, unavailable: [], readAt: .now)
        #expect(views.claim(showtimeID: 1, count: 2, category: nil, with: picker) == [4, 5])
    }

    @Test func concurrentPicksClaimDifferentBlocksUntilNoneIsLeft() {
        let views = PickingViews(maxAge: .seconds(60))
        views.refresh(showtimeID: 1, unavailable: [], readAt: .now)
        var claimed: [[Int]] = []
        while let block = views.claim(showtimeID: 1, count: 3, category: nil, with: picker) {
            claimed.append(block)
        }
        #expect(claimed.count == 3)
        #expect(Set(claimed.joined()).count == 9, "no seat claimed twice")
        #expect(views.claim(showtimeID: 1, count: 3, category: nil, with: picker) == nil)
    }

    @Test func seatsTheHoldScriptFoundTakenLeaveTheView() {
        let views = PickingViews(maxAge: .seconds(60))
        views.refresh(showtimeID: 1, unavailable: [], readAt: .now)
        views.markTaken(showtimeID: 1, seatIDs: [4, 5])
        #expect(views.claim(showtimeID: 1, count: 2, category: nil, with: picker) == [2, 3])
        // An older read does not replace a newer one.
        views.refresh(showtimeID: 1, unavailable: [], readAt: .now - .seconds(1))
        #expect(views.claim(showtimeID: 1, count: 2, category: nil, with: picker) == [6, 7])
    }

    @Test func aReadThatStartedBeforeAClaimKeepsTheClaim() {
        let views = PickingViews(maxAge: .seconds(60))
        let readStarted = ContinuousClock.now
        views.refresh(showtimeID: 1, unavailable: [], readAt: readStarted - .milliseconds(1))
        #expect(views.claim(showtimeID: 1, count: 2, category: nil, with: picker) == [4, 5])
        // A read sent before that claim answers after it, without the claimed seats.
        views.refresh(showtimeID: 1, unavailable: [], readAt: readStarted)
        #expect(views.claim(showtimeID: 1, count: 2, category: nil, with: picker) == [2, 3])
        // A read sent after the claims shows what really is taken: nothing was held.
        views.refresh(showtimeID: 1, unavailable: [], readAt: .now)
        #expect(views.claim(showtimeID: 1, count: 2, category: nil, with: picker) == [4, 5])
    }

    @Test func withViewsOffARequestClaimsInAViewAsNewAsItsOwnRead() {
        let views = PickingViews(maxAge: .zero)
        let ownRead = ContinuousClock.now
        views.refresh(showtimeID: 1, unavailable: [], readAt: ownRead)
        #expect(views.claim(showtimeID: 1, count: 2, category: nil, with: picker) == nil, "no shared view to start from")
        #expect(views.claim(showtimeID: 1, count: 2, category: nil, with: picker, after: SeatsRead(unavailable: [], at: ownRead)) == [4, 5])
        #expect(views.claim(showtimeID: 1, count: 2, category: nil, with: picker, after: SeatsRead(unavailable: [], at: ownRead)) == [2, 3], "the next one goes elsewhere")
        #expect(views.claim(showtimeID: 1, count: 2, category: nil, with: picker, after: SeatsRead(unavailable: [], at: .now)) == nil, "a view older than the read is not used")
    }

    @Test func aClaimSkipsSeatsTheRequestItselfFoundTaken() {
        let views = PickingViews(maxAge: .seconds(60))
        let ownRead = SeatsRead(unavailable: [4, 5], at: .now)
        // A view refreshed after this request lost seats 4 and 5 may show them free again.
        views.refresh(showtimeID: 1, unavailable: [], readAt: .now)
        #expect(views.claim(showtimeID: 1, count: 2, category: nil, with: picker, after: ownRead) == [2, 3])
    }
}
