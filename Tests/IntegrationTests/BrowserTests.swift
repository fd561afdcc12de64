import Foundation
import Testing
import TestSupport

/// The admin site in headless Chromium (Tests/Browser/walk.py, Selenium): the README's first lab
/// clicked through at 1366 px and at 390 px against the real vnetd binary on 127.0.0.1 with a
/// temporary data folder. Fails with the walk's own output. `make test` installs chromium,
/// chromium-driver and python3-selenium; the screenshots land in .build/browser-screenshots
/// (VNETD_SCREENSHOTS names another folder, e.g. docs/screenshots to refresh the README's).
@Suite("Admin site in a real browser")
struct BrowserTests {
    static var toolsPresent: Bool {
        ["/usr/bin/chromium", "/usr/bin/chromedriver", "/usr/bin/python3"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test func theFirstLabWalksThroughAtDesktopAndPhoneWidth() throws {
        guard Self.toolsPresent || ProcessInfo.processInfo.environment["VNETD_REQUIRE_ROOT"] != nil else {
            print("BrowserTests skipped: chromium, chromium-driver or python3 missing (make deps-test installs them)")
            return
        }
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        let vnetd = try VnetdProcess(data: data, logFile: folder.path + "/vnetd.log")
        defer { _ = vnetd.stop() }
        let screenshots = ProcessInfo.processInfo.environment["VNETD_SCREENSHOTS"] ?? repositoryRoot + "/.build/browser-screenshots"
        let (status, output) = try run(
            ["/usr/bin/python3", repositoryRoot + "/Tests/Browser/walk.py", "--url", "http://127.0.0.1:\(vnetd.port)",
             "--password-file", data + "/initial-admin-password", "--screenshots", screenshots],
            check: false)
        #expect(status == 0, "\(output)")
        #expect(output.contains("browser walk: 0 failed check(s)"), "\(output)")
        #expect(vnetd.errorLines().isEmpty, "\(vnetd.errorLines())")
    }
}
