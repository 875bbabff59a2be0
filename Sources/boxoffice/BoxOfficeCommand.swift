import ArgumentParser

@main
struct BoxOfficeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boxoffice",
        abstract: "A cinema's ticketing back end: seat holds in Redis, bookings in PostgreSQL.",
        discussion: """
            Every option can also be set by the environment variable named in its help; a flag \
            wins over the environment. See README.md for the full list.
            """,
        subcommands: [ServeCommand.self, MigrateCommand.self, CreateAdminCommand.self, SeedDemoCommand.self, SandboxCommand.self]
    )
}

/// A failure to start, told in one line that names the setting or service and how to fix it.
struct StartupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
