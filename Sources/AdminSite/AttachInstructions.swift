import Domain

/// The exact commands that attach a VM to a network adapter's port, shown on the VM page.
enum AttachInstructions {
    static func lines(for nic: VirtualNIC, vmName: String, endpoint: String?) -> [String: Any] {
        let id = "net\(nic.slot)"
        let mac = nic.mac.description
        guard let endpoint, !endpoint.isEmpty else {
            return ["available": false]
        }
        switch nic.backend {
        case .socket:
            return [
                "available": true,
                "intro": "Start QEMU with (vnetd listens already; QEMU may be restarted at any time, and must be, with this mac=, after the adapter's MAC address changes):",
                "command": "-netdev stream,id=\(id),server=off,addr.type=unix,addr.path=\(endpoint) -device virtio-net-pci,netdev=\(id),mac=\(mac)",
            ]
        case .datagram:
            let local = "/tmp/\(safe(vmName))-\(id).sock"
            return [
                "available": true,
                "intro": "Start QEMU with (it binds its own socket, vnetd answers it; restart QEMU with this mac= after the adapter's MAC address changes):",
                "command": "-netdev dgram,id=\(id),local.type=unix,local.path=\(local),remote.type=unix,remote.path=\(endpoint) -device virtio-net-pci,netdev=\(id),mac=\(mac)",
            ]
        case .tap:
            let namespace = safe(vmName)
            return [
                "available": true,
                "intro": "Move the TAP interface into the network namespace (or container) that acts as the VM; it has the adapter's MAC address, and keeps it in step when the address changes:",
                "command": "ip netns add \(namespace)\nip link set \(endpoint) netns \(namespace)\nip -n \(namespace) link set \(endpoint) up",
            ]
        }
    }

    /// A name usable in a path or as a namespace name: letters, digits, dash and underscore.
    static func safe(_ name: String) -> String {
        let kept = name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }
        let text = String(kept).split(separator: "-").joined(separator: "-")
        return text.isEmpty ? "vm" : String(text.prefix(40))
    }
}
