import ArgumentParser
import Synchronization
import Foundation

/// A fault injected during the rush (`--fault SECONDS=COMMAND`): a shell command run that many
/// seconds after the sale opens, e.g. `scripts/cluster kill-redis-primary`.
struct Fault: Sendable, ExpressibleByArgument {
    var afterSeconds: Double
    var command: String

    init?(argument: String) {
        guard let equals = argument.firstIndex(of: "="), let seconds = Double(argument[..<equals]), seconds >= 0 else { return nil }
        afterSeconds = seconds
        command = String(argument[argument.index(after: equals)...])
        if command.isEmpty { return nil }
    }
}

/// What one fault did to the sale, from the errors and confirmations around it.
struct FaultWindow: Codable, Sendable {
    var command: String
    var atSeconds: Double
    /// Errors (5xx, and "transport" for no answer) from the fault until the next one.
    var errorsByStatus: [String: Int]
    var firstErrorAfterMilliseconds: Double?
    var lastErrorAfterMilliseconds: Double?
    /// The longest stretch without a confirmed booking that began after the fault (in its
    /// window): how long until bookings flowed again.
    var longestGapWithoutBookingsMilliseconds: Double?

    static func windows(faults: [(UInt64, String)], errors: [(UInt64, String)], confirmedAt: [UInt64], end: UInt64) -> [FaultWindow] {
        let sortedFaults = faults.sorted { $0.0 < $1.0 }
        let confirmations = confirmedAt.sorted()
        return sortedFaults.enumerated().map { index, fault in
            let (start, command) = fault
            let stop = max(start, index + 1 < sortedFaults.count ? sortedFaults[index + 1].0 : end)
            let inWindow = errors.filter { $0.0 >= start && $0.0 < stop }
            var byStatus: [String: Int] = [:]
            for (_, status) in inWindow { byStatus[status, default: 0] += 1 }
            func ms(_ value: UInt64) -> Double { (Double(value - start) / 1000).rounded() }
            var previous = start
            var longest: UInt64 = 0
            for time in confirmations where time >= start && time < stop {
                longest = max(longest, time - previous)
                previous = time
            }
            longest = max(longest, stop - previous)
            return FaultWindow(
                command: command, atSeconds: Double(start) / 1e6, errorsByStatus: byStatus,
                firstErrorAfterMilliseconds: inWindow.map(\.0).min().map(ms),
                lastErrorAfterMilliseconds: inWindow.map(\.0).max().map(ms),
                longestGapWithoutBookingsMilliseconds: (Double(longest) / 1000).rounded()
            )
        }
    }
}

/// Runs each fault's command at its time after `start` (the sale's opening), recording when.
func injectFaults(_ faults: [Fault], measurements: Measurements) async {
    await withTaskGroup(of: Void.self) { group in
        for fault in faults {
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int(fault.afterSeconds * 1000)))
                let at = measurements.elapsedMicroseconds
                measurements.state.withLock { $0.faults.append((at, fault.command)) }
                progress("fault at \(String(format: "%.1f", Double(at) / 1e6)) s: \(fault.command)")
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/bin/sh")
                process.arguments = ["-c", fault.command]
                do {
                    try process.run()
                } catch {
                    progress("the fault's command did not start: \(error)")
                }
            }
        }
    }
}
