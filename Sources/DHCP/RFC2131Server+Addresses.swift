import Packets

/// Address choice and the binding tables.
extension RFC2131Server {
    func chooseAddress(_ context: Context, inherited: IPv4Address?) -> IPv4Address? {
        if let reserved = reservation(of: context.request) {
            if isAvailable(reserved.address, context) { return reserved.address }
            counters.reservationFallbacks &+= 1
            notices.append(.reservationUnavailable(reserved.address, for: context.mac))
        }
        for candidate in [byClient[context.key], inherited, context.request.requestedAddress] {
            if let candidate, isDynamic(candidate), isAvailable(candidate, context) { return candidate }
        }
        // Search on from where the last search stopped, wrapping once: new clients cost O(1) on
        // average instead of a scan over every address already leased.
        let start = configuration.rangeStart.value, end = configuration.rangeEnd.value
        guard start <= end else { return nil }
        let count = UInt64(end - start) + 1
        let first = (start...end).contains(cursor) ? cursor : start
        for step in 0..<count {
            let value = UInt32((UInt64(first - start) + step) % count) + start
            let address = IPv4Address(value: value)
            if isDynamic(address), isAvailable(address, context) {
                cursor = value == end ? start : value + 1
                return address
            }
        }
        return nil
    }

    /// An address the pool may hand out to anyone: inside the range and none of the network's
    /// own servers.
    func isDynamic(_ address: IPv4Address) -> Bool {
        configuration.inRange(address) && !infrastructure.contains(address) && formerServers[address] == nil
    }

    /// An address this client may be granted: free for it, and dynamic or its reservation.
    func isGrantable(_ address: IPv4Address, _ context: Context) -> Bool {
        isAvailable(address, context) && (isDynamic(address) || reservation(of: context.request)?.address == address)
    }

    /// Free for this client: a host address of the network, not the server's, not reserved
    /// for another NIC, not set aside, not leased or offered to another client.
    func isAvailable(_ address: IPv4Address, _ context: Context) -> Bool {
        let mask = configuration.mask.value
        guard address != configuration.server, configuration.contains(address),
              address.value & ~mask != 0, address.value & ~mask != ~mask else { return false }
        if let owner = configuration.reservedAddresses[address], owner != context.mac { return false }
        if let until = declined[address], until > context.now { return false }
        if let taken = revoked[address], taken.until > context.now, taken.client == context.key { return false }
        if let binding = byAddress[address], binding.lease.expires > context.now, Self.identity(binding.lease) != context.key { return false }
        return true
    }

    func reservation(of request: DHCPMessage) -> DHCPConfiguration.Reservation? {
        configuration.reservations[request.clientHardwareAddress].flatMap { configuration.contains($0.address) ? $0 : nil }
    }

    /// The same NIC with another client identifier: the older binding is abandoned and its
    /// address offered to the newcomer first.
    func supersede(_ key: ClientKey) -> IPv4Address? {
        guard let other = byMAC[key.mac], other != key else { return nil }
        byMAC[key.mac] = nil
        guard let address = byClient[other], let binding = byAddress[address] else {
            byClient[other] = nil
            return nil
        }
        unbind(address)
        if !binding.isOffer { changes.append(.released(address)) }
        return address
    }

    /// Live bindings of a port, pruned as it goes.
    func activeBindings(of port: UInt32, now: Int64) -> Int {
        guard var addresses = perOrigin[port] else { return 0 }
        addresses = addresses.filter { address in
            byAddress[address].map { $0.origin == port && $0.lease.expires > now } ?? false
        }
        perOrigin[port] = addresses
        return addresses.count
    }

    func bind(_ lease: Lease, isOffer: Bool, origin: UInt32?) {
        let key = Self.identity(lease)
        if let previous = byClient[key], previous != lease.address, let old = byAddress[previous] {
            // The client moved: its old row goes too, so a restart cannot bring it back.
            unbind(previous)
            if !old.isOffer { changes.append(.released(previous)) }
        }
        if let other = byAddress[lease.address], Self.identity(other.lease) != key { unbind(lease.address) }
        let keptOrigin = origin ?? byAddress[lease.address]?.origin
        byAddress[lease.address] = Binding(lease: lease, isOffer: isOffer, origin: keptOrigin)
        byClient[key] = lease.address
        byMAC[lease.mac] = key
        if let keptOrigin { perOrigin[keptOrigin, default: []].insert(lease.address) }
    }

    func unbind(_ address: IPv4Address) {
        guard let binding = byAddress.removeValue(forKey: address) else { return }
        let key = Self.identity(binding.lease)
        if byClient[key] == address { byClient[key] = nil }
        if byMAC[binding.lease.mac] == key { byMAC[binding.lease.mac] = nil }
        if let origin = binding.origin { perOrigin[origin]?.remove(address) }
    }

    static func infrastructure(of configuration: DHCPConfiguration) -> Set<IPv4Address> {
        var addresses: Set<IPv4Address> = [configuration.server]
        if let gateway = configuration.gateway { addresses.insert(gateway) }
        addresses.formUnion(configuration.dnsServers)
        addresses.formUnion(configuration.winsServers)
        addresses.formUnion(configuration.ntpServers)
        addresses.formUnion(configuration.classlessRoutes.map(\.router))
        if let next = configuration.boot?.nextServer { addresses.insert(next) }
        return addresses
    }
}
