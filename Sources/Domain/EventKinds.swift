extension EventKind {
    public static let administratorAdded = EventKind(rawValue: "administrator.added")
    public static let administratorRemoved = EventKind(rawValue: "administrator.removed")
    public static let passwordChanged = EventKind(rawValue: "administrator.password-changed")
    public static let signedIn = EventKind(rawValue: "administrator.signed-in")
    public static let signedOut = EventKind(rawValue: "administrator.signed-out")
    public static let signInRefused = EventKind(rawValue: "administrator.sign-in.warning")
    public static let networkCreated = EventKind(rawValue: "network.created")
    public static let networkImported = EventKind(rawValue: "network.imported")
    public static let networkChanged = EventKind(rawValue: "network.changed")
    public static let networkRemoved = EventKind(rawValue: "network.removed")
    public static let adapterBound = EventKind(rawValue: "adapter.bound")
    public static let adapterUnbound = EventKind(rawValue: "adapter.unbound")
    public static let vmCreated = EventKind(rawValue: "vm.created")
    public static let vmChanged = EventKind(rawValue: "vm.changed")
    public static let vmRemoved = EventKind(rawValue: "vm.removed")
    public static let nicAdded = EventKind(rawValue: "nic.added")
    public static let nicRemoved = EventKind(rawValue: "nic.removed")
    public static let nicConnected = EventKind(rawValue: "nic.connected")
    public static let nicDisconnected = EventKind(rawValue: "nic.disconnected")
    public static let nicMoved = EventKind(rawValue: "nic.moved")
    public static let nicAddressChanged = EventKind(rawValue: "nic.address-changed")
    // Operational events, recorded by the data path (rate limited, never by an administrator).
    public static let vmConnected = EventKind(rawValue: "port.vm-connected")
    public static let vmDisconnected = EventKind(rawValue: "port.vm-disconnected.warning")
    public static let tapDestroyed = EventKind(rawValue: "port.tap-destroyed.warning")
    public static let uplinkLost = EventKind(rawValue: "uplink.lost.warning")
    public static let uplinkRestored = EventKind(rawValue: "uplink.restored")
    public static let dhcpPoolExhausted = EventKind(rawValue: "dhcp.pool-exhausted.warning")
    /// A client declined its address, the server's probe found an address in use, or a
    /// reservation could not be granted: each names the address and the MAC.
    public static let dhcpAddressInUse = EventKind(rawValue: "dhcp.address-in-use.warning")
    public static let dhcpReservationUnavailable = EventKind(rawValue: "dhcp.reservation-unavailable.warning")
    /// The disk holding the data folder was full: nothing could be stored for a while.
    public static let storageFull = EventKind(rawValue: "storage.disk-full.error")
}

extension EventSubject {
    public static func network(_ network: VirtualNetwork) -> EventSubject {
        EventSubject(kind: .network, id: network.id.rawValue, name: network.name)
    }

    public static func vm(_ vm: VirtualMachine) -> EventSubject {
        EventSubject(kind: .virtualMachine, id: vm.id.rawValue, name: vm.name)
    }

    public static func adapter(_ name: String) -> EventSubject {
        EventSubject(kind: .adapter, id: name, name: name)
    }
}

extension VirtualNIC {
    /// "Virtual network adapter 2": Virtual Server's name for a slot.
    public var label: String { "Virtual network adapter \(slot)" }
}
