/// The result of a query, copied out of libpq's result (which is freed at once).
public struct PostgresRows: Sendable, Sequence {
    final class Storage: Sendable {
        let columns: [String]
        let columnIndex: [String: Int]
        /// Row-major text values; nil is NULL.
        let values: [String?]

        init(columns: [String], values: [String?]) {
            self.columns = columns
            var index: [String: Int] = [:]
            for (position, name) in columns.enumerated() where index[name] == nil {
                index[name] = position  // the first column of a name wins, as in SQL
            }
            self.columnIndex = index
            self.values = values
        }
    }

    let storage: Storage
    /// The number of rows.
    public let count: Int
    /// Rows inserted, updated, deleted, selected... as reported by the server (`PQcmdTuples`); 0 when it says nothing.
    public let affectedRows: Int
    /// The command tag, for example `INSERT 0 1`, `UPDATE 3` or `COMMIT` (`PQcmdStatus`).
    public let commandTag: String

    init(columns: [String], values: [String?], rowCount: Int, affectedRows: Int, commandTag: String) {
        self.storage = Storage(columns: columns, values: values)
        self.count = rowCount
        self.affectedRows = affectedRows
        self.commandTag = commandTag
    }

    /// The result columns' names, in order.
    public var columns: [String] { self.storage.columns }

    public var first: PostgresRow? { self.count > 0 ? PostgresRow(storage: self.storage, row: 0) : nil }

    public var isEmpty: Bool { self.count == 0 }

    public subscript(row: Int) -> PostgresRow {
        precondition(row >= 0 && row < self.count, "row \(row) out of range 0..<\(self.count)")
        return PostgresRow(storage: self.storage, row: row)
    }

    public struct Iterator: IteratorProtocol {
        let rows: PostgresRows
        var position = 0

        public mutating func next() -> PostgresRow? {
            guard self.position < self.rows.count else { return nil }
            defer { self.position += 1 }
            return PostgresRow(storage: self.rows.storage, row: self.position)
        }
    }

    public func makeIterator() -> Iterator { Iterator(rows: self) }

    public var underestimatedCount: Int { self.count }
}

/// One row of a result.
public struct PostgresRow: Sendable {
    let storage: PostgresRows.Storage
    let row: Int

    /// The result columns' names, in order.
    public var columns: [String] { self.storage.columns }

    /// Decodes the column named `column`. NULL needs an optional `T`; throws `.decoding`
    /// naming the column and the type when the column is missing, NULL or not a `T`.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, column: String) throws -> T {
        guard let position = self.storage.columnIndex[column] else {
            throw PostgresError(
                code: .decoding,
                message: "no column \"\(column)\" in the result (columns: \(self.storage.columns.joined(separator: ", ")))"
            )
        }
        return try self.decode(type, position: position, name: column)
    }

    /// Decodes the column at `index` (0-based).
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at index: Int) throws -> T {
        guard index >= 0, index < self.storage.columns.count else {
            throw PostgresError(code: .decoding, message: "no column at index \(index) (the result has \(self.storage.columns.count))")
        }
        return try self.decode(type, position: index, name: self.storage.columns[index])
    }

    /// The raw text of a column; nil for NULL or a missing column.
    public subscript(column: String) -> String? {
        guard let position = self.storage.columnIndex[column] else { return nil }
        return self.storage.values[self.row * self.storage.columns.count + position]
    }

    private func decode<T: PostgresDecodable>(_ type: T.Type, position: Int, name: String) throws -> T {
        guard let text = self.storage.values[self.row * self.storage.columns.count + position] else {
            guard let null = T.postgresNull else {
                throw PostgresError(code: .decoding, message: "column \"\(name)\" is NULL, which cannot be decoded as \(T.self)")
            }
            return null
        }
        guard let value = T(postgresText: text) else {
            throw PostgresError(code: .decoding, message: "column \"\(name)\" cannot be decoded as \(T.self)")
        }
        return value
    }
}
