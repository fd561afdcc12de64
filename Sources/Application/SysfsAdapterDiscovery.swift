import Domain
import HostNet

/// The host's adapters, read from sysfs on every call (adapters come and go).
struct SysfsAdapterDiscovery: AdapterDiscovering {
    let scanner: HostInterfaceScanner

    func presentAdapters() -> [DiscoveredAdapter] {
        scanner.scan().map {
            DiscoveredAdapter(name: $0.name, mac: $0.mac, isUp: $0.isUp, hasCarrier: $0.hasCarrier, speedMbps: $0.speedMbps, isWireless: $0.isWireless,
                              holdsVnetdPorts: $0.bridgePorts.contains { $0.hasPrefix(HostInterfaceScanner.ownPrefix) })
        }
    }
}
