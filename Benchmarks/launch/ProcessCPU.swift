import Foundation

/// CPU time (user + system) of every process on this machine, summed by command name, read
/// from /proc: taken when the sale opens and when the rush ends, it says how much CPU each
/// part (BoxOffice, Redis, PostgreSQL, the simulator itself) spent per confirmed booking.
struct ProcessCPU: Sendable {
    /// Seconds of CPU per process id, with its command name (`comm`, e.g. "boxoffice",
    /// "redis-server", "postgres"). Per process, so that one that exits between two samples
    /// (a PostgreSQL backend of a closed pool) does not take its earlier CPU off the sum.
    var seconds: [Int: (name: String, seconds: Double)]

    static func sample() -> ProcessCPU {
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        var seconds: [Int: (name: String, seconds: Double)] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for pid in entries where pid.allSatisfy(\.isNumber) {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
            // comm may hold spaces; the fields after it are space-separated: utime is the 12th
            // after the state, stime the 13th (fields 14 and 15 of proc(5)).
            var name = String(stat[stat.index(after: open)..<close])
            // Kernel workers are renamed by the work they run, so one thread's whole lifetime
            // would show as new under a new name: left out (the network stack's softirq
            // threads, ksoftirqd, stay in).
            if name.hasPrefix("kworker") { continue }
            // Redis names its threads and the main process "redis-server"; PostgreSQL's
            // backends show as "postgres"; the simulator is "launch".
            if name.hasPrefix("redis-server") { name = "redis-server" }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            seconds[Int(pid)!] = (name, (user + system) / ticksPerSecond)
        }
        return ProcessCPU(seconds: seconds)
    }

    /// CPU spent between `earlier` and this sample, per name; only names that spent any.
    func since(_ earlier: ProcessCPU) -> [String: Double] {
        var spent: [String: Double] = [:]
        for (pid, now) in seconds {
            let before = earlier.seconds[pid].flatMap { $0.name == now.name ? $0.seconds : nil } ?? 0
            spent[now.name, default: 0] += max(0, now.seconds - before)
        }
        return spent.filter { $0.value > 0.005 }.mapValues { ($0 * 1000).rounded() / 1000 }
    }
}
