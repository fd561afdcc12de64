// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for vnetd's parsers. fuzz/run builds them with -sanitize=fuzzer,address; CI
// builds them without (`swift build --package-path fuzz`), which gives replay-only executables.
// Each target defines LLVMFuzzerTestOneInput and its own <Module>_main (hence -parse-as-library).
let library: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "vnetd-fuzz",
    dependencies: [.package(name: "vnetd", path: "..")],
    targets: [
        .target(name: "FuzzDriver"),
        .executableTarget(name: "FuzzFrames", dependencies: ["FuzzDriver", .product(name: "VnetdParsers", package: "vnetd")], swiftSettings: library),
        .executableTarget(name: "FuzzDHCP", dependencies: ["FuzzDriver", .product(name: "VnetdParsers", package: "vnetd")], swiftSettings: library),
        .executableTarget(name: "FuzzFramer", dependencies: ["FuzzDriver", .product(name: "VnetdParsers", package: "vnetd")], swiftSettings: library),
        .executableTarget(name: "FuzzHTTPRequest", dependencies: ["FuzzDriver", .product(name: "VnetdParsers", package: "vnetd")], swiftSettings: library),
        .executableTarget(name: "FuzzNetworkDefinition", dependencies: ["FuzzDriver", .product(name: "VnetdParsers", package: "vnetd")], swiftSettings: library),
    ]
)
