// swift-tools-version:6.0
import PackageDescription

// Module rules (../shared/DESIGN.md §3): pure cores import nothing that does I/O;
// only `Application` and `vnetd` see every module.
let strictness: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "vnetd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "vnetd", targets: ["vnetd"]),
        // The parsers and the HTTP layer, for the fuzz targets in fuzz/ (a package of its own).
        .library(name: "VnetdParsers", targets: ["Packets", "Switching", "DHCP", "DNS", "VhostUser", "WebServer", "Domain", "AdminSite"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CMicroHTTPD",
            pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"])]
        ),
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),
        .target(name: "CXML", dependencies: ["CLibXML2"]),
        .target(
            name: "WebServer",
            dependencies: ["CMicroHTTPD", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictness
        ),
        .target(name: "Packets", swiftSettings: strictness),
        .target(name: "Domain", dependencies: ["Packets"], swiftSettings: strictness),
        .target(name: "Switching", dependencies: ["Packets"], swiftSettings: strictness),
        .target(name: "DHCP", dependencies: ["Packets"], swiftSettings: strictness),
        .target(name: "DNS", dependencies: ["Packets"], swiftSettings: strictness),
        .target(name: "VhostUser", dependencies: ["Packets"], swiftSettings: strictness),
        .systemLibrary(
            name: "CNetlinkRoute",
            pkgConfig: "libnl-route-3.0",
            providers: [.apt(["libnl-route-3-dev"])]
        ),
        .target(name: "CLinuxNet", dependencies: ["CNetlinkRoute"], cSettings: [.define("_GNU_SOURCE")]),
        .systemLibrary(name: "CCrypt"),
        .target(name: "Credentials", dependencies: ["CCrypt", "Domain"], swiftSettings: strictness),
        .target(
            name: "HostNet",
            dependencies: ["Packets", "Switching", "VhostUser", "CLinuxNet", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictness
        ),
        // Host-side setup of host and NAT networks: vnetd's nftables table, per-interface
        // forwarding, interface addresses; beside CLinuxNet, the other place syscalls enter.
        .systemLibrary(name: "CNftables", pkgConfig: "libnftables", providers: [.apt(["libnftables-dev"])]),
        .target(name: "CHostSetup", cSettings: [.define("_GNU_SOURCE")]),
        .target(name: "HostSetup", dependencies: ["Packets", "CNftables", "CHostSetup"], swiftSettings: strictness),
        .target(
            name: "Dataplane",
            dependencies: ["Domain", "Switching", "DHCP", "DNS", "HostNet", "HostSetup", "Packets", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictness
        ),
        .target(
            name: "Storage",
            dependencies: ["Domain", "Packets", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strictness
        ),
        .target(
            name: "AdminSite",
            dependencies: [
                "WebServer", "Domain", "Packets", "CXML",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictness
        ),
        .target(
            name: "Application",
            dependencies: [
                "WebServer", "AdminSite", "Domain", "Storage", "HostNet", "HostSetup", "Packets", "Dataplane", "Credentials",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictness
        ),
        .executableTarget(
            name: "vnetd",
            dependencies: [
                "Application", "Domain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictness
        ),
        .target(name: "TestSupport", dependencies: ["VhostUser", "CTestNet"], path: "Tests/TestSupport", swiftSettings: strictness),
        .target(name: "CTestNet", path: "Tests/CTestNet", cSettings: [.define("_GNU_SOURCE")]),
        .testTarget(name: "PacketsTests", dependencies: ["Packets"], swiftSettings: strictness),
        .testTarget(name: "SwitchingTests", dependencies: ["Switching", "Packets"], swiftSettings: strictness),
        .testTarget(name: "DHCPTests", dependencies: ["DHCP", "Packets", "TestSupport"], swiftSettings: strictness),
        .testTarget(name: "DNSTests", dependencies: ["DNS", "Packets", "TestSupport"], swiftSettings: strictness),
        .testTarget(name: "VhostUserTests", dependencies: ["VhostUser", "Packets"], swiftSettings: strictness),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["AdminSite", "Application", "Dataplane", "Domain", "Packets", "Switching", "WebServer", "Storage", "DHCP", "TestSupport", "CTestNet", "VhostUser",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictness
        ),
        .testTarget(name: "HostSetupTests", dependencies: ["HostSetup", "Packets"], swiftSettings: strictness),
        .testTarget(name: "HostNetTests", dependencies: ["HostNet", "Packets", "Switching", "VhostUser", "CTestNet", "TestSupport"], swiftSettings: strictness),
        .testTarget(name: "DomainTests", dependencies: ["Domain", "Packets", "Storage", "Credentials", "TestSupport"], swiftSettings: strictness),
        .testTarget(name: "WebServerTests", dependencies: ["WebServer", "TestSupport"], swiftSettings: strictness),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "Domain", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")],
                    exclude: ["Fixtures", "write-fixtures"], swiftSettings: strictness),
        .testTarget(
            name: "AdminSiteTests",
            dependencies: ["AdminSite", "Application", "WebServer", "Domain", "Storage", "Packets", "Credentials", "TestSupport"],
            swiftSettings: strictness
        ),
    ]
)
