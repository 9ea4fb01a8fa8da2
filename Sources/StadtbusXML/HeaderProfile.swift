import Foundation

/// How to read the header of one family of XÖV messages.
///
/// A profile applies to a document when its root namespace is one of ``rootNamespaces``
/// (or when that list is empty, to any namespace) **and** its ``detect`` expression finds
/// the header. Built-in profiles cover the three header shapes in use — unqualified g2g
/// (XWasser), qualified g2g (XBeteiligung and most XÖV standards) and xdomea's `Kopf` — plus
/// XRechnung's UBL and CII invoices, which have no XÖV header. Configurations add profiles
/// for further standards.
public struct HeaderProfile: Sendable, Equatable {
    /// Reads one authority's fields, relative to the document root.
    public struct AuthorityPaths: Sendable, Equatable {
        public var kennung: String
        public var directory: String?
        public var name: String?

        public init(kennung: String, directory: String? = nil, name: String? = nil) {
            self.kennung = kennung
            self.directory = directory
            self.name = name
        }
    }

    public var name: String
    /// Root namespaces this profile is for; empty means any (tried after specific ones).
    public var rootNamespaces: [String]
    /// Prefixes used in the expressions below.
    public var namespaces: XMLNamespaces
    /// Must select something for the profile to apply.
    public var detect: String
    /// Expressions whose values, joined with `/`, form the message identity (all required).
    public var identity: [String]
    /// The message type code (required).
    public var messageType: String
    public var messageTypeName: String?
    public var createdAt: String?
    public var author: AuthorityPaths?
    public var reader: AuthorityPaths?

    public init(
        name: String, rootNamespaces: [String], namespaces: XMLNamespaces, detect: String, identity: [String],
        messageType: String, messageTypeName: String? = nil, createdAt: String? = nil,
        author: AuthorityPaths? = nil, reader: AuthorityPaths? = nil
    ) {
        self.name = name
        self.rootNamespaces = rootNamespaces
        self.namespaces = namespaces
        self.detect = detect
        self.identity = identity
        self.messageType = messageType
        self.messageTypeName = messageTypeName
        self.createdAt = createdAt
        self.author = author
        self.reader = reader
    }
}

extension HeaderProfile {
    static let g2gNamespace = "http://xoev.de/schemata/basisnachricht/g2g/1_1"
    static let behoerdeNamespace = "http://xoev.de/schemata/basisnachricht/behoerde/1_1"

    /// Qualified `g2g:nachrichtenkopf.g2g` (XÖV Basisnachricht 1.1), as in XBeteiligung.
    public static let xoevG2G = HeaderProfile(
        name: "xoev-g2g",
        rootNamespaces: [],
        namespaces: ["g2g": g2gNamespace, "beh": behoerdeNamespace],
        detect: "/*/g2g:nachrichtenkopf.g2g",
        identity: ["/*/g2g:nachrichtenkopf.g2g/g2g:identifikation.nachricht/g2g:nachrichtenUUID"],
        messageType: "/*/g2g:nachrichtenkopf.g2g/g2g:identifikation.nachricht/g2g:nachrichtentyp/code",
        messageTypeName: "/*/g2g:nachrichtenkopf.g2g/g2g:identifikation.nachricht/g2g:nachrichtentyp/name",
        createdAt: "/*/g2g:nachrichtenkopf.g2g/g2g:identifikation.nachricht/g2g:erstellungszeitpunkt",
        author: .init(
            kennung: "/*/g2g:nachrichtenkopf.g2g/g2g:autor/beh:kennung",
            directory: "/*/g2g:nachrichtenkopf.g2g/g2g:autor/beh:verzeichnisdienst/code",
            name: "/*/g2g:nachrichtenkopf.g2g/g2g:autor/beh:name"),
        reader: .init(
            kennung: "/*/g2g:nachrichtenkopf.g2g/g2g:leser/beh:kennung",
            directory: "/*/g2g:nachrichtenkopf.g2g/g2g:leser/beh:verzeichnisdienst/code",
            name: "/*/g2g:nachrichtenkopf.g2g/g2g:leser/beh:name"))

