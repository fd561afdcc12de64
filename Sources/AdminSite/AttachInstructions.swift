import Domain

/// The exact commands that attach a VM to its network adapters' ports, shown on the VM page.
///
/// Commands are copy-ready: one option per line, lines joined with ` \`, so they wrap on a phone
/// and paste into a shell as one command. The VM page also shows one complete
/// `qemu-system-x86_64` line with every QEMU-attached adapter of the VM.
enum AttachInstructions {
    /// The QEMU options of one adapter, one option per element; nil for a TAP (not a QEMU option here).
    static func qemuOptions(for nic: VirtualNIC, vmName: String, endpoint: String) -> [String]? {
        let id = "net\(nic.slot)"
        let mac = nic.mac.description
        switch nic.backend {
        case .socket:
            return ["-netdev stream,id=\(id),server=off,addr.type=unix,addr.path=\(endpoint)",
                    "-device virtio-net-pci,netdev=\(id),mac=\(mac)"]
        case .datagram:
            return ["-netdev dgram,id=\(id),local.type=unix,local.path=\(localPath(vmName: vmName, slot: nic.slot)),remote.type=unix,remote.path=\(endpoint)",
                    "-device virtio-net-pci,netdev=\(id),mac=\(mac)"]
        case .tap:
            return nil
        }
    }

    static func localPath(vmName: String, slot: Int) -> String {
        "/tmp/\(safe(vmName))-net\(slot).sock"
    }

    static func lines(for nic: VirtualNIC, vmName: String, endpoint: String?) -> [String: Any] {
        guard let endpoint, !endpoint.isEmpty else {
            return ["available": false]
        }
        let id = "command-nic-\(nic.slot)"
        switch nic.backend {
        case .socket, .datagram:
            let intro = nic.backend == .socket
                ? "QEMU options for this adapter (vnetd listens already; QEMU may be restarted at any time, and must be, with this mac=, after the adapter's MAC address changes):"
                : "QEMU options for this adapter (QEMU binds its own socket, vnetd answers it; restart QEMU with this mac= after the adapter's MAC address changes):"
            return ["available": true, "intro": intro, "id": id, "command": joined(qemuOptions(for: nic, vmName: vmName, endpoint: endpoint) ?? [])]
        case .tap:
            let namespace = safe(vmName)
            return [
                "available": true, "id": id,
                "intro": "Move the TAP interface into the network namespace (or container) that acts as the VM; it has the adapter's MAC address, and keeps it in step when the address changes. Three commands, one per line:",
                "command": "ip netns add \(namespace)\nip link set \(endpoint) netns \(namespace)\nip -n \(namespace) link set \(endpoint) up",
            ]
        }
    }

    /// One `qemu-system-x86_64` command with every QEMU-attached adapter of the VM, or nil when none is.
    static func qemuCommand(vmName: String, nics: [(VirtualNIC, String?)]) -> String? {
        var options: [String] = []
        for (nic, endpoint) in nics {
            guard let endpoint, !endpoint.isEmpty, let more = qemuOptions(for: nic, vmName: vmName, endpoint: endpoint) else { continue }
            options += more
        }
        guard !options.isEmpty else { return nil }
        return joined(["qemu-system-x86_64", "-name \(safe(vmName))", "-machine q35,accel=kvm:tcg", "-m 1024",
                       "-drive file=\(safe(vmName)).qcow2,if=virtio"] + options)
    }

    /// Options one per line, continued with a backslash; every line after the first indented.
    static func joined(_ options: [String]) -> String {
        options.enumerated().map { index, option in (index == 0 ? "" : "  ") + option }.joined(separator: " \\\n")
    }

    /// A name usable in a path or as a namespace name: letters, digits, dash and underscore.
    static func safe(_ name: String) -> String {
        let kept = name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }
        let text = String(kept).split(separator: "-").joined(separator: "-")
        return text.isEmpty ? "vm" : String(text.prefix(40))
    }
}
