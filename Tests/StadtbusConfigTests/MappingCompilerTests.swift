import Foundation
import StadtbusConfig
import StadtbusXML
import XCTest
import Yams

/// Each feature of the mapping language, compiled to XSLT and run through libxslt.
final class MappingCompilerTests: XCTestCase {
    typealias Support = MappingTestSupport

    /// The serialised result without the XML declaration and final newline.
    private func output(_ yaml: String, _ xml: String, parameters: [String: String] = [:]) throws -> String {
        let text = try Support.run(yaml, on: xml, parameters: parameters)
        let declaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        XCTAssertTrue(text.hasPrefix(declaration), text)
        return String(text.dropFirst(declaration.count)).trimmingCharacters(in: .newlines)
    }

    private func transformError(_ yaml: String, _ xml: String, parameters: [String: String] = [:]) throws -> String {
        let stylesheet = try Support.rules(yaml).compile()
        do {
            let result = try stylesheet.transform(try XMLDocument(parsing: xml), parameters: parameters)
            XCTFail("expected the transformation to fail, got \(try result.serializedString())")
            return ""
        } catch let error as XMLError {
            guard case .transformationFailed(_, let message) = error else {
                XCTFail("unexpected error \(error)")
                return ""
            }
            return message
        }
    }

    func testConstantsBuildNestedElementsSharingPrefixes() throws {
        let yaml = """
            mapping: constants
            target:
              root: t:Nachricht
              namespaces: { t: "urn:test:target" }
            fields:
              - target: t:Kopf/t:Typ/@liste
                value: "urn:liste"
              - target: t:Kopf/t:Typ/code
                value: "0401"
              - target: t:Kopf/t:Leer
                value: ""
              - target: t:Inhalt/t:Text
                value: "  mit Leerzeichen  "
              - target: t:Kopf/t:Spaet
                value: spät
            """
        XCTAssertEqual(
            try output(yaml, "<in/>"),
            #"<t:Nachricht xmlns:t="urn:test:target"><t:Kopf><t:Typ liste="urn:liste"><code>0401</code></t:Typ><t:Leer/></t:Kopf>"#
                + #"<t:Inhalt><t:Text>  mit Leerzeichen  </t:Text></t:Inhalt><t:Kopf><t:Spaet>spät</t:Spaet></t:Kopf></t:Nachricht>"#
        )
    }

    func testFromReadsXPathRelativeToTheSourceRootAndSkipsEmptyValues() throws {
        let yaml = """
            mapping: from
            source:
              namespaces: { s: "urn:test:source" }
            target:
              root: out
            fields:
              - target: name
                from: s:person/s:name
              - target: missing
                from: s:person/s:nothing
              - target: upper
                from: translate(s:person/s:name, 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')
              - target: count
                from: count(//s:name)
              - target: absolute
                from: /s:root/@id
            """
        let xml = #"<s:root xmlns:s="urn:test:source" id="r1"><s:person><s:name>Muster</s:name></s:person></s:root>"#
        XCTAssertEqual(
            try output(yaml, xml),
            "<out><name>Muster</name><upper>MUSTER</upper><count>1</count><absolute>r1</absolute></out>")
    }

    func testFromAlternativesTakeTheFirstNonEmptyValue() throws {
        let yaml = """
            mapping: alternatives
            target: { root: out }
            params: [zeit]
            fields:
              - target: zeit
                from: [$zeit, zeit, "'fallback'"]
            """
        XCTAssertEqual(
            try output(yaml, "<in><zeit>aus der Nachricht</zeit></in>", parameters: ["zeit": "vom Bus"]),
            "<out><zeit>vom Bus</zeit></out>")
        XCTAssertEqual(
            try output(yaml, "<in><zeit>aus der Nachricht</zeit></in>"), "<out><zeit>aus der Nachricht</zeit></out>")
        XCTAssertEqual(try output(yaml, "<in/>"), "<out><zeit>fallback</zeit></out>")

        let required = """
            mapping: alternatives
            target: { root: out }
            params: [zeit]
            fields:
              - target: zeit
                from: [$zeit, zeit]
                required: true
            """
        XCTAssertEqual(try output(required, "<in><zeit>z</zeit></in>"), "<out><zeit>z</zeit></out>")
        let message = try transformError(required, "<in/>")
        XCTAssertTrue(
            message.contains(
                "mapping 'alternatives': required value for 'zeit' is missing (from: $zeit, zeit, rules line 5)"),
            message)
    }

