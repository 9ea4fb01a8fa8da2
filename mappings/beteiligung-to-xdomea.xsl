<?xml version="1.0" encoding="UTF-8"?>
<!--
  XBeteiligung 1.2 kommunal.Initiieren.0401 -> xdomea 3.0.0 FVDaten.SGOErstellen.0604
  (hand-written XSLT 1.0; mappings/beteiligung-to-xdomea.yaml is the same mapping as rules,
  and the tests check that both produce byte-identical output).

  A municipality's planning system (the Fachverfahren, e.g. DiPlan Cockpit) starts a
  participation procedure for a land-use plan; we file it as a new case (Vorgang) in the
  eAkte (DMS). FVDaten.SGOErstellen.0604 is xdomea's message for "neue Schriftgutobjekte zur
  Erstellung im DMS" sent by a Fachverfahren, with the procedure's own id in
  FachverfahrenObjektID. Abgabe.Abgabe.0401 hands over existing records when responsibility
  or the system changes, which is not what happens here.

  Parameters: eingangszeit (processing time; the message's own time when empty),
  dms-instanz (EmpfangendesSystem/InstanzID, optional).
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:xdomea="urn:xoev-de:xdomea:schema:3.0.0"
    xmlns:xbet="https://www.xleitstelle.de/xbeteiligung/12"
    xmlns:g2g="http://xoev.de/schemata/basisnachricht/g2g/1_1"
    xmlns:beh="http://xoev.de/schemata/basisnachricht/behoerde/1_1"
    exclude-result-prefixes="xbet g2g beh">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:param name="eingangszeit"/>
  <xsl:param name="dms-instanz"/>

  <xsl:template match="/xbet:kommunal.Initiieren.0401">
    <xsl:variable name="kopf" select="g2g:nachrichtenkopf.g2g"/>
    <xsl:variable name="uuid" select="string($kopf/g2g:identifikation.nachricht/g2g:nachrichtenUUID)"/>
    <xsl:variable name="beteiligung" select="xbet:nachrichteninhalt/xbet:beteiligung"/>
    <xdomea:FVDaten.SGOErstellen.0604>
      <xdomea:Kopf>
        <xdomea:ProzessID>
          <xsl:call-template name="required">
            <xsl:with-param name="value" select="$uuid"/>
            <xsl:with-param name="what">xdomea:Kopf/xdomea:ProzessID (the nachrichtenUUID)</xsl:with-param>
          </xsl:call-template>
        </xdomea:ProzessID>
        <xdomea:Nachrichtentyp listURI="urn:xoev-de:xdomea:codeliste:nachrichtentyp" listVersionID="2.0">
          <code>0604</code>
        </xdomea:Nachrichtentyp>
        <xdomea:Erstellungszeitpunkt>
          <xsl:choose>
            <xsl:when test="$eingangszeit != ''">
              <xsl:value-of select="$eingangszeit"/>
            </xsl:when>
            <xsl:otherwise>
              <xsl:call-template name="required">
                <xsl:with-param name="value" select="string($kopf/g2g:identifikation.nachricht/g2g:erstellungszeitpunkt)"/>
                <xsl:with-param name="what">xdomea:Kopf/xdomea:Erstellungszeitpunkt</xsl:with-param>
              </xsl:call-template>
            </xsl:otherwise>
          </xsl:choose>
        </xdomea:Erstellungszeitpunkt>
        <xdomea:Absender>
          <xsl:apply-templates select="$kopf/g2g:autor" mode="kontakt"/>
        </xdomea:Absender>
        <xdomea:Empfaenger>
          <xsl:apply-templates select="$kopf/g2g:leser" mode="kontakt"/>
        </xdomea:Empfaenger>
        <xdomea:SendendesSystem>
          <xsl:if test="string(@produkt) != ''">
            <xdomea:Produktname>
              <xsl:value-of select="@produkt"/>
            </xdomea:Produktname>
          </xsl:if>
        </xdomea:SendendesSystem>
        <xsl:if test="string($beteiligung/xbet:verfahrensschrittKommunal/code) != ''">
          <xdomea:Hinweis>
            <xsl:call-template name="verfahrensschritt">
              <xsl:with-param name="code" select="string($beteiligung/xbet:verfahrensschrittKommunal/code)"/>
            </xsl:call-template>
          </xdomea:Hinweis>
        </xsl:if>
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
            <xsl:with-param name="value" select="string($kopf/g2g:autor/beh:kennung)"/>
            <xsl:with-param name="what">xdomea:Kopf/xdomea:Erstellerkennung (the author's kennung)</xsl:with-param>
          </xsl:call-template>
        </xdomea:Erstellerkennung>
        <xdomea:Stapel>false</xdomea:Stapel>
      </xdomea:Kopf>
      <xdomea:SchriftgutobjektZumErstellen>
        <xdomea:FachverfahrenObjektID>
          <xsl:call-template name="required">
            <xsl:with-param name="value" select="string(xbet:nachrichteninhalt/xbet:vorgangsID)"/>
            <xsl:with-param name="what">xdomea:FachverfahrenObjektID (the vorgangsID)</xsl:with-param>
          </xsl:call-template>
        </xdomea:FachverfahrenObjektID>
        <xdomea:Schriftgutobjekt>
          <xdomea:Vorgang>
            <xdomea:Identifikation>
              <xsl:if test="$uuid != ''">
                <xdomea:ID>
                  <xsl:value-of select="$uuid"/>
                </xdomea:ID>
              </xsl:if>
            </xdomea:Identifikation>
            <xdomea:AllgemeineMetadaten>
              <xdomea:Betreff>
                <xsl:call-template name="required">
                  <xsl:with-param name="value" select="string($beteiligung/xbet:planname)"/>
                  <xsl:with-param name="what">the Vorgang's Betreff (the planname)</xsl:with-param>
                </xsl:call-template>
              </xdomea:Betreff>
              <xsl:call-template name="optional">
                <xsl:with-param name="name">xdomea:Kennzeichen</xsl:with-param>
                <xsl:with-param name="value" select="string($beteiligung/xbet:planID)"/>
              </xsl:call-template>
              <xsl:call-template name="optional">
                <xsl:with-param name="name">xdomea:Federfuehrung</xsl:with-param>
                <xsl:with-param name="value" select="string($beteiligung/xbet:akteurVorhaben/xbet:veranlasser/name/name)"/>
              </xsl:call-template>
              <xsl:call-template name="optional">
                <xsl:with-param name="name">xdomea:Bemerkung</xsl:with-param>
                <xsl:with-param name="value" select="string($beteiligung/xbet:beschreibungPlanungsanlass)"/>
              </xsl:call-template>
            </xdomea:AllgemeineMetadaten>
            <xsl:call-template name="optional">
              <xsl:with-param name="name">xdomea:Aktenbetreff</xsl:with-param>
              <xsl:with-param name="value" select="string($beteiligung/xbet:arbeitstitel)"/>
            </xsl:call-template>
            <xsl:if test="string($beteiligung/xbet:planartKommunal/code) != ''">
              <xdomea:Typ>
                <xsl:call-template name="planart">
                  <xsl:with-param name="code" select="string($beteiligung/xbet:planartKommunal/code)"/>
                </xsl:call-template>
              </xdomea:Typ>
            </xsl:if>
            <!-- one Dokument per attachment (links without a file are not filed) -->
            <xsl:apply-templates select="$beteiligung/*/xbet:anlagen/anlage[anhangOderVerlinkung/xbet:anhang]"/>
          </xdomea:Vorgang>
        </xdomea:Schriftgutobjekt>
      </xdomea:SchriftgutobjektZumErstellen>
    </xdomea:FVDaten.SGOErstellen.0604>
  </xsl:template>

  <!-- Any other message type: stop with a clear message. -->
  <xsl:template match="/*" priority="-1">
    <xsl:message terminate="yes">mapping 'beteiligung-initiieren-to-xdomea-sgo-erstellen': expected a source message xbet:kommunal.Initiieren.0401, got '<xsl:value-of select="local-name()"/>' in namespace '<xsl:value-of select="namespace-uri()"/>'</xsl:message>
  </xsl:template>

  <!-- g2g autor/leser -> xdomea KontaktType; the DVDV kennung "praefix:schluessel" is split. -->
  <xsl:template match="*" mode="kontakt">
    <xdomea:Behoerdenkennung>
      <xsl:call-template name="code-element">
        <xsl:with-param name="name">xdomea:Behoerdenschluessel</xsl:with-param>
        <xsl:with-param name="code" select="substring-after(beh:kennung, ':')"/>
      </xsl:call-template>
      <xsl:call-template name="code-element">
        <xsl:with-param name="name">xdomea:Praefix</xsl:with-param>
        <xsl:with-param name="code" select="substring-before(beh:kennung, ':')"/>
      </xsl:call-template>
    </xdomea:Behoerdenkennung>
    <xdomea:Institution>
      <xsl:call-template name="optional">
        <xsl:with-param name="name">xdomea:Name</xsl:with-param>
        <xsl:with-param name="value" select="string(beh:name)"/>
      </xsl:call-template>
    </xdomea:Institution>
  </xsl:template>

  <!-- An attachment -> xdomea Dokument; its file is named "<uuid>_<file name>" as xdomea requires. -->
  <xsl:template match="anlage">
    <xsl:variable name="anhang" select="anhangOderVerlinkung/xbet:anhang"/>
    <xsl:variable name="id" select="substring-after($anhang/dokumentid, 'ID_')"/>
    <xdomea:Dokument>
      <xdomea:Identifikation>
        <xdomea:ID>
          <xsl:call-template name="required">
            <xsl:with-param name="value" select="$id"/>
            <xsl:with-param name="what">a Dokument's ID (the attachment's dokumentid)</xsl:with-param>
          </xsl:call-template>
        </xdomea:ID>
      </xdomea:Identifikation>
      <xdomea:AllgemeineMetadaten>
        <xsl:call-template name="optional">
          <xsl:with-param name="name">xdomea:Betreff</xsl:with-param>
          <xsl:with-param name="value" select="string($anhang/dateiname)"/>
        </xsl:call-template>
      </xdomea:AllgemeineMetadaten>
      <xsl:call-template name="optional">
        <xsl:with-param name="name">xdomea:DatumDesSchreibens</xsl:with-param>
        <xsl:with-param name="value" select="string(datum)"/>
      </xsl:call-template>
      <xdomea:Version>
        <xsl:call-template name="optional">
          <xsl:with-param name="name">xdomea:Nummer</xsl:with-param>
          <xsl:with-param name="value" select="string(versionsnummer)"/>
        </xsl:call-template>
        <xdomea:Format>
          <xdomea:Name listVersionID="2.0">
            <code>
              <xsl:choose>
                <xsl:when test="mimeType/code = 'application/pdf'">044</xsl:when>
                <xsl:when test="mimeType/code = 'text/plain'">045</xsl:when>
                <xsl:otherwise>
                  <xsl:message terminate="yes">mapping 'beteiligung-initiieren-to-xdomea-sgo-erstellen': value map 'mime-to-dateiformat' has no entry for '<xsl:value-of select="mimeType/code"/>' and no default</xsl:message>
                </xsl:otherwise>
              </xsl:choose>
            </code>
          </xdomea:Name>
          <xdomea:Version/>
          <xsl:call-template name="optional">
            <xsl:with-param name="name">xdomea:Primaerdokument/xdomea:Dateiname</xsl:with-param>
            <xsl:with-param name="value" select="concat($id, '_', $anhang/dateiname)"/>
          </xsl:call-template>
        </xdomea:Format>
      </xdomea:Version>
    </xdomea:Dokument>
  </xsl:template>

  <!-- Helpers -->

  <xsl:template name="required">
    <xsl:param name="value"/>
    <xsl:param name="what"/>
    <xsl:if test="$value = ''">
      <xsl:message terminate="yes">mapping 'beteiligung-initiieren-to-xdomea-sgo-erstellen': required value for <xsl:value-of select="$what"/> is missing</xsl:message>
    </xsl:if>
    <xsl:value-of select="$value"/>
  </xsl:template>

  <!-- An element (or a path of two) with text, only when the text is not empty. -->
  <xsl:template name="optional">
    <xsl:param name="name"/>
    <xsl:param name="value"/>
    <xsl:if test="$value != ''">
      <xsl:choose>
        <xsl:when test="contains($name, '/')">
          <xsl:element name="{substring-before($name, '/')}" namespace="urn:xoev-de:xdomea:schema:3.0.0">
            <xsl:element name="{substring-after($name, '/')}" namespace="urn:xoev-de:xdomea:schema:3.0.0">
              <xsl:value-of select="$value"/>
            </xsl:element>
          </xsl:element>
        </xsl:when>
        <xsl:otherwise>
          <xsl:element name="{$name}" namespace="urn:xoev-de:xdomea:schema:3.0.0">
            <xsl:value-of select="$value"/>
          </xsl:element>
        </xsl:otherwise>
      </xsl:choose>
    </xsl:if>
  </xsl:template>

  <!-- An xoev-code:Code element (unqualified code child), only when the code is not empty. -->
  <xsl:template name="code-element">
    <xsl:param name="name"/>
    <xsl:param name="code"/>
    <xsl:if test="$code != ''">
      <xsl:element name="{$name}" namespace="urn:xoev-de:xdomea:schema:3.0.0">
        <code>
          <xsl:value-of select="$code"/>
        </code>
      </xsl:element>
    </xsl:if>
  </xsl:template>

  <xsl:template name="planart">
    <xsl:param name="code"/>
    <xsl:choose>
      <xsl:when test="$code = '6_Bebauungsplan'">Bebauungsplan</xsl:when>
      <xsl:when test="$code = '6_3_EinfacherBPlan'">einfacher Bebauungsplan</xsl:when>
      <xsl:otherwise>Bauleitplan</xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- verfahrensschrittkommunal: the meanings documented in xbeteiligung-baukasten.xsd -->
  <xsl:template name="verfahrensschritt">
    <xsl:param name="code"/>
    <xsl:choose>
      <xsl:when test="$code = '2000'">Verfahrensschritt 2000: frühzeitige Behördenbeteiligung</xsl:when>
      <xsl:when test="$code = '4000'">Verfahrensschritt 4000: frühzeitige Öffentlichkeitsbeteiligung</xsl:when>
      <xsl:when test="$code = '5000'">Verfahrensschritt 5000: Beteiligung der Träger öffentlicher Belange</xsl:when>
      <xsl:when test="$code = '6000'">Verfahrensschritt 6000: digitale Veröffentlichung</xsl:when>
      <xsl:otherwise>Verfahrensschritt laut Fachverfahren</xsl:otherwise>
    </xsl:choose>
  </xsl:template>
</xsl:stylesheet>
