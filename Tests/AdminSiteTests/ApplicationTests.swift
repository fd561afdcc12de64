import Application
import Domain
import Foundation
import Logging
import Storage
import Testing
import TestSupport
import WebServer

@Suite("vnetd as a whole, through libmicrohttpd")
struct ApplicationTests {
    func configuration(_ folder: TemporaryDirectory, port: UInt16 = 0) -> Configuration {
        Configuration(
            listen: ListenAddress(host: "127.0.0.1", port: port),
            dataDirectory: folder.path + "/data",
            templatesDirectory: repositoryRoot + "/Templates",
            publicDirectory: repositoryRoot + "/Public",
            threads: 2)
    }

    var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    @Test func servesStatusEventsAndStylesAndRecordsStartAndStop() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let app = try buildApplication(configuration(folder), logger: quiet)
        let passwordFile = try #require(app.initialPasswordFile)
        let client = try SignedInClient(port: app.port, initialPasswordFile: passwordFile)
        let status = try client.get("/")
        #expect(status.status == 200)
        #expect(status.header("Content-Type") == "text/html; charset=utf-8")
        let events = try client.get("/events")
        #expect(events.status == 200)
        #expect(events.text.contains("server.started"))
        #expect(try client.get("/static/css/vnetd.css").header("Content-Type") == "text/css; charset=utf-8")
        app.shutdown()

        let again = try buildApplication(configuration(folder), logger: quiet)
        defer { again.shutdown() }
        #expect(again.initialPasswordFile == nil, "the second start finds the account and makes none")
        let history = try SignedInClient(port: again.port, initialPasswordFile: passwordFile).get("/events").text
        #expect(history.components(separatedBy: "server.started").count - 1 == 2)
        #expect(history.contains("server.stopped"))
        #expect(FileManager.default.fileExists(atPath: folder.path + "/data/vnetd.sqlite"))
    }

    @Test func portInUseIsAClearError() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let first = try buildApplication(configuration(folder), logger: quiet)
        defer { first.shutdown() }
        let other = try TemporaryDirectory()
        defer { other.remove() }
        #expect {
            try buildApplication(configuration(other, port: first.port), logger: quiet)
        } throws: { error in
            "\(error)" == "cannot listen on 127.0.0.1:\(first.port): address already in use"
        }
    }

    @Test func missingTemplateFolderIsAClearError() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var configuration = configuration(folder)
        configuration.templatesDirectory = folder.path + "/nope"
        #expect {
            try buildApplication(configuration, logger: quiet)
        } throws: { error in
            "\(error)" == "template folder \(folder.path)/nope does not exist"
        }
    }

    @Test func unusableDataFolderIsAClearError() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let blocker = folder.path + "/file"
        FileManager.default.createFile(atPath: blocker, contents: Data("x".utf8))
        var configuration = configuration(folder)
        configuration.dataDirectory = blocker + "/data"
        #expect {
            try buildApplication(configuration, logger: quiet)
        } throws: { error in
            "\(error)".hasPrefix("cannot create the data folder \(blocker)/data")
        }
    }
}

@Suite("Configuration survives a restart")
struct RestartTests {
    @Test func networksVMsAndBindingsCreatedThroughTheSiteSurviveARestart() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let configuration = Configuration(
            listen: ListenAddress(host: "127.0.0.1", port: 0),
            dataDirectory: folder.path + "/data",
            templatesDirectory: repositoryRoot + "/Templates",
            publicDirectory: repositoryRoot + "/Public",
            threads: 2,
            adapterDiscovery: FixedAdapters([DiscoveredAdapter(name: "eth0", mac: nil, isUp: true, hasCarrier: true, speedMbps: nil, isWireless: false)]))

        let first = try buildApplication(configuration, logger: logger)
        let client = try SignedInClient(port: first.port, initialPasswordFile: configuration.initialPasswordFile)
        #expect(try client.post("/adapters", [("bind", "eth0")]).status == 303)
        let network = try client.post("/networks", [("name", "LAN"), ("adapter", "eth0"), ("notes", "kept")])
        #expect(network.status == 303)
        let networkPath = try #require(network.header("Location"))
        let networkID = String(networkPath.split(separator: "/").last?.split(separator: "?").first ?? "")
        let vm = try client.post("/vms", [("name", "web"), ("network", networkID)])
        #expect(vm.status == 303)
        let vmPath = try #require(vm.header("Location"))
        let macBefore = try client.get(vmPath).text.firstMatch(of: /00-03-FF-[0-9A-F-]{8}/).map { String($0.output) }
        first.shutdown()

        let second = try buildApplication(configuration, logger: logger)
        defer { second.shutdown() }
        let again = try SignedInClient(port: second.port, initialPasswordFile: configuration.initialPasswordFile)
        let networkPage = try again.get(networkPath).text
        #expect(networkPage.contains("Virtual Network Properties: LAN"))
        #expect(networkPage.contains("eth0"))
        #expect(networkPage.contains("kept"))
        #expect(networkPage.contains(">web</a>"))
        let macAfter = try again.get(vmPath).text.firstMatch(of: /00-03-FF-[0-9A-F-]{8}/).map { String($0.output) }
        #expect(macBefore != nil)
        #expect(macAfter == macBefore)
        #expect(try again.get("/adapters").text.contains("name=\"bind\" value=\"eth0\" checked"))
        let events = try again.get("/events").text
        #expect(events.contains("network.created") && events.contains("vm.created") && events.contains("adapter.bound"))
        #expect(events.contains(/network\.created<\/code><\/td>\s*<td[^>]*>.*?<\/td>\s*<td data-label="By">admin<\/td>/), "changes name the administrator who made them")
    }
}
