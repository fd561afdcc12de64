import AdminSite
import Domain
import Foundation
import Testing
import TestSupport

/// Inputs the fuzzers once crashed on (fuzz/regressions/): each must now be handled like any
/// other input, with the same checks the fuzz target makes.
@Suite("Inputs found by fuzzing")
struct FuzzRegressionTests {
    /// A parameterized test with no files passes with zero cases: the folders must hold what was saved.
    @Test func everySavedInputIsReplayed() {
        #expect(fuzzRegressionInputs("FuzzNetworkDefinition").count == 3)
        #expect(fuzzRegressionInputs("FuzzNetworkDefinition").allSatisfy { $0.hasSuffix(".xml") })
    }

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
