import Domain
import WebServer

/// Every page of the admin site, by URL (see DESIGN.md §8).
enum Routes {
    static func add(to router: inout Router, site: SiteContext) {
        let status = MasterStatusPage(site: site)
        router.get("/") { try status.respond(to: $0) }
        let events = EventViewerPage(site: site)
        router.get("/events") { try events.respond(to: $0) }

        let forwards = PortForwardsPage(site: site)
        let networkList = NetworkListPage(site: site)
        router.get("/networks") { try networkList.respond(to: $0) }
        let create = NetworkCreatePage(site: site)
        router.get("/networks/new") { try create.show($0) }
        router.post("/networks") { try create.create($0) }
        let transfer = NetworkExportImportPage(site: site)
        router.get("/networks/import") { try transfer.show($0) }
        router.post("/networks/import") { try transfer.importDefinition($0) }
        router.get("/networks/{id}/export") { try transfer.export($0) }
        let properties = NetworkPropertiesPage(site: site)
        router.get("/networks/{id}") { try properties.respond(to: $0) }
        let settings = NetworkSettingsPage(site: site)
        router.get("/networks/{id}/settings") { try settings.show($0) }
        router.post("/networks/{id}/settings") { try settings.save($0) }
        let stormControl = StormControlAction(site: site)
        router.post("/networks/{id}/storm-control") { try stormControl.save($0) }
        let dhcp = DHCPPage(site: site)
        router.get("/networks/{id}/dhcp") { try dhcp.show($0) }
        router.post("/networks/{id}/dhcp") { try dhcp.save($0) }
        let leases = DHCPLeaseActions(page: dhcp)
        router.get("/networks/{id}/dhcp/leases.csv") { try leases.csv($0) }
        router.post("/networks/{id}/dhcp/leases/release") { try leases.release($0) }
        router.post("/networks/{id}/dhcp/leases/reserve") { try leases.reserve($0) }
        let removeNetwork = NetworkRemovePage(site: site)
        router.post("/networks/{id}/forwards") { try forwards.add($0) }
        router.post("/networks/{id}/forwards/remove") { try forwards.remove($0) }
        router.get("/networks/{id}/remove") { try removeNetwork.confirm($0) }
        router.post("/networks/{id}/remove") { try removeNetwork.remove($0) }

        let adapters = AdaptersPage(site: site)
        router.get("/adapters") { try adapters.show($0) }
        router.post("/adapters") { try adapters.save($0) }

        let vmList = VMListPage(site: site)
        router.get("/vms") { try vmList.respond(to: $0) }
        let createVM = VMCreatePage(site: site)
        router.get("/vms/new") { try createVM.show($0) }
        router.post("/vms") { try createVM.create($0) }
        let vm = VMStatusPage(site: site)
        router.get("/vms/{id}") { try vm.respond(to: $0) }
        let vmSettings = VMSettingsPage(site: site)
        router.get("/vms/{id}/settings") { try vmSettings.show($0) }
        router.post("/vms/{id}/settings") { try vmSettings.save($0) }
        let nics = VMNICsPage(site: site)
        router.get("/vms/{id}/nics") { try nics.show($0) }
        router.post("/vms/{id}/nics") { try nics.save($0) }
        let removeVM = VMRemovePage(site: site)
        router.get("/vms/{id}/remove") { try removeVM.confirm($0) }
        router.post("/vms/{id}/remove") { try removeVM.remove($0) }
    }
}
