import Dataplane

/// `--dns-upstream`: checked at the command line, handed to the data path.
public enum DNSUpstreamOption {
    public static func isValid(_ text: String) -> Bool { Dataplane.isValidDNSUpstream(text) }
}

extension Dataplane.Configuration {
    func withDNS(of configuration: Configuration) -> Dataplane.Configuration {
        var copy = self
        copy.dnsUpstreams = configuration.dnsUpstreams
        return copy
    }
}
