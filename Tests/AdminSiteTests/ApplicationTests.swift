import Application
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
        let client = HTTPTestClient(port: app.port)
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
        let history = try HTTPTestClient(port: again.port).get("/events").text
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
