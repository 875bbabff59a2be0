public import Logging
public import ServiceLifecycle

/// Asks the provider again for refunds that were recorded but never requested (the request
/// failed, or the instance stopped between commit and request), so money owed is not left
/// waiting for staff. Every instance runs one; claiming makes concurrent sweepers harmless.
public struct RefundSweeper: Service {
    let refunds: RefundService
    /// A refund this old and still unrequested is taken; younger ones are left to the request
    /// that follows their commit.
    let age: Duration
    let interval: Duration
    let logger: Logger

    public init(refunds: RefundService, age: Duration = .seconds(300), interval: Duration = .seconds(60), logger: Logger) {
        self.refunds = refunds
        self.age = age
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await periodically(every: interval, logger: logger, failure: "sweeping unrequested refunds failed") {
            let requested = try await refunds.requestUnrequestedRefunds(olderThan: age)
            if requested > 0 { logger.info("requested refunds left unrequested", metadata: ["count": "\(requested)"]) }
        }
    }
}
