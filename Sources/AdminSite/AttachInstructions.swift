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
        case .vhostUser:
            // vectors=0: QEMU 7.2 under software emulation (TCG) crashes when the guest enables
            // a vhost-user NIC with MSI-X; under KVM it may go, for MSI-X interrupts.
            return ["-chardev socket,id=char\(nic.slot),path=\(endpoint),reconnect=1",
                    "-netdev vhost-user,id=\(id),chardev=char\(nic.slot)",
                    "-device virtio-net-pci,netdev=\(id),mac=\(mac),vectors=0"]
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
        case .vhostUser:
            return [
                "available": true, "id": id,
                "intro": "QEMU options for this adapter (vnetd listens already; with reconnect=1 the VM comes back by itself after vnetd or QEMU restarts). The guest's memory must be shared with vnetd: the first two lines, once per VM, with size= equal to -m. vectors=0 turns MSI-X off, which QEMU 7.2 needs under software emulation (TCG); under KVM it may go. Restart QEMU with this mac= after the adapter's MAC address changes:",
                "command": joined(sharedMemoryOptions + (qemuOptions(for: nic, vmName: vmName, endpoint: endpoint) ?? [])),
                "libvirt": [
                    "intro": "For libvirt: the interface element in the domain's <devices>, and the <memoryBacking> element the domain needs for it:",
                    "id": "\(id)-libvirt",
                    "command": libvirtXML(mac: nic.mac.description, endpoint: endpoint),
                ] as [String: Any],
            ]
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
        let shared = nics.contains { $0.0.backend == .vhostUser && !($0.1 ?? "").isEmpty }
        return joined(["qemu-system-x86_64", "-name \(safe(vmName))", "-machine q35,accel=kvm:tcg" + (shared ? ",memory-backend=mem" : ""), "-m 1024"]
                      + (shared ? [sharedMemoryOptions[0]] : [])
                      + ["-drive file=\(safe(vmName)).qcow2,if=virtio"] + options)
    }

    /// vhost-user needs the guest's RAM in a shareable memfd (size equal to -m).
    static let sharedMemoryOptions = ["-object memory-backend-memfd,id=mem,size=1024M,share=on", "-machine memory-backend=mem"]

    /// libvirt's vhost-user interface (libvirt is the client, vnetd the server) and the shared
    /// memory it requires.
    static func libvirtXML(mac: String, endpoint: String) -> String {
        """
        <memoryBacking>
          <source type='memfd'/>
          <access mode='shared'/>
        </memoryBacking>

        <interface type='vhostuser'>
          <mac address='\(mac)'/>
          <source type='unix' path='\(endpoint)' mode='client'>
            <reconnect enabled='yes' timeout='1'/>
          </source>
          <model type='virtio'/>
        </interface>
        """
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
