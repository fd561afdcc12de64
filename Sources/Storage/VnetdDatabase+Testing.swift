import GRDB

extension VnetdDatabase {
    /// Runs raw SQL in one transaction. For tests that need rows no service writes yet.
    public func writeForTests(_ sql: String) throws {
        try write { try $0.execute(sql: sql) }
    }
}
