import AdminSite
import Domain
import Foundation
import Testing
import TestSupport

/// Issue 15: a vhost-user adapter's page shows everything QEMU and libvirt need, ready to copy.
@Suite("vhost-user attach instructions")
struct VhostUserAttachTests {
    @Test func theVMPageShowsTheCompleteQEMUArgumentsAndTheLibvirtXML() throws {
        let site = try SiteFixture()
        let lab = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let vm = try site.vms.create(name: "fast", notes: "", connectingTo: lab.id)
        let nic = try #require(try site.store.read { try $0.nics(of: vm.id) }.first)
        let version = try #require(try site.store.read { try $0.vm(vm.id) }).version
        try site.vms.configureNICs(of: vm.id, version: version, [NICSetting(nicID: nic.id, networkID: lab.id, assignment: .dynamic, backend: .vhostUser)])
        site.status.set(PortRuntimeStatus(kind: .nic(nic.id), isAttached: false, detail: "Waiting for the VM to connect", endpoint: "/run/vnetd/a.vhost"), for: nic.id)
        let html = site.get("/vms/\(vm.id.rawValue)").bodyText
        #expect(html.contains("-object memory-backend-memfd,id=mem,size=1024M,share=on \\\n  -machine memory-backend=mem \\\n  -chardev socket,id=char1,path=/run/vnetd/a.vhost,reconnect=1 \\\n  -netdev vhost-user,id=net1,chardev=char1 \\\n  -device virtio-net-pci,netdev=net1,mac=\(nic.mac),vectors=0</pre>"),
                "the adapter's complete lines, shared memory first")
        #expect(html.contains("vectors=0 turns MSI-X off"), "and a word why")
        #expect(html.contains("-machine q35,accel=kvm:tcg,memory-backend=mem \\\n  -m 1024 \\\n  -object memory-backend-memfd,id=mem,size=1024M,share=on"), "the one-line command shares the VM's memory")
        // libvirt's XML, escaped (it is shown, not interpreted), with its own copy button.
        #expect(html.contains("&lt;interface type="), "escaped")
        #expect(!html.contains("<interface type="))
        #expect(html.contains("vhostuser") && html.contains("&lt;memoryBacking&gt;") && html.contains("memfd"))
        #expect(html.contains("/run/vnetd/a.vhost") && html.contains("reconnect enabled="))
        #expect(html.contains("data-copy=\"command-nic-1-libvirt\""))
        // Offered first where the adapter's kind is chosen.
        let nics = site.get("/vms/\(vm.id.rawValue)/nics").bodyText
        let vhost = try #require(nics.range(of: "value=\"vhost-user\""))
        let stream = try #require(nics.range(of: "value=\"socket\""))
        #expect(vhost.lowerBound < stream.lowerBound)
    }
}
