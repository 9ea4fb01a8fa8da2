import Foundation
import StadtbusConfig
import XCTest

/// Broken mapping files (Fixtures/mapping/broken-*.yaml): every error is reported, in file
/// order, with file:line:column and a message that says how to fix it.
final class MappingRuleErrorTests: XCTestCase {
    typealias Support = MappingTestSupport

    private func errors(_ fixture: String) throws -> [String] {
        Support.errors(try Support.read(Support.fixture(fixture)), file: "mappings/\(fixture)")
    }

    func testUnknownKeysSuggestTheClosestKnownKey() throws {
        XCTAssertEqual(
            try errors("broken-unknown-keys.yaml"),
            [
                "mappings/broken-unknown-keys.yaml:1:1: missing 'fields' (the list of target fields)",
                "mappings/broken-unknown-keys.yaml:4:3: unknown key 'namespace' in 'target'; did you mean 'namespaces'?",
                "mappings/broken-unknown-keys.yaml:5:1: unknown key 'feilds' in the mapping rules; did you mean 'fields'?",
            ])
    }

    func testFieldWithoutTarget() throws {
        XCTAssertEqual(
            try errors("broken-missing-target.yaml"),
            [
                "mappings/broken-missing-target.yaml:5:5: the field has no 'target' (the element or @attribute to create)",
                "mappings/broken-missing-target.yaml:8:9: the field has no 'target' (the element or @attribute to create)",
            ])
    }

    func testConflictingValueSources() throws {
        XCTAssertEqual(
            try errors("broken-value-and-from.yaml"),
            [
                "mappings/broken-value-and-from.yaml:7:5: field 'a' has both 'value' and 'from'; use 'value' for a constant or 'from' for an XPath, not both",
                "mappings/broken-value-and-from.yaml:9:5: field 'c' has 'map' but no 'from': a value map translates the value read by 'from'",
                "mappings/broken-value-and-from.yaml:13:5: field 'd' has nested 'fields' and also 'value' or 'from'; a field either has a value or groups nested fields",
            ])
    }

    func testUnknownValueMapAndDuplicateCode() throws {
        XCTAssertEqual(
            try errors("broken-unknown-value-map.yaml"),
            [
                "mappings/broken-unknown-value-map.yaml:6:50: the code '6_Bebauungsplan' appears twice in value map 'planart'",
                "mappings/broken-unknown-value-map.yaml:10:10: unknown value map 'verfahrensschrit'; did you mean 'verfahrensschritt'?",
                "mappings/broken-unknown-value-map.yaml:13:10: unknown value map 'codes'; declare it in 'value-maps' (declared: planart, verfahrensschritt)",
            ])
    }

    func testUndeclaredNamespacePrefixesInTargetsAndXPath() throws {
        XCTAssertEqual(
            try errors("broken-undeclared-prefix.yaml"),
            [
                "mappings/broken-undeclared-prefix.yaml:10:13: in target 'xdomae:Kopf/xdomea:ProzessID': undeclared namespace prefix 'xdomae'; did you mean 'xdomea'?",
                "mappings/broken-undeclared-prefix.yaml:11:11: XPath 'xbt:nachrichteninhalt/xbet:vorgangsID' uses undeclared namespace prefix 'xbt'; did you mean 'xbet'?",
                "mappings/broken-undeclared-prefix.yaml:12:13: in target 'xdomea:Kopf/@g2g:typ': undeclared namespace prefix 'g2g'; declare it in 'target.namespaces' (declared: xdomea)",
                "mappings/broken-undeclared-prefix.yaml:13:11: XPath 'g2g:kopf/child::g2g:typ | xbet:*' uses undeclared namespace prefix 'g2g'; declare it in 'source.namespaces' (declared: xbet)",
            ])
    }

    func testInvalidXPathIsFoundAtLoadTime() throws {
        XCTAssertEqual(
            try errors("broken-invalid-xpath.yaml"),
            [
                "mappings/broken-invalid-xpath.yaml:6:11: invalid XPath 'nachricht/kopf[': Invalid expression",
                "mappings/broken-invalid-xpath.yaml:9:11: invalid XPath 'count((x)': Invalid expression",
                "mappings/broken-invalid-xpath.yaml:11:15: invalid XPath '//': Invalid expression",
                "mappings/broken-invalid-xpath.yaml:16:11: XPath 'substring-afer(kennung, ':')' calls unknown function 'substring-afer()'; did you mean 'substring-after()'?",
                "mappings/broken-invalid-xpath.yaml:18:11: XPath 'uuid4() and (x) or exsl:node-set(y) | text() | child::node()' uses undeclared namespace prefix 'exsl'; declare it in 'source.namespaces'",
                "mappings/broken-invalid-xpath.yaml:18:11: XPath 'uuid4() and (x) or exsl:node-set(y) | text() | child::node()' calls unknown function 'uuid4()'; mappings can call the XPath 1.0 and XSLT 1.0 functions",
            ])
    }

