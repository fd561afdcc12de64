// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for vnetd's parsers. fuzz/run builds them with -sanitize=fuzzer,address; CI
// builds them without (`swift build --package-path fuzz`), which gives replay-only executables.
// Each target defines LLVMFuzzerTestOneInput and its own <Module>_main (hence -parse-as-library).
let library: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "vnetd-fuzz",
    dependencies: [
        .package(name: "vnetd", path: ".."),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        .target(name: "FuzzDriver"),
        // vnetd's SQLite store (a link to ../Sources/Storage; VnetdParsers leaves it out), so the
        // HTTP target can run the real site over a real database.
        .target(name: "FuzzStorage", dependencies: [
            .product(name: "VnetdParsers", package: "vnetd"), .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .executableTarget(name: "FuzzFrames", dependencies: ["FuzzDriver", .product(name: "VnetdParsers", package: "vnetd")], swiftSettings: library),
        .executableTarget(name: "FuzzVhostRing", dependencies: ["FuzzDriver", .product(name: "VnetdParsers", package: "vnetd")], swiftSettings: library),
        .executableTarget(name: "FuzzDNS", dependencies: ["FuzzDriver", .product(name: "VnetdParsers", package: "vnetd")], swiftSettings: library),
        .executableTarget(name: "FuzzDHCP", dependencies: ["FuzzDriver", .product(name: "VnetdParsers", package: "vnetd")], swiftSettings: library),
        .executableTarget(name: "FuzzFramer", dependencies: ["FuzzDriver", .product(name: "VnetdParsers", package: "vnetd")], swiftSettings: library),
        .executableTarget(name: "FuzzHTTPRequest", dependencies: ["FuzzDriver", "FuzzStorage", .product(name: "VnetdParsers", package: "vnetd")], swiftSettings: library),
        .executableTarget(name: "FuzzNetworkDefinition", dependencies: ["FuzzDriver", .product(name: "VnetdParsers", package: "vnetd")], swiftSettings: library),
    ]
)