    /// Unqualified `nachrichtenkopf.g2g` (XÖV Basisnachricht unqualified g2g 1.1), as in XWasser.
    public static let xoevG2GUnqualified = HeaderProfile(
        name: "xoev-g2g-unqualified",
        rootNamespaces: [],
        namespaces: [:],
        detect: "/*/nachrichtenkopf.g2g",
        identity: ["/*/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID"],
        messageType: "/*/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtentyp/code",
        messageTypeName: "/*/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtentyp/name",
        createdAt: "/*/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt",
        author: .init(
            kennung: "/*/nachrichtenkopf.g2g/autor/kennung",
            directory: "/*/nachrichtenkopf.g2g/autor/verzeichnisdienst/code",
            name: "/*/nachrichtenkopf.g2g/autor/name"),
        reader: .init(
            kennung: "/*/nachrichtenkopf.g2g/leser/kennung",
            directory: "/*/nachrichtenkopf.g2g/leser/verzeichnisdienst/code",
            name: "/*/nachrichtenkopf.g2g/leser/name"))

    /// xdomea 3.0.0 `Kopf`: identity is `ProzessID` + `Nachrichtentyp`.
    public static let xdomea = HeaderProfile(
        name: "xdomea",
        rootNamespaces: ["urn:xoev-de:xdomea:schema:3.0.0"],
        namespaces: ["xdomea": "urn:xoev-de:xdomea:schema:3.0.0"],
        detect: "/*/xdomea:Kopf",
        identity: ["/*/xdomea:Kopf/xdomea:ProzessID", "/*/xdomea:Kopf/xdomea:Nachrichtentyp/code"],
        messageType: "/*/xdomea:Kopf/xdomea:Nachrichtentyp/code",
        messageTypeName: "local-name(/*)",
        createdAt: "/*/xdomea:Kopf/xdomea:Erstellungszeitpunkt",
        author: .init(
            kennung: "/*/xdomea:Kopf/xdomea:Absender/xdomea:Behoerdenkennung/xdomea:Behoerdenschluessel/code",
            directory: "/*/xdomea:Kopf/xdomea:Absender/xdomea:Behoerdenkennung/xdomea:Praefix/code",
            name: "/*/xdomea:Kopf/xdomea:Absender/xdomea:Institution/xdomea:Name"),
        reader: .init(
            kennung: "/*/xdomea:Kopf/xdomea:Empfaenger/xdomea:Behoerdenkennung/xdomea:Behoerdenschluessel/code",
            directory: "/*/xdomea:Kopf/xdomea:Empfaenger/xdomea:Behoerdenkennung/xdomea:Praefix/code",
            name: "/*/xdomea:Kopf/xdomea:Empfaenger/xdomea:Institution/xdomea:Name"))

    /// XRechnung in UBL syntax: identity is the invoice number plus the seller's name.
    public static let xrechnungUBL = HeaderProfile(
        name: "xrechnung-ubl",
        rootNamespaces: [
            "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
            "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
        ],
        namespaces: [
            "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
            "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
        ],
        detect: "/*/cbc:CustomizationID",
        identity: ["/*/cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName", "/*/cbc:ID"],
        messageType: "local-name(/*)",
        messageTypeName: "/*/cbc:CustomizationID",
        createdAt: "/*/cbc:IssueDate",
        author: .init(kennung: "/*/cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName"),
        reader: .init(kennung: "/*/cbc:BuyerReference"))

    /// XRechnung in UN/CEFACT CII syntax.
    public static let xrechnungCII = HeaderProfile(
        name: "xrechnung-cii",
        rootNamespaces: ["urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"],
        namespaces: [
            "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
            "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
            "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
        ],
        detect: "/rsm:CrossIndustryInvoice/rsm:ExchangedDocumentContext",
        identity: [
            "/*/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty/ram:Name",
            "/*/rsm:ExchangedDocument/ram:ID",
        ],
        messageType: "local-name(/*)",
        messageTypeName: "/*/rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID",
        createdAt: "/*/rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString",
        author: .init(
            kennung:
                "/*/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty/ram:Name"),
        reader: .init(
            kennung: "/*/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:BuyerReference"))

    /// The built-in profiles, most specific first.
    public static let builtIn: [HeaderProfile] = [xdomea, xrechnungUBL, xrechnungCII, xoevG2G, xoevG2GUnqualified]
}
