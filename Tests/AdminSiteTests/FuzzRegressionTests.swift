import AdminSite
import Domain
import Foundation
import Testing
import TestSupport

/// Inputs the fuzzers once crashed on (fuzz/regressions/): each must now be handled like any
/// other input, with the same checks the fuzz target makes.
@Suite("Inputs found by fuzzing")
struct FuzzRegressionTests {
    @Test(arguments: fuzzRegressionInputs("FuzzNetworkDefinition"))
    func networkDefinitionImport(file: String) throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        do {
            let definition = try NetworkDefinitionXML.decode(bytes)
            #expect(try NetworkDefinitionXML.decode(Array(NetworkDefinitionXML.encode(definition).utf8)) == definition)
        } catch let failure as ValidationFailure {
            #expect(!failure.problems.isEmpty)
        }
    }
}
