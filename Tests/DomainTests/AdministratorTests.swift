import Credentials
import Domain
import Foundation
import Storage
import Testing
import TestSupport

@Suite("Administrator accounts, passwords and sessions")
struct AdministratorTests {
    let hasher = YescryptPasswordHasher()

    @Test func passwordsAreStoredAsSaltedYescryptHashesThatVerify() throws {
        let first = try hasher.hash("correct horse battery")
        let second = try hasher.hash("correct horse battery")
        #expect(first.hasPrefix("$y$"))
        #expect(first != second, "each hash has its own salt")
        #expect(!first.contains("correct horse"))
        #expect(hasher.verify("correct horse battery", against: first))
        #expect(hasher.verify("correct horse battery", against: second))
        #expect(!hasher.verify("correct horse batterY", against: first))
        #expect(!hasher.verify("", against: first))
        #expect(!hasher.verify("correct horse battery", against: "not a hash"))
        #expect(!hasher.verify("correct horse battery", against: ""))
    }

    @Test(arguments: ["", "a b", "-lead", "名前", String(repeating: "x", count: 33), "semi;colon"])
    func badNamesAreRefused(name: String) {
        #expect(AdministratorRules.nameProblems(name).first?.code == .administratorNameInvalid)
    }

    @Test func passwordRules() {
        #expect(AdministratorRules.passwordProblems("short").first?.code == .passwordTooShort)
        #expect(AdministratorRules.passwordProblems(String(repeating: "p", count: 1025)).first?.code == .passwordTooLong)
        #expect(AdministratorRules.passwordProblems("with\u{0}nul inside").first?.code == .passwordInvalid)
        #expect(AdministratorRules.passwordProblems("eight ok").isEmpty)
    }

    @Test func accountsAreUniqueIgnoringCaseAndTheLastOneStays() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let database = try VnetdDatabase(directory: folder.path)
        defer { try? database.close() }
        let service = AdministratorService(store: SQLiteAdministratorStore(database: database), hasher: hasher, clock: ManualClock())
        try service.add(name: "Alice", password: "alice's password")
        #expect(throws: ValidationFailure.self) { try service.add(name: "alice", password: "another password") }
        #expect(try service.verify(name: "ALICE", password: "alice's password")?.name == "Alice")
        #expect(try service.verify(name: "Alice", password: "wrong password") == nil)
        #expect(try service.verify(name: "bob", password: "alice's password") == nil)
        do {
            try service.remove(name: "alice")
            Issue.record("removing the last administrator must be refused")
        } catch let failure as ValidationFailure {
            #expect(failure.has(.lastAdministrator))
        }
        #expect(try service.createFirstAdministrator(password: "ignored password") == false, "accounts exist: no admin is made")
        try service.add(name: "bob", password: "bob's password")
        try service.remove(name: "ALICE")
        #expect(try service.list().map(\.name) == ["bob"])
        let events = try SQLiteEventLog(database: database).page(offset: 0, limit: 10).events.map(\.kind)
        #expect(events == [.administratorRemoved, .administratorAdded, .administratorAdded])
    }

    @Test func aFailedWriteLeavesNoAccountBehind() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let database = try VnetdDatabase(directory: folder.path)
        defer { try? database.close() }
        let service = AdministratorService(store: SQLiteAdministratorStore(database: database), hasher: hasher, clock: ManualClock())
        #expect(throws: ValidationFailure.self) { try service.add(name: "x y", password: "long enough") }
        #expect(throws: ValidationFailure.self) { try service.changePassword(name: "nobody", to: "long enough") }
        #expect(try service.list().isEmpty)
    }

    @Test func throttleWaitsDoubleAfterFreeFailuresAndAreCapped() {
        let throttle = SignInThrottle()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        for index in 0..<4 { throttle.recordFailure(from: "a", now: start + Double(index)) }
        #expect(throttle.waitTime(for: "a", now: start + 4) == nil)
        throttle.recordFailure(from: "a", now: start + 4)
        #expect(throttle.waitTime(for: "a", now: start + 4) == 1)
        throttle.recordFailure(from: "a", now: start + 5)
        #expect(throttle.waitTime(for: "a", now: start + 5) == 2)
        for _ in 0..<20 { throttle.recordFailure(from: "a", now: start + 10) }
        #expect(throttle.waitTime(for: "a", now: start + 10) == 300)
        #expect(throttle.waitTime(for: "b", now: start + 10) == nil)
        throttle.recordSuccess(from: "a")
        #expect(throttle.waitTime(for: "a", now: start + 10) == nil)
    }

    @Test func sessionTokensAreLongRandomAndTheTableIsBounded() {
        let registry = SessionRegistry(policy: SessionPolicy(maximumSessions: 3)) { _ in "hash" }
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let account = Administrator(name: "a", passwordHash: "hash", createdAt: now, changedAt: now)
        let tokens = (0..<5).map { registry.open(for: account, now: now + Double($0)) }
        #expect(Set(tokens).count == 5)
        #expect(tokens.allSatisfy { $0.count == 64 && $0.allSatisfy(\.isHexDigit) })
        #expect(registry.openCount == 3)
        #expect(registry.administrator(for: tokens[0], now: now + 5) == nil, "the idlest sessions made room")
        #expect(registry.administrator(for: tokens[4], now: now + 5) == "a")
        #expect(registry.administrator(for: "", now: now + 5) == nil)
    }
}
