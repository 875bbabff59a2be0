import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Logging
import Testing

/// openapi.yaml and the router must describe the same API.
@Suite struct OpenAPIDocumentTests {
    /// "METHOD /path/{param}" for every operation in openapi.yaml (a small reader for the
    /// document's own layout: paths at two spaces, methods at four).
    static func documentedOperations() throws -> Set<String> {
        let text = try String(contentsOfFile: TestServices.repositoryRoot + "/openapi.yaml", encoding: .utf8)
        var operations: Set<String> = []
        var inPaths = false
        var currentPath: String?
        let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("paths:") { inPaths = true; continue }
            if inPaths, let first = line.first, first != " ", first != "#" { inPaths = false }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                currentPath = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), let path = currentPath {
                let key = line.trimmingCharacters(in: .whitespaces).dropLast()
                if line.hasSuffix(":"), methods.contains(String(key)) {
                    operations.insert("\(key.uppercased()) \(path)")
                }
            }
        }
        return operations
    }

    static func routedOperations() async throws -> Set<String> {
        try await TestServices.withDatabase(migrated: false) { configuration in
            // Development routes too: the document describes them, marked as such.
            try await TestServices.withDependencies(postgres: configuration, configure: { $0.sandboxRoutesEnabled = true }) { dependencies in
                let router = buildRouter(dependencies, settings: TestServices.serverSettings)
                return Set(router.routes.map { route in
                    let path = route.path.components.map { component -> String in
                        let text = "\(component)"
                        return text.hasPrefix(":") ? "{\(text.dropFirst())}" : text
                    }.joined(separator: "/")
                    return "\(route.method) /\(path)"
                })
            }
        }
    }

    @Test func everyRouteIsDocumentedAndEveryDocumentedRouteExists() async throws {
        let documented = try Self.documentedOperations()
        let routed = try await Self.routedOperations()
        #expect(routed.subtracting(documented).sorted() == [], "routes missing from openapi.yaml")
        #expect(documented.subtracting(routed).sorted() == [], "openapi.yaml describes routes the server lacks")
        #expect(documented.contains("GET /health"))
    }

    @Test func theDocumentIsServed() async throws {
        try await TestApp.run { app in
            let response = try await app.request(.get, "/openapi.yaml")
            #expect(response.status == .ok)
            #expect(String(buffer: response.body).hasPrefix("openapi: 3.1.0"))
        }
    }
}
