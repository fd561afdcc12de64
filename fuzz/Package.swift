// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for vnetd's parsers. Built only by fuzz/run (with -sanitize=fuzzer,address);
// each target defines LLVMFuzzerTestOneInput and gets its main from libFuzzer.
let package = Package(
    name: "vnetd-fuzz",
    dependencies: [.package(name: "vnetd", path: "..")],
    targets: [
        .target(name: "FuzzDriver"),
        .executableTarget(name: "FuzzFrames", dependencies: ["FuzzDriver", .product(name: "VnetdParsers", package: "vnetd")]),
        .executableTarget(name: "FuzzDHCP", dependencies: ["FuzzDriver", .product(name: "VnetdParsers", package: "vnetd")]),
        .executableTarget(name: "FuzzFramer", dependencies: ["FuzzDriver", .product(name: "VnetdParsers", package: "vnetd")]),
        .executableTarget(name: "FuzzHTTPRequest", dependencies: ["FuzzDriver", .product(name: "VnetdParsers", package: "vnetd")]),
        .executableTarget(name: "FuzzNetworkDefinition", dependencies: ["FuzzDriver", .product(name: "VnetdParsers", package: "vnetd")]),
    ]
)
