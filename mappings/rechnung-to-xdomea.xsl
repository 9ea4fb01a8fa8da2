<?xml version="1.0" encoding="UTF-8"?>
<!--
  XRechnung e-invoice (UBL Invoice or UN/CEFACT CII CrossIndustryInvoice) -> xdomea 3.0.0
  FVDaten.SGOErstellen.0604 (hand-written XSLT 1.0, flow 3 of /work/notes/flows.md).

  Purpose: an incoming e-invoice to the city is filed as a new case (Vorgang) in the eAkte, with
  one Dokument carrying the invoice's metadata. The case's SGO ID is $vorgang-id, so the payment
  confirmation later finds it (zahlung-to-eakte-protokoll.xsl logs against sgo-id = $vorgang-id,
  kennzeichen = "Rechnung <BT-1>"). 0604 is xdomea's "neue Schriftgutobjekte zur Erstellung im DMS"
  from a Fachverfahren, as in beteiligung-to-xdomea.xsl.

  Input: either syntax, chosen by the root element (both XRechnung 3.0 syntaxes, see
  ../shared/xoev/xrechnung-testsuite/examples/):
    UBL  /ubl:Invoice                 (urn:oasis:names:specification:ubl:schema:xsd:Invoice-2)
    CII  /rsm:CrossIndustryInvoice    (urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100)
  Anything else (also a UBL CreditNote) stops the mapping with a clear message.
  Business terms (EN 16931) read, UBL path | CII path:
    BT-1   invoice number    cbc:ID | rsm:ExchangedDocument/ram:ID                            required
    BT-2   issue date        cbc:IssueDate | ExchangedDocument/ram:IssueDateTime/udt:DateTimeString[@format=102]  required
    BT-3   type code         cbc:InvoiceTypeCode | ExchangedDocument/ram:TypeCode
    BT-5   currency          cbc:DocumentCurrencyCode | …/ram:InvoiceCurrencyCode              (PayableAmount/@currencyID first in UBL)
    BT-9   due date          cbc:DueDate | …/ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString
    BT-10  Leitweg-ID        cbc:BuyerReference | …/ram:ApplicableHeaderTradeAgreement/ram:BuyerReference
    BT-24  specification     cbc:CustomizationID | …/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID
    BT-27  seller name       …/cac:PartyLegalEntity/cbc:RegistrationName | …/ram:SellerTradeParty/ram:Name   required
    BT-31  seller VAT ID     …/cac:PartyTaxScheme[TaxScheme/ID=VAT]/cbc:CompanyID | …/ram:SpecifiedTaxRegistration/ram:ID[@schemeID=VA]
    BT-35/38/37 seller address (street, post code, city)
    BT-115 amount due        cac:LegalMonetaryTotal/cbc:PayableAmount | …/ram:DuePayableAmount   required
  (The route's require step checks BT-1/BT-10/totals before; this stylesheet still stops with its
  own message when a value it needs is missing.)

  Output: xdomea:FVDaten.SGOErstellen.0604, valid against xdomea.xsd 3.0.0 (mappings/check.sh maps
  every example of the XRechnung test suite, UBL and CII, and validates the result):
    Kopf: ProzessID $prozess-id, Nachrichtentyp 0604, Erstellungszeitpunkt $zeitpunkt (default
      BT-2 at 00:00:00), Absender and Empfaenger the city ($stadt-kennung split at ':', $stadt-name),
      SendendesSystem Stadtbus, Hinweis "Eingangsrechnung (XRechnung UBL|CII)", Erstellerkennung
      $stadt-kennung.
    SchriftgutobjektZumErstellen:
      FachverfahrenObjektID  "<BT-1> (<BT-31, else BT-27>)": the invoice's identity, number + seller
      Vorgang Identifikation/ID         $vorgang-id
              AllgemeineMetadaten       Betreff "Rechnung <BT-1> von <BT-27>", Kennzeichen "Rechnung <BT-1>",
                                        Federfuehrung $stadt-name
              Typ                       "Eingangsrechnung"
              Dokument                  (below)
              Kontakt                   the seller (Institution/Name, Anschrift)
      Dokument Identifikation/ID        $dokument-id
               AllgemeineMetadaten      Betreff "<type name> <BT-1> von <BT-27>", Kennzeichen BT-1,
                                        Bemerkung "Zahlbetrag <BT-115> <BT-5>, Leitweg-ID <BT-10>, fällig am <BT-9>"
               FremdesGeschaeftszeichen BT-1 (the seller's reference)
               Posteingangsdatum        date part of $zeitpunkt (only when given)
               DatumDesSchreibens       BT-2
               Typ                      BT-3 as a name (380 Rechnung, 381 Gutschrift, 384 Rechnungskorrektur, …)
               Absender                 the seller
               AnwendungsspezifischeErweiterung "stadtbus:xrechnung": one Feld per business term
                                        (Name, Beschreibung = BT number, Wert), machine-readable

  No Version/Format/Primaerdokument: in xdomea the primary document is a file that travels beside
  the message in the xdomea ZIP package, and Primaerdokument/Dateiname (required inside Format,
  pattern "<UUID>_name") names that file. Stadtbus delivers the 0604 as a single XML message, so a
  file name would be a dangling reference for the DMS's import (and the dateiformat code for XML is
  not checkable here). DokumentType's Version is optional (0..n), so the Dokument is valid with
  metadata only; the invoice XML itself stays with the payment platform / Stadtbus's message store.

  Parameters (all strings; the required ones stop the mapping with a message when empty or not a UUID):
    vorgang-id    required  the case's SGO ID in the eAkte (UUID given by Stadtbus; register it with
                            the case: it is the sgo-id for zahlung-to-eakte-protokoll.xsl)
    dokument-id   required  the invoice Dokument's SGO ID (UUID; xdomea requires one for every
                            Dokument, and it must differ from vorgang-id)
    prozess-id    required  Kopf/ProzessID (a fresh UUID given by Stadtbus)
    zeitpunkt     optional  Kopf/Erstellungszeitpunkt (xs:dateTime); empty: BT-2 at 00:00:00
    stadt-kennung default ags:01061046
    stadt-name    default Stadt Itzehoe
    dms-instanz   optional  Kopf/EmpfangendesSystem/InstanzID

  Use in config/itzehoe.yaml (route rechnung-eingang, after the require step and register-case):
      - map:
          xslt: ${mappings}/rechnung-to-xdomea.xsl
          parameters:
            vorgang-id: "{case.sgoID}"               # however Stadtbus spells these values
            dokument-id: "{uuid}"
            prozess-id: "{uuid}"
            zeitpunkt: "{now}"
            dms-instanz: itzehoe-dms
      - validate: { schema: xdomea }
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:xdomea="urn:xoev-de:xdomea:schema:3.0.0"
    xmlns:ubl="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
    xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
    xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
    xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
    xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
    xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
    exclude-result-prefixes="ubl cac cbc rsm ram udt">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:param name="vorgang-id"/>
  <xsl:param name="dokument-id"/>
  <xsl:param name="prozess-id"/>
  <xsl:param name="zeitpunkt"/>
  <xsl:param name="stadt-kennung" select="'ags:01061046'"/>
  <xsl:param name="stadt-name" select="'Stadt Itzehoe'"/>
  <xsl:param name="dms-instanz"/>

  <xsl:variable name="mapping">xrechnung-to-xdomea-sgo-erstellen</xsl:variable>

  <!-- UBL Invoice: collect the business terms, then build the 0604 -->
  <xsl:template match="/ubl:Invoice">
    <xsl:variable name="seller" select="cac:AccountingSupplierParty/cac:Party"/>
    <xsl:variable name="payable" select="cac:LegalMonetaryTotal/cbc:PayableAmount"/>
    <xsl:call-template name="sgo-erstellen">
      <xsl:with-param name="syntax">UBL</xsl:with-param>
      <xsl:with-param name="nummer" select="normalize-space(cbc:ID)"/>
      <xsl:with-param name="datum" select="substring(normalize-space(cbc:IssueDate), 1, 10)"/>
      <xsl:with-param name="typ" select="normalize-space(cbc:InvoiceTypeCode)"/>
      <xsl:with-param name="waehrung">
        <xsl:choose>
          <xsl:when test="normalize-space($payable/@currencyID) != ''">
            <xsl:value-of select="normalize-space($payable/@currencyID)"/>
          </xsl:when>
          <xsl:otherwise>
            <xsl:value-of select="normalize-space(cbc:DocumentCurrencyCode)"/>
          </xsl:otherwise>
        </xsl:choose>
      </xsl:with-param>
      <xsl:with-param name="faellig" select="substring(normalize-space(cbc:DueDate), 1, 10)"/>
      <xsl:with-param name="leitweg-id" select="normalize-space(cbc:BuyerReference)"/>
      <xsl:with-param name="spezifikation" select="normalize-space(cbc:CustomizationID)"/>
      <xsl:with-param name="verkaeufer" select="normalize-space($seller/cac:PartyLegalEntity/cbc:RegistrationName)"/>
      <xsl:with-param name="ust-id" select="normalize-space($seller/cac:PartyTaxScheme[normalize-space(cac:TaxScheme/cbc:ID) = 'VAT']/cbc:CompanyID)"/>
      <xsl:with-param name="strasse" select="normalize-space($seller/cac:PostalAddress/cbc:StreetName)"/>
      <xsl:with-param name="plz" select="normalize-space($seller/cac:PostalAddress/cbc:PostalZone)"/>
      <xsl:with-param name="ort" select="normalize-space($seller/cac:PostalAddress/cbc:CityName)"/>
      <xsl:with-param name="betrag" select="normalize-space($payable)"/>
    </xsl:call-template>
  </xsl:template>

  <!-- UN/CEFACT CII CrossIndustryInvoice: the same business terms -->
  <xsl:template match="/rsm:CrossIndustryInvoice">
    <xsl:variable name="doc" select="rsm:ExchangedDocument"/>
    <xsl:variable name="agreement" select="rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"/>
    <xsl:variable name="settlement" select="rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"/>
    <xsl:variable name="seller" select="$agreement/ram:SellerTradeParty"/>
    <xsl:call-template name="sgo-erstellen">
      <xsl:with-param name="syntax">CII</xsl:with-param>
      <xsl:with-param name="nummer" select="normalize-space($doc/ram:ID)"/>
      <xsl:with-param name="datum">
        <xsl:call-template name="cii-datum">
          <xsl:with-param name="dts" select="$doc/ram:IssueDateTime/udt:DateTimeString"/>
          <xsl:with-param name="what">BT-2 (ExchangedDocument/IssueDateTime/DateTimeString)</xsl:with-param>
        </xsl:call-template>
      </xsl:with-param>
      <xsl:with-param name="typ" select="normalize-space($doc/ram:TypeCode)"/>
      <xsl:with-param name="waehrung" select="normalize-space($settlement/ram:InvoiceCurrencyCode)"/>
      <xsl:with-param name="faellig">
        <xsl:call-template name="cii-datum">
          <xsl:with-param name="dts" select="$settlement/ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString"/>
          <xsl:with-param name="what">BT-9 (SpecifiedTradePaymentTerms/DueDateDateTime/DateTimeString)</xsl:with-param>
        </xsl:call-template>
      </xsl:with-param>
      <xsl:with-param name="leitweg-id" select="normalize-space($agreement/ram:BuyerReference)"/>
      <xsl:with-param name="spezifikation" select="normalize-space(rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID)"/>
      <xsl:with-param name="verkaeufer" select="normalize-space($seller/ram:Name)"/>
      <xsl:with-param name="ust-id" select="normalize-space($seller/ram:SpecifiedTaxRegistration/ram:ID[@schemeID = 'VA'])"/>
      <xsl:with-param name="strasse" select="normalize-space($seller/ram:PostalTradeAddress/ram:LineOne)"/>
      <xsl:with-param name="plz" select="normalize-space($seller/ram:PostalTradeAddress/ram:PostcodeCode)"/>
      <xsl:with-param name="ort" select="normalize-space($seller/ram:PostalTradeAddress/ram:CityName)"/>
      <xsl:with-param name="betrag" select="normalize-space($settlement/ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:DuePayableAmount)"/>
    </xsl:call-template>
  </xsl:template>

  <!-- Any other message type: stop with a clear message. -->
  <xsl:template match="/*" priority="-1">
    <xsl:message terminate="yes">mapping '<xsl:value-of select="$mapping"/>': expected a source message ubl:Invoice (urn:oasis:names:specification:ubl:schema:xsd:Invoice-2) or rsm:CrossIndustryInvoice (urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100), got '<xsl:value-of select="local-name()"/>' in namespace '<xsl:value-of select="namespace-uri()"/>'</xsl:message>
  </xsl:template>

  <!-- The 0604, from the business terms (already normalized; dates as YYYY-MM-DD). -->
  <xsl:template name="sgo-erstellen">
    <xsl:param name="syntax"/>
    <xsl:param name="nummer"/>
    <xsl:param name="datum"/>
    <xsl:param name="typ"/>
    <xsl:param name="waehrung"/>
    <xsl:param name="faellig"/>
    <xsl:param name="leitweg-id"/>
    <xsl:param name="spezifikation"/>
    <xsl:param name="verkaeufer"/>
    <xsl:param name="ust-id"/>
    <xsl:param name="strasse"/>
    <xsl:param name="plz"/>
    <xsl:param name="ort"/>
    <xsl:param name="betrag"/>

    <!-- checked first, so that a missing invoice number is reported as such -->
    <xsl:variable name="bt1">
      <xsl:call-template name="required">
        <xsl:with-param name="value" select="$nummer"/>
        <xsl:with-param name="what">the invoice number BT-1 (<xsl:value-of select="$syntax"/><xsl:text> </xsl:text><xsl:choose><xsl:when test="$syntax = 'UBL'">cbc:ID</xsl:when><xsl:otherwise>rsm:ExchangedDocument/ram:ID</xsl:otherwise></xsl:choose>)</xsl:with-param>
      </xsl:call-template>
    </xsl:variable>
    <xsl:variable name="bt27">
      <xsl:call-template name="required">
        <xsl:with-param name="value" select="$verkaeufer"/>
        <xsl:with-param name="what">the seller name BT-27</xsl:with-param>
      </xsl:call-template>
    </xsl:variable>
    <xsl:variable name="bt2">
      <xsl:call-template name="required">
        <xsl:with-param name="value" select="$datum"/>
        <xsl:with-param name="what">the issue date BT-2</xsl:with-param>
      </xsl:call-template>
    </xsl:variable>
    <xsl:variable name="bt115">
      <xsl:call-template name="required">
        <xsl:with-param name="value" select="$betrag"/>
        <xsl:with-param name="what">the amount due BT-115</xsl:with-param>
      </xsl:call-template>
    </xsl:variable>
    <xsl:variable name="vorgang">
      <xsl:call-template name="uuid">
        <xsl:with-param name="value" select="$vorgang-id"/>
        <xsl:with-param name="what">the Vorgang's Identifikation/ID (parameter vorgang-id)</xsl:with-param>
      </xsl:call-template>
    </xsl:variable>
    <xsl:variable name="dokument">
      <xsl:call-template name="uuid">
        <xsl:with-param name="value" select="$dokument-id"/>
        <xsl:with-param name="what">the Dokument's Identifikation/ID (parameter dokument-id)</xsl:with-param>
      </xsl:call-template>
    </xsl:variable>
    <xsl:if test="translate($vorgang, 'ABCDEF', 'abcdef') = translate($dokument, 'ABCDEF', 'abcdef')">
      <xsl:message terminate="yes">mapping '<xsl:value-of select="$mapping"/>': parameters vorgang-id and dokument-id must differ (each Schriftgutobjekt needs its own ID), both are '<xsl:value-of select="$vorgang"/>'</xsl:message>
    </xsl:if>
    <xsl:variable name="typname">
      <xsl:call-template name="rechnungsart">
        <xsl:with-param name="code" select="$typ"/>
      </xsl:call-template>
    </xsl:variable>

    <xdomea:FVDaten.SGOErstellen.0604>
      <xdomea:Kopf>
        <xdomea:ProzessID>
          <xsl:call-template name="uuid">
            <xsl:with-param name="value" select="$prozess-id"/>
            <xsl:with-param name="what">xdomea:Kopf/xdomea:ProzessID (parameter prozess-id)</xsl:with-param>
          </xsl:call-template>
        </xdomea:ProzessID>
        <xdomea:Nachrichtentyp listURI="urn:xoev-de:xdomea:codeliste:nachrichtentyp" listVersionID="2.0">
          <code>0604</code>
        </xdomea:Nachrichtentyp>
        <xdomea:Erstellungszeitpunkt>
          <xsl:choose>
            <xsl:when test="normalize-space($zeitpunkt) != ''">
              <xsl:value-of select="normalize-space($zeitpunkt)"/>
            </xsl:when>
            <xsl:otherwise>
              <xsl:value-of select="concat($bt2, 'T00:00:00')"/>
            </xsl:otherwise>
          </xsl:choose>
        </xdomea:Erstellungszeitpunkt>
        <xdomea:Absender>
          <xsl:call-template name="stadt"/>
        </xdomea:Absender>
        <xdomea:Empfaenger>
          <xsl:call-template name="stadt"/>
        </xdomea:Empfaenger>
        <xdomea:SendendesSystem>
          <xdomea:Produktname>Stadtbus</xdomea:Produktname>
        </xdomea:SendendesSystem>
        <xdomea:Hinweis>
          <xsl:value-of select="concat('Eingangsrechnung (XRechnung ', $syntax, ')')"/>
        </xdomea:Hinweis>
        <xdomea:EmpfangendesSystem>
          <xsl:if test="$dms-instanz != ''">
            <xdomea:InstanzID>
              <xsl:value-of select="$dms-instanz"/>
            </xdomea:InstanzID>
          </xsl:if>
        </xdomea:EmpfangendesSystem>
        <xdomea:Empfangsbestaetigung>false</xdomea:Empfangsbestaetigung>
        <xdomea:Importbestaetigung>1</xdomea:Importbestaetigung>
        <xdomea:Erstellerkennung>
          <xsl:call-template name="required">
            <xsl:with-param name="value" select="normalize-space($stadt-kennung)"/>
            <xsl:with-param name="what">xdomea:Kopf/xdomea:Erstellerkennung (parameter stadt-kennung)</xsl:with-param>
          </xsl:call-template>
        </xdomea:Erstellerkennung>
        <xdomea:Stapel>false</xdomea:Stapel>
      </xdomea:Kopf>
      <xdomea:SchriftgutobjektZumErstellen>
        <xdomea:FachverfahrenObjektID>
          <xsl:value-of select="$bt1"/>
          <xsl:text> (</xsl:text>
          <xsl:choose>
            <xsl:when test="$ust-id != ''">
              <xsl:value-of select="$ust-id"/>
            </xsl:when>
            <xsl:otherwise>
              <xsl:value-of select="$bt27"/>
            </xsl:otherwise>
          </xsl:choose>
          <xsl:text>)</xsl:text>
        </xdomea:FachverfahrenObjektID>
        <xdomea:Schriftgutobjekt>
          <xdomea:Vorgang>
            <xdomea:Identifikation>
              <xdomea:ID>
                <xsl:value-of select="$vorgang"/>
              </xdomea:ID>
            </xdomea:Identifikation>
            <xdomea:AllgemeineMetadaten>
              <xdomea:Betreff>
                <xsl:value-of select="concat('Rechnung ', $bt1, ' von ', $bt27)"/>
              </xdomea:Betreff>
              <xdomea:Kennzeichen>
                <xsl:value-of select="concat('Rechnung ', $bt1)"/>
              </xdomea:Kennzeichen>
              <xsl:call-template name="optional">
                <xsl:with-param name="name">xdomea:Federfuehrung</xsl:with-param>
                <xsl:with-param name="value" select="normalize-space($stadt-name)"/>
              </xsl:call-template>
            </xdomea:AllgemeineMetadaten>
            <xdomea:Typ>Eingangsrechnung</xdomea:Typ>
            <xdomea:Dokument>
              <xdomea:Identifikation>
                <xdomea:ID>
                  <xsl:value-of select="$dokument"/>
                </xdomea:ID>
              </xdomea:Identifikation>
              <xdomea:AllgemeineMetadaten>
                <xdomea:Betreff>
                  <xsl:value-of select="concat($typname, ' ', $bt1, ' von ', $bt27)"/>
                </xdomea:Betreff>
                <xdomea:Kennzeichen>
                  <xsl:value-of select="$bt1"/>
                </xdomea:Kennzeichen>
                <xdomea:Bemerkung>
                  <xsl:value-of select="concat('Zahlbetrag ', $bt115, ' ', $waehrung)"/>
                  <xsl:if test="$leitweg-id != ''">
                    <xsl:value-of select="concat(', Leitweg-ID ', $leitweg-id)"/>
                  </xsl:if>
                  <xsl:if test="$faellig != ''">
                    <xsl:value-of select="concat(', fällig am ', $faellig)"/>
                  </xsl:if>
                </xdomea:Bemerkung>
              </xdomea:AllgemeineMetadaten>
              <xdomea:FremdesGeschaeftszeichen>
                <xsl:value-of select="$bt1"/>
              </xdomea:FremdesGeschaeftszeichen>
              <xsl:if test="normalize-space($zeitpunkt) != ''">
                <xdomea:Posteingangsdatum>
                  <xsl:value-of select="substring(normalize-space($zeitpunkt), 1, 10)"/>
                </xdomea:Posteingangsdatum>
              </xsl:if>
              <xdomea:DatumDesSchreibens>
                <xsl:value-of select="$bt2"/>
              </xdomea:DatumDesSchreibens>
              <xdomea:Typ>
                <xsl:value-of select="$typname"/>
              </xdomea:Typ>
              <!-- no Version: see the header comment (the file would travel outside this message) -->
              <xdomea:Absender>
                <xsl:call-template name="verkaeufer">
                  <xsl:with-param name="name" select="$bt27"/>
                  <xsl:with-param name="strasse" select="$strasse"/>
                  <xsl:with-param name="plz" select="$plz"/>
                  <xsl:with-param name="ort" select="$ort"/>
                </xsl:call-template>
              </xdomea:Absender>
              <xdomea:AnwendungsspezifischeErweiterung>
                <xdomea:Kennung>stadtbus:xrechnung</xdomea:Kennung>
                <xdomea:Name>XRechnung-Metadaten</xdomea:Name>
                <xdomea:Beschreibung>
                  <xsl:value-of select="concat('Geschäftsbegriffe der Eingangsrechnung nach EN 16931 (XRechnung, Syntax ', $syntax, ')')"/>
                </xdomea:Beschreibung>
                <xsl:call-template name="feld">
                  <xsl:with-param name="name">Rechnungsnummer</xsl:with-param>
                  <xsl:with-param name="bt">BT-1</xsl:with-param>
                  <xsl:with-param name="wert" select="$bt1"/>
                </xsl:call-template>
                <xsl:call-template name="feld">
                  <xsl:with-param name="name">Rechnungsdatum</xsl:with-param>
                  <xsl:with-param name="bt">BT-2</xsl:with-param>
                  <xsl:with-param name="wert" select="$bt2"/>
                </xsl:call-template>
                <xsl:call-template name="feld">
                  <xsl:with-param name="name">Rechnungsart</xsl:with-param>
                  <xsl:with-param name="bt">BT-3</xsl:with-param>
                  <xsl:with-param name="wert" select="$typ"/>
                </xsl:call-template>
                <xsl:call-template name="feld">
                  <xsl:with-param name="name">Waehrung</xsl:with-param>
                  <xsl:with-param name="bt">BT-5</xsl:with-param>
                  <xsl:with-param name="wert" select="$waehrung"/>
                </xsl:call-template>
                <xsl:call-template name="feld">
                  <xsl:with-param name="name">Faelligkeitsdatum</xsl:with-param>
                  <xsl:with-param name="bt">BT-9</xsl:with-param>
                  <xsl:with-param name="wert" select="$faellig"/>
                </xsl:call-template>
                <xsl:call-template name="feld">
                  <xsl:with-param name="name">Leitweg-ID</xsl:with-param>
                  <xsl:with-param name="bt">BT-10</xsl:with-param>
                  <xsl:with-param name="wert" select="$leitweg-id"/>
                </xsl:call-template>
                <xsl:call-template name="feld">
                  <xsl:with-param name="name">Spezifikation</xsl:with-param>
                  <xsl:with-param name="bt">BT-24</xsl:with-param>
                  <xsl:with-param name="wert" select="$spezifikation"/>
                </xsl:call-template>
                <xsl:call-template name="feld">
                  <xsl:with-param name="name">Verkaeufer</xsl:with-param>
                  <xsl:with-param name="bt">BT-27</xsl:with-param>
                  <xsl:with-param name="wert" select="$bt27"/>
                </xsl:call-template>
                <xsl:call-template name="feld">
                  <xsl:with-param name="name">Umsatzsteuer-ID Verkaeufer</xsl:with-param>
                  <xsl:with-param name="bt">BT-31</xsl:with-param>
                  <xsl:with-param name="wert" select="$ust-id"/>
                </xsl:call-template>
                <xsl:call-template name="feld">
                  <xsl:with-param name="name">Zahlbetrag</xsl:with-param>
                  <xsl:with-param name="bt">BT-115</xsl:with-param>
                  <xsl:with-param name="wert" select="$bt115"/>
                </xsl:call-template>
                <xsl:call-template name="feld">
                  <xsl:with-param name="name">Syntax</xsl:with-param>
                  <xsl:with-param name="bt">ubl:Invoice oder rsm:CrossIndustryInvoice</xsl:with-param>
                  <xsl:with-param name="wert" select="$syntax"/>
                </xsl:call-template>
              </xdomea:AnwendungsspezifischeErweiterung>
            </xdomea:Dokument>
            <xdomea:Kontakt>
              <xsl:call-template name="verkaeufer">
                <xsl:with-param name="name" select="$bt27"/>
                <xsl:with-param name="strasse" select="$strasse"/>
                <xsl:with-param name="plz" select="$plz"/>
                <xsl:with-param name="ort" select="$ort"/>
              </xsl:call-template>
            </xdomea:Kontakt>
          </xdomea:Vorgang>
        </xdomea:Schriftgutobjekt>
      </xdomea:SchriftgutobjektZumErstellen>
    </xdomea:FVDaten.SGOErstellen.0604>
  </xsl:template>

  <!-- Helpers -->

  <!-- CII udt:DateTimeString: format 102 (CCYYMMDD, the only one EN 16931 allows) -> YYYY-MM-DD;
       empty stays empty, anything else stops the mapping. -->
  <xsl:template name="cii-datum">
    <xsl:param name="dts"/>
    <xsl:param name="what"/>
    <xsl:variable name="v" select="normalize-space($dts)"/>
    <xsl:if test="$v != ''">
      <xsl:if test="string($dts/@format) != '102' or string-length($v) != 8 or translate($v, '0123456789', '') != ''">
        <xsl:message terminate="yes">mapping '<xsl:value-of select="$mapping"/>': <xsl:value-of select="$what"/> must be a date in format 102 (CCYYMMDD), got '<xsl:value-of select="$v"/>' with format '<xsl:value-of select="$dts/@format"/>'</xsl:message>
      </xsl:if>
      <xsl:value-of select="concat(substring($v, 1, 4), '-', substring($v, 5, 2), '-', substring($v, 7, 2))"/>
    </xsl:if>
  </xsl:template>

  <!-- BT-3 invoice type code (UNTDID 1001, the codes XRechnung allows) -> a German name -->
  <xsl:template name="rechnungsart">
    <xsl:param name="code"/>
    <xsl:choose>
      <xsl:when test="$code = '380' or $code = ''">Rechnung</xsl:when>
      <xsl:when test="$code = '326'">Teilrechnung</xsl:when>
      <xsl:when test="$code = '381'">Gutschrift</xsl:when>
      <xsl:when test="$code = '384'">Rechnungskorrektur</xsl:when>
      <xsl:when test="$code = '389'">Selbst ausgestellte Rechnung</xsl:when>
      <xsl:when test="$code = '875'">Abschlagsrechnung (Bauleistung)</xsl:when>
      <xsl:when test="$code = '876'">Teilschlussrechnung (Bauleistung)</xsl:when>
      <xsl:when test="$code = '877'">Schlussrechnung (Bauleistung)</xsl:when>
      <xsl:otherwise>
        <xsl:value-of select="concat('Rechnung (Rechnungsart ', $code, ')')"/>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- xdomea KontaktType for the city: kennung "praefix:schluessel" split, and its name. -->
  <xsl:template name="stadt">
    <xdomea:Behoerdenkennung>
      <xsl:if test="substring-after($stadt-kennung, ':') != ''">
        <xdomea:Behoerdenschluessel>
          <code>
            <xsl:value-of select="substring-after($stadt-kennung, ':')"/>
          </code>
        </xdomea:Behoerdenschluessel>
      </xsl:if>
      <xsl:if test="substring-before($stadt-kennung, ':') != ''">
        <xdomea:Praefix>
          <code>
            <xsl:value-of select="substring-before($stadt-kennung, ':')"/>
          </code>
        </xdomea:Praefix>
      </xsl:if>
    </xdomea:Behoerdenkennung>
    <xdomea:Institution>
      <xsl:call-template name="optional">
        <xsl:with-param name="name">xdomea:Name</xsl:with-param>
        <xsl:with-param name="value" select="normalize-space($stadt-name)"/>
      </xsl:call-template>
    </xdomea:Institution>
  </xsl:template>

  <!-- xdomea KontaktType for the seller: Institution/Name and, when given, one Anschrift. -->
  <xsl:template name="verkaeufer">
    <xsl:param name="name"/>
    <xsl:param name="strasse"/>
    <xsl:param name="plz"/>
    <xsl:param name="ort"/>
    <xdomea:Institution>
      <xdomea:Name>
        <xsl:value-of select="$name"/>
      </xdomea:Name>
    </xdomea:Institution>
    <xsl:if test="concat($strasse, $plz, $ort) != ''">
      <xdomea:Anschrift>
        <xsl:call-template name="optional">
          <xsl:with-param name="name">xdomea:Strasse</xsl:with-param>
          <xsl:with-param name="value" select="$strasse"/>
        </xsl:call-template>
        <xsl:call-template name="optional">
          <xsl:with-param name="name">xdomea:Postleitzahl</xsl:with-param>
          <xsl:with-param name="value" select="$plz"/>
        </xsl:call-template>
        <xsl:call-template name="optional">
          <xsl:with-param name="name">xdomea:Ort</xsl:with-param>
          <xsl:with-param name="value" select="$ort"/>
        </xsl:call-template>
      </xdomea:Anschrift>
    </xsl:if>
  </xsl:template>

  <!-- One Feld of the AnwendungsspezifischeErweiterung, only when the value is not empty. -->
  <xsl:template name="feld">
    <xsl:param name="name"/>
    <xsl:param name="bt"/>
    <xsl:param name="wert"/>
    <xsl:if test="$wert != ''">
      <xdomea:Feld>
        <xdomea:Name>
          <xsl:value-of select="$name"/>
        </xdomea:Name>
        <xdomea:Beschreibung>
          <xsl:value-of select="$bt"/>
        </xdomea:Beschreibung>
        <xdomea:Wert>
          <xsl:value-of select="$wert"/>
        </xdomea:Wert>
      </xdomea:Feld>
    </xsl:if>
  </xsl:template>

  <!-- An element with text, only when the text is not empty. -->
  <xsl:template name="optional">
    <xsl:param name="name"/>
    <xsl:param name="value"/>
    <xsl:if test="$value != ''">
      <xsl:element name="{$name}" namespace="urn:xoev-de:xdomea:schema:3.0.0">
        <xsl:value-of select="$value"/>
      </xsl:element>
    </xsl:if>
  </xsl:template>

  <xsl:template name="required">
    <xsl:param name="value"/>
    <xsl:param name="what"/>
    <xsl:if test="$value = ''">
      <xsl:message terminate="yes">mapping '<xsl:value-of select="$mapping"/>': required value for <xsl:value-of select="$what"/> is missing</xsl:message>
    </xsl:if>
    <xsl:value-of select="$value"/>
  </xsl:template>

  <!-- A required UUID (xdomea stringUUIDType: 8-4-4-4-12 hex digits), checked here for a clear message. -->
  <xsl:template name="uuid">
    <xsl:param name="value"/>
    <xsl:param name="what"/>
    <xsl:variable name="v" select="normalize-space($value)"/>
    <xsl:if test="$v = ''">
      <xsl:message terminate="yes">mapping '<xsl:value-of select="$mapping"/>': required value for <xsl:value-of select="$what"/> is missing</xsl:message>
    </xsl:if>
    <xsl:if test="string-length($v) != 36
                  or translate($v, '0123456789abcdefABCDEF', '') != '----'
                  or substring($v, 9, 1) != '-' or substring($v, 14, 1) != '-'
                  or substring($v, 19, 1) != '-' or substring($v, 24, 1) != '-'">
      <xsl:message terminate="yes">mapping '<xsl:value-of select="$mapping"/>': <xsl:value-of select="$what"/> must be a UUID (8-4-4-4-12 hex digits), got '<xsl:value-of select="$v"/>'</xsl:message>
    </xsl:if>
    <xsl:value-of select="$v"/>
  </xsl:template>
</xsl:stylesheet>
