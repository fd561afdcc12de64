/// Counts shown on the master status page.
public struct InventorySummary: Sendable, Equatable {
    public var networks: Int
    public var virtualMachines: Int
    public var nics: Int
    public var connectedNICs: Int

    public init(networks: Int = 0, virtualMachines: Int = 0, nics: Int = 0, connectedNICs: Int = 0) {
        self.networks = networks
        self.virtualMachines = virtualMachines
        self.nics = nics
        self.connectedNICs = connectedNICs
    }
}