    func testParamsMustBeDeclaredValidAndUnique() throws {
        XCTAssertEqual(
            try errors("broken-params.yaml"),
            [
                "mappings/broken-params.yaml:2:24: '1kanal' is not a valid parameter name (letters, digits, '-', '_', '.'; not starting with a digit)",
                "mappings/broken-params.yaml:2:32: the parameter 'eingangszeit' is declared twice",
                "mappings/broken-params.yaml:7:11: XPath '$eingangzeit' uses '$eingangzeit', which is not declared in 'params'; did you mean 'eingangszeit'?",
                "mappings/broken-params.yaml:9:11: XPath 'concat($kanal, '$notavariable')' uses '$kanal', which is not declared in 'params'; declare it in 'params' (declared: eingangszeit)",
            ])
    }

    func testYAMLSyntaxErrorIsPositioned() throws {
        XCTAssertEqual(
            try errors("broken-yaml-syntax.yaml"),
            [
                "mappings/broken-yaml-syntax.yaml:8:1: YAML syntax error: found unexpected end of stream (while scanning a quoted scalar that starts at line 6, column 11)"
            ])
    }

    func testWrongShapesAndReservedPrefix() throws {
        XCTAssertEqual(
            try errors("broken-structure.yaml"),
            [
                "mappings/broken-structure.yaml:3:15: 'source.namespaces' must be a mapping of 'key: value' lines",
                "mappings/broken-structure.yaml:5:3: missing 'root' in 'target' (the target document's root element, e.g. xdomea:Abgabe.Abgabe.0401)",
                "mappings/broken-structure.yaml:5:17: the prefix 'xsl' is reserved; choose another one",
                "mappings/broken-structure.yaml:7:3: 'fields' must be a list of fields (each starting with '- target:')",
            ])
    }

    func testBrokenTargetsForEachAndRequired() throws {
        XCTAssertEqual(
            try errors("broken-fields.yaml"),
            [
                "mappings/broken-fields.yaml:5:13: in target '@a/b': an attribute ('@a') can only be the last step",
                "mappings/broken-fields.yaml:7:13: in target 'a//b': '' is not an element name; a target is element names separated by '/', optionally ending in '@attribute'",
                "mappings/broken-fields.yaml:9:13: in target 'a[1]': 'a[1]' is not an element name; a target is element names separated by '/', optionally ending in '@attribute'",
                "mappings/broken-fields.yaml:11:5: field 'x' needs 'value' (a constant), 'from' (an XPath) or nested 'fields'",
                "mappings/broken-fields.yaml:12:5: field 'x' has 'for-each' but no nested 'fields' to create for each item",
                "mappings/broken-fields.yaml:15:5: field 'y' has 'required' but no 'from': only values read by 'from' can be missing",
                "mappings/broken-fields.yaml:15:15: 'required' must be true or false, not 'maybe'",
                "mappings/broken-fields.yaml:16:5: field 'z' needs 'value' (a constant), 'from' (an XPath) or nested 'fields'",
                "mappings/broken-fields.yaml:18:5: field '@attr' targets an attribute, which cannot hold nested fields",
            ])
    }

    func testErrorsCarryTheirPartsForTheRouteLoader() throws {
        do {
            _ = try MappingRules.parse(
                yaml: "mapping: x\ntarget: { root: out }\nfields:\n  - target: a\n    value: 1\n    colour: red\n",
                file: "r.yaml")
            XCTFail("expected errors")
        } catch {
            XCTAssertEqual(
                error.errors,
                [
                    MappingRuleError(
                        file: "r.yaml", line: 6, column: 5,
                        message:
                            "unknown key 'colour' in a field; expected one of: target, value, from, map, when, required, for-each, fields"
                    )
                ])
            XCTAssertEqual(
                error.description,
                "r.yaml:6:5: unknown key 'colour' in a field; expected one of: target, value, from, map, when, required, for-each, fields"
            )
        }
    }

    func testEmptyAndNonMappingDocuments() {
        XCTAssertEqual(Support.errors("", file: "e.yaml"), ["e.yaml:1:1: the mapping file is empty"])
        XCTAssertEqual(
            Support.errors("- a\n- b\n", file: "l.yaml"),
            ["l.yaml:1:1: the mapping rules must be a mapping of 'key: value' lines"])
    }

    func testTheReferenceExampleInTheREADMEIsValid() throws {
        let readme = try Support.read(Support.mapping("README.md"))
        let start = try XCTUnwrap(readme.range(of: "```yaml\n"))
        let end = try XCTUnwrap(readme.range(of: "```", range: start.upperBound..<readme.endIndex))
        let example = String(readme[start.upperBound..<end.lowerBound])
        XCTAssertEqual(Support.errors(example, file: "README.md"), [])
        XCTAssertNoThrow(try Support.rules(example).compile())
    }

    func testTheRealMappingHasNoErrors() throws {
        XCTAssertEqual(Support.errors(try Support.read(Support.mapping("beteiligung-to-xdomea.yaml"))), [])
    }
}