    func testValueMapsTranslateCodesWithDefault() throws {
        let yaml = """
            mapping: value-maps
            target: { root: out }
            value-maps:
              status: { "1000": "in Bearbeitung", "2000": "abgeschlossen", default: "unbekannt" }
            fields:
              - target: status
                from: code
                map: status
            """
        XCTAssertEqual(try output(yaml, "<in><code>2000</code></in>"), "<out><status>abgeschlossen</status></out>")
        XCTAssertEqual(try output(yaml, "<in><code>9999</code></in>"), "<out><status>unbekannt</status></out>")
        XCTAssertEqual(try output(yaml, "<in/>"), "<out/>", "an absent code is not translated")
    }

    func testValueMapWithoutDefaultStopsOnUnknownCode() throws {
        let yaml = """
            mapping: strict-map
            target: { root: out }
            value-maps:
              status: { "1000": "in Bearbeitung" }
            fields:
              - target: status
                from: code
                map: status
            """
        XCTAssertEqual(try output(yaml, "<in><code>1000</code></in>"), "<out><status>in Bearbeitung</status></out>")
        let message = try transformError(yaml, "<in><code>7</code></in>")
        XCTAssertTrue(
            message.contains("mapping 'strict-map': value map 'status' has no entry for '7' and no default"), message)
    }

    func testRequiredValueStopsWhenMissing() throws {
        let yaml = """
            mapping: required
            target: { root: out }
            fields:
              - target: id
                from: id
                required: true
            """
        XCTAssertEqual(try output(yaml, "<in><id>42</id></in>"), "<out><id>42</id></out>")
        let message = try transformError(yaml, "<in/>")
        XCTAssertTrue(
            message.contains("mapping 'required': required value for 'id' is missing (from: id, rules line 4)"), message
        )
    }

