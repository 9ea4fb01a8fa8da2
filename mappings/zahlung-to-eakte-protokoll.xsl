<?xml version="1.0" encoding="UTF-8"?>
<!--
  ISO 20022 camt.054.001.08 payment confirmation -> xdomea 3.0.0 FVDaten.ProtokolleintragErstellen.0607
  (hand-written XSLT 1.0, flow 3 of /work/notes/flows.md).

  Purpose: the cash system booked a payment (a portal application's fee, or an XRechnung invoice);
  the case's record object in the eAkte gets a log entry "Zahlung eingegangen: …". 0607 is
  xdomea's message for "Protokolleintrag zu einem Objekt im DMS erstellen"; it addresses the
  object only by its SGO ID (ProtokolleintragZumErstellen/IDSGO, a required UUID: there is no
  way to address it by Aktenzeichen or Kennzeichen), so the case must already be filed.
  beteiligung-to-xdomea.xsl files a portal application as a Vorgang whose
  Identifikation/ID is the 0401's nachrichtenUUID, which is therefore the SGO ID to log against.

  Input:  camt.054.001.08 Document (urn:iso:std:iso:20022:tech:xsd:camt.054.001.08) as sent by
          simulators/payment.py camt054(): exactly one Ntfctn/Ntry/NtryDtls/TxDtls (Stadtbus
          correlates one reference, RmtInf/Ustrd, per message), a credit (CdtDbtInd CRDT) that is
          booked (Sts/Cd BOOK). Anything else stops the mapping with a clear message.
  Output: xdomea:FVDaten.ProtokolleintragErstellen.0607, valid against xdomea.xsd 3.0.0
          (mappings/check.sh checks it), with one ProtokolleintragZumErstellen:
            IDSGO                        = $sgo-id
            Protokolleintrag/Bearbeiter  = $bearbeiter
            Protokolleintrag/Datum       = the booking date (Ntry/BookgDt/Dt or the date of BookgDt/DtTm)
            Protokolleintrag/Notiz       = "Zahlung eingegangen: <amount> <currency>, gebucht am <date>,
                                            Verwendungszweck <Ustrd>[, Vorgang <kennzeichen>]
                                            [, Einzahler <Dbtr name>] (camt.054 <GrpHdr/MsgId>, <AcctSvcrRef>)"
          Kopf: Absender = the city's cash office (Acct/Ownr/Nm, else $stadt-name), Empfaenger =
          the city (its DMS), both with Behoerdenkennung $stadt-kennung split at ':'.

  Parameters (all strings; the required ones stop the mapping with a message when empty):
    prozess-id    required  Kopf/ProzessID of the new message (a fresh UUID given by Stadtbus;
                            with Nachrichtentyp 0607 it is the message's xdomea identity)
    zeitpunkt     optional  Kopf/Erstellungszeitpunkt (xs:dateTime); empty: the camt's GrpHdr/CreDtTm
    sgo-id        required  the SGO ID of the case's record object in the eAkte (UUID), registered
                            with the case when it was filed (0604 Vorgang/Identifikation/ID)
    kennzeichen   optional  the case's human reference (planID, invoice number, Aktenzeichen), in the Notiz
    bearbeiter    default "Stadtbus (Zahlungseingang Stadtkasse)"
    stadt-kennung default ags:01061046
    stadt-name    default Stadt Itzehoe
    dms-instanz   optional  Kopf/EmpfangendesSystem/InstanzID (as in beteiligung-to-xdomea.xsl)

  Use in config/itzehoe.yaml (route from the payment endpoint, after the case lookup by
  xpath /c:Document/c:BkToCstmrDbtCdtNtfctn/c:Ntfctn/c:Ntry/c:NtryDtls/c:TxDtls/c:RmtInf/c:Ustrd):
      - map:
          xslt: ${mappings}/zahlung-to-eakte-protokoll.xsl
          parameters:
            prozess-id: "{uuid}"                     # however Stadtbus spells a fresh UUID
            zeitpunkt: "{now}"
            sgo-id: "{case.sgoID}"
            kennzeichen: "{case.kennzeichen}"
            dms-instanz: itzehoe-dms
      - validate: { schema: xdomea }
      - sign: { key: itzehoe }
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:xdomea="urn:xoev-de:xdomea:schema:3.0.0"
    xmlns:c="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"
    exclude-result-prefixes="c">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:param name="prozess-id"/>
  <xsl:param name="zeitpunkt"/>
  <xsl:param name="sgo-id"/>
  <xsl:param name="kennzeichen"/>
  <xsl:param name="bearbeiter" select="'Stadtbus (Zahlungseingang Stadtkasse)'"/>
  <xsl:param name="stadt-kennung" select="'ags:01061046'"/>
  <xsl:param name="stadt-name" select="'Stadt Itzehoe'"/>
  <xsl:param name="dms-instanz"/>

  <xsl:variable name="mapping">camt054-zahlung-to-xdomea-protokolleintrag</xsl:variable>

  <xsl:template match="/c:Document[c:BkToCstmrDbtCdtNtfctn]">
    <xsl:variable name="ntfctn" select="c:BkToCstmrDbtCdtNtfctn/c:Ntfctn"/>
    <xsl:variable name="tx" select="$ntfctn/c:Ntry/c:NtryDtls/c:TxDtls"/>
    <xsl:if test="count($tx) != 1">
      <xsl:message terminate="yes">mapping '<xsl:value-of select="$mapping"/>': expected exactly one Ntfctn/Ntry/NtryDtls/TxDtls (one payment per confirmation), got <xsl:value-of select="count($tx)"/></xsl:message>
    </xsl:if>
    <xsl:variable name="ntry" select="$tx/../.."/>
    <xsl:if test="normalize-space($ntry/c:CdtDbtInd) != 'CRDT'">
      <xsl:message terminate="yes">mapping '<xsl:value-of select="$mapping"/>': expected a credit entry (Ntry/CdtDbtInd CRDT), got '<xsl:value-of select="normalize-space($ntry/c:CdtDbtInd)"/>'</xsl:message>
    </xsl:if>
    <xsl:if test="normalize-space($ntry/c:Sts/c:Cd) != 'BOOK'">
      <xsl:message terminate="yes">mapping '<xsl:value-of select="$mapping"/>': expected a booked entry (Ntry/Sts/Cd BOOK), got '<xsl:value-of select="normalize-space($ntry/c:Sts/c:Cd)"/>'</xsl:message>
    </xsl:if>
    <!-- the transaction's amount; the entry's when the transaction has none -->
    <xsl:variable name="amt" select="($tx/c:Amt | $ntry[not($tx/c:Amt)]/c:Amt)[1]"/>
    <xsl:variable name="booked">
      <xsl:choose>
        <xsl:when test="normalize-space($ntry/c:BookgDt/c:Dt) != ''">
          <xsl:value-of select="normalize-space($ntry/c:BookgDt/c:Dt)"/>
        </xsl:when>
        <xsl:otherwise>
          <xsl:value-of select="substring(normalize-space($ntry/c:BookgDt/c:DtTm), 1, 10)"/>
        </xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <xsl:variable name="reference" select="normalize-space($tx/c:RmtInf/c:Ustrd)"/>
    <xsl:variable name="msgid" select="normalize-space(c:BkToCstmrDbtCdtNtfctn/c:GrpHdr/c:MsgId)"/>

    <xdomea:FVDaten.ProtokolleintragErstellen.0607>
      <xdomea:Kopf>
        <xdomea:ProzessID>
          <xsl:call-template name="uuid">
            <xsl:with-param name="value" select="$prozess-id"/>
            <xsl:with-param name="what">xdomea:Kopf/xdomea:ProzessID (parameter prozess-id)</xsl:with-param>
          </xsl:call-template>
        </xdomea:ProzessID>
        <xdomea:Nachrichtentyp listURI="urn:xoev-de:xdomea:codeliste:nachrichtentyp" listVersionID="2.0">
          <code>0607</code>
        </xdomea:Nachrichtentyp>
        <xdomea:Erstellungszeitpunkt>
          <xsl:choose>
            <xsl:when test="$zeitpunkt != ''">
              <xsl:value-of select="$zeitpunkt"/>
            </xsl:when>
            <xsl:otherwise>
              <xsl:call-template name="required">
                <xsl:with-param name="value" select="normalize-space(c:BkToCstmrDbtCdtNtfctn/c:GrpHdr/c:CreDtTm)"/>
                <xsl:with-param name="what">xdomea:Kopf/xdomea:Erstellungszeitpunkt (parameter zeitpunkt, or GrpHdr/CreDtTm)</xsl:with-param>
              </xsl:call-template>
            </xsl:otherwise>
          </xsl:choose>
        </xdomea:Erstellungszeitpunkt>
        <xdomea:Absender>
          <xsl:call-template name="kontakt">
            <xsl:with-param name="name">
              <xsl:choose>
                <xsl:when test="normalize-space($ntfctn/c:Acct/c:Ownr/c:Nm) != ''">
                  <xsl:value-of select="normalize-space($ntfctn/c:Acct/c:Ownr/c:Nm)"/>
                </xsl:when>
                <xsl:otherwise>
                  <xsl:value-of select="$stadt-name"/>
                </xsl:otherwise>
              </xsl:choose>
            </xsl:with-param>
          </xsl:call-template>
        </xdomea:Absender>
        <xdomea:Empfaenger>
          <xsl:call-template name="kontakt">
            <xsl:with-param name="name" select="$stadt-name"/>
          </xsl:call-template>
        </xdomea:Empfaenger>
        <xdomea:SendendesSystem>
          <xdomea:Produktname>Stadtbus</xdomea:Produktname>
        </xdomea:SendendesSystem>
        <xdomea:Hinweis>
          <xsl:text>Zahlungseingang laut camt.054 </xsl:text>
          <xsl:value-of select="$msgid"/>
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
      <xdomea:ProtokolleintragZumErstellen>
        <xdomea:IDSGO>
          <xsl:call-template name="uuid">
            <xsl:with-param name="value" select="$sgo-id"/>
            <xsl:with-param name="what">xdomea:IDSGO (parameter sgo-id: the SGO ID the case was filed with)</xsl:with-param>
          </xsl:call-template>
        </xdomea:IDSGO>
        <xdomea:Protokolleintrag>
          <xdomea:Bearbeiter>
            <xsl:call-template name="required">
              <xsl:with-param name="value" select="normalize-space($bearbeiter)"/>
              <xsl:with-param name="what">xdomea:Protokolleintrag/xdomea:Bearbeiter (parameter bearbeiter)</xsl:with-param>
            </xsl:call-template>
          </xdomea:Bearbeiter>
          <xdomea:Datum>
            <xsl:call-template name="required">
              <xsl:with-param name="value" select="$booked"/>
              <xsl:with-param name="what">xdomea:Protokolleintrag/xdomea:Datum (the booking date Ntry/BookgDt)</xsl:with-param>
            </xsl:call-template>
          </xdomea:Datum>
          <xdomea:Notiz>
            <xsl:text>Zahlung eingegangen: </xsl:text>
            <xsl:call-template name="required">
              <xsl:with-param name="value" select="normalize-space($amt)"/>
              <xsl:with-param name="what">the amount (TxDtls/Amt or Ntry/Amt)</xsl:with-param>
            </xsl:call-template>
            <xsl:text> </xsl:text>
            <xsl:call-template name="required">
              <xsl:with-param name="value" select="normalize-space($amt/@Ccy)"/>
              <xsl:with-param name="what">the currency (Amt/@Ccy)</xsl:with-param>
            </xsl:call-template>
            <xsl:text>, gebucht am </xsl:text>
            <xsl:value-of select="$booked"/>
            <xsl:text>, Verwendungszweck </xsl:text>
            <xsl:call-template name="required">
              <xsl:with-param name="value" select="$reference"/>
              <xsl:with-param name="what">the remittance reference (TxDtls/RmtInf/Ustrd)</xsl:with-param>
            </xsl:call-template>
            <xsl:if test="normalize-space($kennzeichen) != ''">
              <xsl:text>, Vorgang </xsl:text>
              <xsl:value-of select="normalize-space($kennzeichen)"/>
            </xsl:if>
            <xsl:if test="normalize-space($tx/c:RltdPties/c:Dbtr/c:Pty/c:Nm) != ''">
              <xsl:text>, Einzahler </xsl:text>
              <xsl:value-of select="normalize-space($tx/c:RltdPties/c:Dbtr/c:Pty/c:Nm)"/>
            </xsl:if>
            <xsl:text> (camt.054 </xsl:text>
            <xsl:value-of select="$msgid"/>
            <xsl:if test="normalize-space($ntry/c:AcctSvcrRef) != ''">
              <xsl:text>, Buchungsreferenz </xsl:text>
              <xsl:value-of select="normalize-space($ntry/c:AcctSvcrRef)"/>
            </xsl:if>
            <xsl:text>)</xsl:text>
          </xdomea:Notiz>
        </xdomea:Protokolleintrag>
      </xdomea:ProtokolleintragZumErstellen>
    </xdomea:FVDaten.ProtokolleintragErstellen.0607>
  </xsl:template>

  <!-- Any other message type: stop with a clear message. -->
  <xsl:template match="/*" priority="-1">
    <xsl:message terminate="yes">mapping '<xsl:value-of select="$mapping"/>': expected a source message camt.054.001.08 Document/BkToCstmrDbtCdtNtfctn, got '<xsl:value-of select="local-name()"/>' in namespace '<xsl:value-of select="namespace-uri()"/>'</xsl:message>
  </xsl:template>

  <!-- Helpers -->

  <!-- xdomea KontaktType: the city's kennung "praefix:schluessel" split, and an institution name. -->
  <xsl:template name="kontakt">
    <xsl:param name="name"/>
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
      <xsl:if test="normalize-space($name) != ''">
        <xdomea:Name>
          <xsl:value-of select="normalize-space($name)"/>
        </xdomea:Name>
      </xsl:if>
    </xdomea:Institution>
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
