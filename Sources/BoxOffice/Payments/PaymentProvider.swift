public import Foundation

/// A payment opened with the provider: where the customer pays.
public struct OpenedPayment: Sendable, Equatable {
    public var providerPaymentID: String
    public var payURL: String

    public init(providerPaymentID: String, payURL: String) {
        self.providerPaymentID = providerPaymentID
        self.payURL = payURL
    }
}

/// A payment provider: opens payments and refunds them. Confirmations arrive as signed
/// callbacks (`PaymentSignature`), not as return values.
public protocol PaymentProvider: Sendable {
    /// Stored with each payment and each callback event.
    var name: String { get }
    /// Opens the payment of a booking. `bookingID` is the provider's idempotency key: opening
    /// again for the same booking answers the same payment.
    func openPayment(bookingID: UUID, amountMinor: Int, currency: String) async throws -> OpenedPayment
    /// Asks the provider to pay `amountMinor` back; true when it accepted at once. `refundID`
    /// is the provider's idempotency key: asking twice for one refund pays it once.
    func requestRefund(refundID: UUID, providerPaymentID: String, amountMinor: Int, currency: String) async throws -> Bool
}

/// The built-in provider for development and tests: payments are paid by
/// `boxoffice sandbox pay` or the development route, which send the callback signed exactly
/// as a real provider would. Refunds are accepted at once.
public struct SandboxPaymentProvider: PaymentProvider {
    public let name = "sandbox"
    /// Where the development route lives, for the pay URL.
    let baseURL: String

    public init(baseURL: String = "") {
        self.baseURL = baseURL
    }

    public func openPayment(bookingID: UUID, amountMinor: Int, currency: String) async throws -> OpenedPayment {
        // Derived from the booking: the same booking gets the same payment, as a real
        // provider's idempotency key would give.
        let id = "sbx_" + bookingID.canonical.replacingOccurrences(of: "-", with: "")
        return OpenedPayment(providerPaymentID: id, payURL: "\(baseURL)/sandbox/payments/\(id)")
    }

    public func requestRefund(refundID: UUID, providerPaymentID: String, amountMinor: Int, currency: String) async throws -> Bool {
        true
    }
}
