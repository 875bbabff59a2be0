public import Logging
import ServiceLifecycle

/// The loop of the delivery workers: keeps up to `slots` items in flight, claiming more
/// (`claim(free slots)`) as soon as one ends and otherwise every `interval`, so one slow item
/// holds up only its own slot. Ends at graceful shutdown; items cut short by it must be safe to
/// run again (the workers lease what they claim).
public func inSlots<Item: Sendable>(
    _ slots: Int, every interval: Duration, logger: Logger, failure: String,
    claim: (Int) async throws -> [Item], run: @escaping @Sendable (Item) async -> Void
) async {
    await withTaskGroup(of: Bool.self) { group in
        var inFlight = 0
        var ticking = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if inFlight < slots {
                do {
                    for item in try await claim(slots - inFlight) {
                        inFlight += 1
                        group.addTask { await run(item); return true }
                    }
                } catch {
                    logger.warning("\(failure)", metadata: ["error": "\(error)"])
                }
            }
            if !ticking {
                ticking = true
                group.addTask { try? await Task.sleep(for: interval); return false }
            }
            // An item ended (true) or the interval passed (false): look for more.
            guard let ended = await group.next() else { break }
            if ended { inFlight -= 1 } else { ticking = false }
        }
        group.cancelAll()
    }
}
