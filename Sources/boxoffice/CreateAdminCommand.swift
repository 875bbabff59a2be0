import ArgumentParser
import BoxOffice
import Logging
import PostgresClient

struct CreateAdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-admin",
        abstract: "Create an admin, or promote the existing account with that email (its password stays); safe to repeat."
    )

    @Option(help: "The admin's email (env BOXOFFICE_ADMIN_EMAIL).")
    var email: String?

    @Option(help: "The password for a new admin account (env BOXOFFICE_ADMIN_PASSWORD); ignored when the account exists.")
    var password: String?

    @Option(help: "The name of a new admin account (default Administrator).")
    var name: String = "Administrator"

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        guard let email = requiredSetting(email, "BOXOFFICE_ADMIN_EMAIL") else {
            throw StartupError("give the admin's email with --email or BOXOFFICE_ADMIN_EMAIL")
        }
        guard let password = requiredSetting(password, "BOXOFFICE_ADMIN_PASSWORD") else {
            throw StartupError("give the admin's password with --password or BOXOFFICE_ADMIN_PASSWORD")
        }
        let logger = try logging.bootstrap()
        let configuration = try database.configuration()
        let pool = PostgresPool(configuration: configuration, logger: logger)
        do {
            try await checkPostgres(pool, configuration)
            print(try await ensureAdmin(email: email, password: password, name: name, postgres: pool, settings: BoxOfficeSettings()))
            await pool.close()
        } catch {
            await pool.close()
            throw error
        }
    }
}

/// Makes sure the admin exists (for `create-admin` and `serve`) and says in one line what it did.
func ensureAdmin(
    email: String, password: String, name: String = "Administrator", postgres: PostgresPool, settings: BoxOfficeSettings
) async throws -> String {
    let outcome: AccountStore.AdminOutcome
    do {
        outcome = try await AdminAccounts(postgres: postgres, settings: settings).ensureAdmin(email: email, password: password, name: name)
    } catch let error as BoxOfficeError {
        throw StartupError("the admin account cannot be made: \(error.message)")
    }
    switch outcome {
    case .created(let account): return "Created the admin \(account.email)."
    case .promoted(let account): return "Promoted \(account.email) to admin (their password is unchanged)."
    case .alreadyAdmin(let account): return "\(account.email) is already an admin; nothing changed."
    }
}
