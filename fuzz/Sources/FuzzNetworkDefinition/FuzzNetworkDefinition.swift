import FuzzDriver
import AdminSite
import Domain

/// Arbitrary bytes as an uploaded network definition (XML). Must be refused with a validation
/// failure or decoded; whatever decodes must encode and decode back to the same definition.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let definition: NetworkDefinition
    do {
        definition = try NetworkDefinitionXML.decode(bytes)
    } catch is ValidationFailure {
        return 0
    } catch {
        preconditionFailure("decode failed with something other than a validation failure: \(error)")
    }
    let again = try? NetworkDefinitionXML.decode(Array(NetworkDefinitionXML.encode(definition).utf8))
    precondition(again == definition, "a decoded definition survives export and import")
    return 0
}

@_cdecl("FuzzNetworkDefinition_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    vnetd_run_fuzzer(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(data, size)
    }
}
