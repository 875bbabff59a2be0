@testable import BoxOffice
import Testing

/// The sign-in throttle's rules, cell by cell: nobody can lock out someone else.
@Suite struct LoginThrottlePolicyTests {
    let policy = LoginThrottlePolicy(clientAccountLimit: 5, clientLimit: 50, accountDelayAfter: 10, window: .seconds(900))

    typealias Counts = LoginThrottlePolicy.Counts

    @Test func aClientThatFailedTooOftenForAnAccountWaitsForItsWindow() {
        #expect(policy.decide(Counts(clientAccount: 4, clientAccountExpiresIn: 800_000)) == .allowed)
        #expect(policy.decide(Counts(clientAccount: 5, clientAccountExpiresIn: 800_000)) == .wait(milliseconds: 800_000, .clientAccount))
    }

    @Test func aClientThatNeverFailedForAnAccountUnderAttackIsNeverRefused() {
        #expect(policy.decide(Counts(clientAccount: 0, account: 10_000, now: 5_000)) == .allowed)
    }

    @Test func aFailingClientOfAnAccountUnderAttackWaitsADelayThatDoublesAndIsCapped() {
        // 12 failures of the account: 10 allowed, then 1 s, 2 s, 4 s after this client's last failure.
        let counts = Counts(clientAccount: 1, clientAccountLastFailure: 10_000, account: 12, now: 11_000)
        #expect(policy.decide(counts) == .wait(milliseconds: 3_000, .accountDelay))
        var later = counts
        later.now = 14_000
        #expect(policy.decide(later) == .allowed, "the delay has passed")
        #expect(policy.delay(afterAccountFailures: 9) == .zero)
        #expect(policy.delay(afterAccountFailures: 10) == .seconds(1))
        #expect(policy.delay(afterAccountFailures: 13) == .seconds(8))
        #expect(policy.delay(afterAccountFailures: 1_000) == .seconds(60))
    }

    @Test func belowTheAccountThresholdAFailingClientIsNotDelayed() {
        #expect(policy.decide(Counts(clientAccount: 3, clientAccountLastFailure: 10_000, account: 9, now: 10_001)) == .allowed)
    }

    @Test func oneAddressFailingAcrossAccountsIsBlockedOnlyAtItsOwnHigherLimit() {
        #expect(policy.decide(Counts(client: 49, clientExpiresIn: 1_000)) == .allowed, "one office behind one address")
        #expect(policy.decide(Counts(client: 50, clientExpiresIn: 1_000)) == .wait(milliseconds: 1_000, .client))
    }

    @Test func retryAfterIsTheLongestOfTheBlocksThatApply() {
        #expect(policy.decide(Counts(clientAccount: 5, clientAccountExpiresIn: 10, client: 50, clientExpiresIn: 900)) == .wait(milliseconds: 900, .client))
        #expect(policy.decide(Counts(clientAccount: 5, clientAccountExpiresIn: 900, client: 50, clientExpiresIn: 10)) == .wait(milliseconds: 900, .clientAccount))
    }
}