    func testWhenMakesElementsAttributesAndGroupsConditional() throws {
        let yaml = """
            mapping: when
            target: { root: out }
            fields:
              - target: eilig
                value: "ja"
                when: prio = 'hoch'
              - target: "@prio"
                from: prio
                when: prio != 'normal'
              - target: "@flag"
                value: "1"
                when: prio = 'hoch'
              - target: block
                when: count(item) > 1
                fields:
                  - target: anzahl
                    from: count(item)
            """
        XCTAssertEqual(
            try output(yaml, "<in><prio>hoch</prio><item/><item/></in>"),
            #"<out prio="hoch" flag="1"><eilig>ja</eilig><block><anzahl>2</anzahl></block></out>"#)
        XCTAssertEqual(try output(yaml, "<in><prio>normal</prio><item/></in>"), "<out/>")
    }

    func testForEachRepeatsElementsWithNestedRelativeFields() throws {
        let yaml = """
            mapping: for-each
            target: { root: akte }
            fields:
              - target: titel
                from: titel
              - target: dokumente/dokument
                for-each: anlage
                when: "@typ != 'entwurf'"
                fields:
                  - target: "@nr"
                    from: position()
                  - target: name
                    from: name
                  - target: seite
                    for-each: seiten/seite
                    fields:
                      - target: text
                        from: .
                      - target: akte
                        from: /in/titel
            """
        let xml = """
            <in><titel>T</titel>
              <anlage typ="final"><name>A</name><seiten><seite>1</seite><seite>2</seite></seiten></anlage>
              <anlage typ="entwurf"><name>B</name></anlage>
              <anlage typ="final"><name>C</name></anlage>
            </in>
            """
        XCTAssertEqual(
            try output(yaml, xml),
            #"<akte><titel>T</titel><dokumente><dokument nr="1"><name>A</name><seite><text>1</text><akte>T</akte></seite>"#
                + #"<seite><text>2</text><akte>T</akte></seite></dokument><dokument nr="3"><name>C</name></dokument></dokumente></akte>"#
        )
    }

    func testAttributesConstantAndFromOnRootAndNestedElements() throws {
        let yaml = """
            mapping: attributes
            target:
              root: t:out
              namespaces: { t: "urn:t" }
            fields:
              - target: "@version"
                value: "1.0"
              - target: "@t:quelle"
                from: name(/*)
              - target: t:code/@listURI
                value: "urn:liste"
              - target: t:code/@listVersionID
                from: "@v"
              - target: t:code/code
                value: "X"
            """
        XCTAssertEqual(
            try output(yaml, #"<quelle v="3"/>"#),
            #"<t:out xmlns:t="urn:t" version="1.0" t:quelle="quelle"><t:code listURI="urn:liste" listVersionID="3"><code>X</code></t:code></t:out>"#
        )
    }

    func testParamsArePassedInOrDefaulted() throws {
        let yaml = """
            mapping: params
            target: { root: out }
            params:
              eingangszeit: ""
              kanal: "amqp"
            fields:
              - target: zeit
                from: $eingangszeit
              - target: kanal
                from: $kanal
            """
        XCTAssertEqual(try output(yaml, "<in/>"), "<out><kanal>amqp</kanal></out>")
        XCTAssertEqual(
            try output(yaml, "<in/>", parameters: ["eingangszeit": "2026-11-25T10:00:00Z", "kanal": "http"]),
            "<out><zeit>2026-11-25T10:00:00Z</zeit><kanal>http</kanal></out>")
        XCTAssertEqual(
            try output(
                "mapping: list\ntarget: { root: out }\nparams: [p]\nfields:\n  - target: p\n    from: $p\n", "<in/>",
                parameters: ["p": "x"]
            ), "<out><p>x</p></out>")
    }

    func testHostileStringsAreEscapedEverywhere() throws {
        // Each place a string lands: element text, literal attribute (an attribute value
        // template, so braces matter), value-map keys and values, a param default, an XPath
        // string literal with both quote characters, and the mapping name in messages.
        let yaml = #"""
            mapping: "hostile"
            target: { root: out }
            params: { p: "d\"'<&{}" }
            value-maps:
              m: { "a\"'<&{}": "v\"'<&{}]]>", default: "x\"'<&{}" }
            fields:
              - target: "@attr"
                value: "\"'<&{}"
              - target: text
                value: "\"'<&{}]]> --> <!-- <xsl:message terminate=\"yes\"/>"
              - target: mapped
                from: k
                map: m
              - target: fallback
                from: "'anything'"
                map: m
              - target: param
                from: $p
              - target: literal
                from: concat('<&', "'", '"{}')
            """#
        XCTAssertEqual(
            try output(yaml, #"<in><k>a"'&lt;&amp;{}</k></in>"#),
            #"<out attr="&quot;'&lt;&amp;{}"><text>"'&lt;&amp;{}]]&gt; --&gt; &lt;!-- &lt;xsl:message terminate="yes"/&gt;</text>"#
                + #"<mapped>v"'&lt;&amp;{}]]&gt;</mapped><fallback>x"'&lt;&amp;{}</fallback><param>d"'&lt;&amp;{}</param>"#
                + #"<literal>&lt;&amp;'"{}</literal></out>"#)
        XCTAssertEqual(
            try output(
                yaml, #"<in><k>a"'&lt;&amp;{}</k></in>"#, parameters: ["p": "') or document('/etc/passwd') or ('"]
            ).contains(
                "<param>') or document('/etc/passwd') or ('</param>"), true)
    }

    func testHostileNamesInCommentsAndMessages() throws {
        let yaml = #"""
            mapping: "evil--name-"
            description: "line one\n--> <xsl:message terminate='yes'>owned</xsl:message> <!--"
            target: { root: out }
            value-maps:
              m: { "1": "eins" }
            fields:
              - target: v
                from: code
                map: m
            """#
        let rules = try Support.rules(yaml, file: "dir--/x.yaml")
        let xslt = MappingRulesCompiler.xslt(for: rules)
        XCTAssertNoThrow(try rules.compile(), xslt)
        // No comment is closed early: the only "-->" ends the header comment.
        XCTAssertEqual(xslt.components(separatedBy: "-->").count, 2, xslt)
        XCTAssertTrue(xslt.contains("  - -> <xsl:message terminate='yes'>owned</xsl:message> <!- - \n"), xslt)
        XCTAssertTrue(xslt.contains("Generated by Stadtbus from dir- -/x.yaml (mapping evil- -name- )."), xslt)
        XCTAssertEqual(try output(yaml, "<in><code>1</code></in>"), "<out><v>eins</v></out>")
        let message = try transformError(yaml, "<in><code>2</code></in>")
        XCTAssertTrue(message.contains("mapping 'evil--name-': value map 'm' has no entry for '2'"), message)
    }

    func testSourceRootIsCheckedWithAClearMessage() throws {
        let yaml = """
            mapping: roots
            source:
              root: [s:a, s:b]
              namespaces: { s: "urn:s" }
            target: { root: out }
            fields:
              - target: root
                from: local-name()
            """
        XCTAssertEqual(try output(yaml, #"<a xmlns="urn:s"/>"#), "<out><root>a</root></out>")
        XCTAssertEqual(try output(yaml, #"<x:b xmlns:x="urn:s"/>"#), "<out><root>b</root></out>")
        let message = try transformError(yaml, #"<a xmlns="urn:other"/>"#)
        XCTAssertTrue(
            message.contains("mapping 'roots': expected a source message s:a or s:b, got 'a' in namespace 'urn:other'"),
            message)
    }

    func testSourceNamespacesDoNotLeakIntoTheOutput() throws {
        let yaml = """
            mapping: namespaces
            source:
              namespaces: { s: "urn:s", shared: "urn:shared" }
            target:
              root: shared:out
              namespaces: { shared: "urn:shared" }
            fields:
              - target: plain
                from: s:x
            """
        XCTAssertEqual(
            try output(yaml, #"<s:in xmlns:s="urn:s"><s:x>1</s:x></s:in>"#),
            #"<shared:out xmlns:shared="urn:shared"><plain>1</plain></shared:out>"#)
    }

    func testRepeatedLeafPathsCreateSiblings() throws {
        let yaml = """
            mapping: siblings
            target: { root: out }
            fields:
              - target: a/b
                value: "1"
              - target: a/b
                value: "2"
            """
        XCTAssertEqual(try output(yaml, "<in/>"), "<out><a><b>1</b><b>2</b></a></out>")
    }

    func testMappingsCannotReadFiles() throws {
        let yaml = """
            mapping: exfiltrate
            target: { root: out }
            fields:
              - target: passwd
                from: document('/etc/passwd')
            """
        let message = try transformError(yaml, "<in/>")
        XCTAssertTrue(message.lowercased().contains("/etc/passwd"), message)
        XCTAssertTrue(message.contains("forbidden") || message.contains("denied"), message)
        XCTAssertFalse(message.contains("root:"), "file content must not appear: \(message)")
    }

    func testGeneratedStylesheetIsReadable() throws {
        let rules = try Support.rules(
            """
            mapping: readable
            target: { root: out }
            value-maps:
              m: { a: b }
            fields:
              - target: x/y
                for-each: item
                fields:
                  - target: z
                    from: "."
                    map: m
            """, file: "mappings/readable.yaml")
        XCTAssertEqual(
            MappingRulesCompiler.xslt(for: rules),
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <!--
              Generated by Stadtbus from mappings/readable.yaml (mapping readable).
              Do not edit: change the mapping rules and reload the configuration.
            -->
            <xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
              <xsl:output method="xml" encoding="UTF-8" indent="yes"/>

              <xsl:template match="/*" priority="1">
                <out>
                  <x>
                    <!-- rules line 6: one y per item -->
                    <xsl:for-each select="item">
                      <y>
                        <xsl:if test="string(.) != ''">
                          <z>
                            <xsl:call-template name="value-map.m">
                              <xsl:with-param name="code" select="string(.)"/>
                            </xsl:call-template>
                          </z>
                        </xsl:if>
                      </y>
                    </xsl:for-each>
                  </x>
                </out>
              </xsl:template>

              <xsl:template name="value-map.m">
                <xsl:param name="code"/>
                <xsl:choose>
                  <xsl:when test="$code = 'a'"><xsl:text>b</xsl:text></xsl:when>
                  <xsl:otherwise>
                    <xsl:message terminate="yes">mapping 'readable': value map 'm' has no entry for '<xsl:value-of select="$code"/>' and no default</xsl:message>
                  </xsl:otherwise>
                </xsl:choose>
              </xsl:template>
            </xsl:stylesheet>

            """)
    }

    func testRulesCanBeEmbeddedAsANode() throws {
        let route = """
            route: beteiligung
            steps:
              - map:
                  mapping: inline
                  target: { root: out }
                  fields:
                    - target: x
                      from: y
            """
        let node = try XCTUnwrap(try Yams.compose(yaml: route))
        let step = try XCTUnwrap(node["steps"]?.sequence?.first?["map"])
        let rules = try MappingRules.parse(node: step, file: "routes/beteiligung.yaml")
        XCTAssertEqual(rules.name, "inline")
        XCTAssertEqual(
            try rules.compile().transform(try XMLDocument(parsing: "<in><y>1</y></in>")).serializedString(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<out><x>1</x></out>\n")
        // Errors in embedded rules point into the route file.
        let broken = try XCTUnwrap(try Yams.compose(yaml: route.replacingOccurrences(of: "from: y", with: "form: y")))
        let brokenStep = try XCTUnwrap(broken["steps"]?.sequence?.first?["map"])
        XCTAssertThrowsError(try MappingRules.parse(node: brokenStep, file: "routes/beteiligung.yaml")) { error in
            XCTAssertEqual(
                "\(error)",
                """
                routes/beteiligung.yaml:7:11: field 'x' needs 'value' (a constant), 'from' (an XPath) or nested 'fields'
                routes/beteiligung.yaml:8:11: unknown key 'form' in a field; did you mean 'from'?
                """)
        }
    }
}
