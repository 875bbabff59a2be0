import Foundation
import Logging
import PostgresClient
import Testing

/// The repository's migrations against a real PostgreSQL.
@Suite struct SchemaTests {
    @Test func migrationsAppliedTwiceChangeNothing() async throws {
        try await TestServices.withDatabase(migrated: false) { configuration in
            let pool = PostgresPool(configuration: configuration, logger: Logger(label: "test"))
            let migrator = try Migrator(directory: TestServices.migrationsDirectory)
            let first = try await migrator.migrate(on: pool, logger: Logger(label: "test"))
            #expect(first.first == "0001_initial.sql")
            let tablesBefore = try await pool.query("SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'")
                .first?.decode(Int.self, column: "n")
            let second = try await migrator.migrate(on: pool, logger: Logger(label: "test"))
            #expect(second.isEmpty)
            let tablesAfter = try await pool.query("SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'")
                .first?.decode(Int.self, column: "n")
            #expect(tablesBefore == tablesAfter)
            await pool.close()
        }
    }

    @Test func twoShowtimesOfOneHallCannotOverlap() async throws {
        try await TestServices.withDatabase { configuration in
            let pool = PostgresPool(configuration: configuration, logger: Logger(label: "test"))
            let movie = try await pool.query("INSERT INTO movies (title, duration_minutes) VALUES ('Dune', 155) RETURNING id")
                .first!.decode(Int.self, column: "id")
            let hall = try await pool.query("INSERT INTO halls (name) VALUES ('Hall 1') RETURNING id")
                .first!.decode(Int.self, column: "id")
            let start = Date(timeIntervalSince1970: 2_000_000_000)
            let end = start.addingTimeInterval(3 * 3600)
            try await pool.query("""
                INSERT INTO showtimes (movie_id, hall_id, starts_at, ends_at) VALUES (\(movie), \(hall), \(start), \(end))
                """)
            let overlapping = start.addingTimeInterval(3600)
            await #expect {
                try await pool.query("""
                    INSERT INTO showtimes (movie_id, hall_id, starts_at, ends_at)
                    VALUES (\(movie), \(hall), \(overlapping), \(overlapping.addingTimeInterval(3600)))
                    """)
            } throws: { error in
                (error as? PostgresError)?.code == .exclusionViolation
                    && (error as? PostgresError)?.constraint == "showtimes_no_overlap"
            }
            // Back to back is fine: ranges are half-open.
            try await pool.query("""
                INSERT INTO showtimes (movie_id, hall_id, starts_at, ends_at)
                VALUES (\(movie), \(hall), \(end), \(end.addingTimeInterval(3600)))
                """)
            await pool.close()
        }
    }

    @Test func aSeatCannotBeInTwoActiveBookings() async throws {
        try await TestServices.withDatabase { configuration in
            let pool = PostgresPool(configuration: configuration, logger: Logger(label: "test"))
            try await pool.query(PostgresQuery(unsafeSQL: """
                INSERT INTO users (id, email, password_hash, name) VALUES
                  ('00000000-0000-0000-0000-000000000001', 'a@example.com', 'x', 'A'),
                  ('00000000-0000-0000-0000-000000000002', 'b@example.com', 'x', 'B');
                INSERT INTO movies (title, duration_minutes) VALUES ('Dune', 155);
                INSERT INTO halls (name) VALUES ('Hall 1');
                INSERT INTO seats (hall_id, row_label, row_index, number, position, x, y) VALUES (1, 'A', 0, 1, 0, 0, 0);
                INSERT INTO showtimes (id, movie_id, hall_id, starts_at, ends_at) OVERRIDING SYSTEM VALUE
                  VALUES (1, 1, 1, '2033-05-18 18:00Z', '2033-05-18 21:00Z');
                INSERT INTO showtime_seats (showtime_id, seat_id) VALUES (1, 1);
                INSERT INTO bookings (id, user_id, showtime_id, hold_id, amount_minor, currency) VALUES
                  ('10000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000001', 1, 'h1', 900, 'EUR'),
                  ('10000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000002', 1, 'h2', 900, 'EUR');
                INSERT INTO booking_seats (booking_id, showtime_id, seat_id, price_minor, expected_version, active)
                  VALUES ('10000000-0000-0000-0000-000000000001', 1, 1, 900, 0, true);
                """))
            await #expect {
                try await pool.query(PostgresQuery(unsafeSQL: """
                    INSERT INTO booking_seats (booking_id, showtime_id, seat_id, price_minor, expected_version, active)
                    VALUES ('10000000-0000-0000-0000-000000000002', 1, 1, 900, 0, true)
                    """))
            } throws: { ($0 as? PostgresError)?.code == .uniqueViolation }
            await pool.close()
        }
    }
}
