import Foundation
import Testing

/// A Redis Cluster runs a script on the node of its keys and may refuse any other key: every
/// key a script touches must come from KEYS, never be built from ARGV or from data.
@Suite struct LuaKeysTests {
    static let directory: String = (ProcessInfo.processInfo.environment["BOXOFFICE_REPO_ROOT"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path) + "/lua"

    static var scripts: [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".lua") }.sorted()) ?? []
    }

    /// Commands whose first argument is not a key.
    static let keyless: Set<String> = ["PUBLISH", "SPUBLISH", "TIME"]

    @Test func thereAreScriptsToCheck() {
        #expect(Self.scripts.count >= 10)
    }

    @Test(arguments: scripts)
    func everyKeyAScriptTouchesComesFromKEYS(script: String) throws {
        let source = try String(contentsOfFile: Self.directory + "/" + script, encoding: .utf8)
        // Names bound to KEYS entries: `local a, b = KEYS[1], KEYS[2]` and `local a = KEYS[3]`.
        var keyNames = Set<String>()
        let binding = try Regex(#"local\s+([\w\s,]+?)\s*=\s*\n?\s*(KEYS\[[^\n]*)"#)
        for match in source.matches(of: binding) {
            let names = String(match.output[1].substring ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let values = String(match.output[2].substring ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            for (name, value) in zip(names, values) where value.hasPrefix("KEYS[") { keyNames.insert(name) }
        }
        let call = try Regex(#"redis\.call\('(\w+)',\s*([^,)]+)"#)
        var checked = 0
        for match in source.matches(of: call) {
            let command = String(match.output[1].substring ?? "").uppercased()
            let key = String(match.output[2].substring ?? "").trimmingCharacters(in: .whitespaces)
            guard !Self.keyless.contains(command) else { continue }
            checked += 1
            #expect(key.hasPrefix("KEYS[") || keyNames.contains(key), "\(script): \(command) on \(key), which is not from KEYS")
        }
        #expect(checked > 0)
    }
}
