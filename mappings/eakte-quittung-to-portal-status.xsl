<?xml version="1.0" encoding="UTF-8"?>
<!--
  xdomea 3.0.0 Information.EmpfangBestaetigen.0102 -> XBeteiligung 1.2 kommunal.Initiieren.OK.0411
  (hand-written XSLT 1.0, flow 2 of /work/notes/flows.md).

  Purpose: the eAkte confirmed that it received the case Stadtbus filed for a portal application
  (FVDaten.SGOErstellen.0604, made by beteiligung-to-xdomea.xsl); the portal learns this as the
  positive acknowledgement of its kommunal.Initiieren.0401.

  Input:  xdomea:Information.EmpfangBestaetigen.0102 (urn:xoev-de:xdomea:schema:3.0.0), as sent by
          the eAkte (simulators/eakte.py acknowledgement()). Only its Kopf/ProzessID and
          Erstellungszeitpunkt are read: an acknowledgement carries nothing about the application,
          so everything the 0411 needs comes from the case Stadtbus registered when it filed the
          0604 (case key = Kopf/ProzessID = the 0401's nachrichtenUUID), passed in as parameters.
          Any other root element stops the mapping with a clear message.
  Output: xbet:kommunal.Initiieren.OK.0411 (https://www.xleitstelle.de/xbeteiligung/12) with a
          qualified g2g header (http://xoev.de/schemata/basisnachricht/g2g/1_1) shaped like the
          shared example kommunal.Initiieren.0401.xml; valid against
          xbeteiligung-kommunaleBauleitplanung.xsd (mappings/check.sh checks it).
          autor = the city (Stadtbus writes on its behalf), leser = the portal (the 0401's autor).
          nachrichteninhalt (Nachrichteninhalt.template.OK) =
            vorgangsID     = $vorgangs-id     (XBeteiligung: "the vorgangsID of the original message")
            planID         = $plan-id
            beteiligungsID = $beteiligungs-id, or $vorgangs-id when empty (a 0401 has no beteiligungsID)

  Parameters (all strings; the required ones stop the mapping with a message when empty):
    status-uuid      required  the 0411's own nachrichtenUUID (a fresh UUID given by Stadtbus)
    zeitpunkt        optional  erstellungszeitpunkt (xs:dateTime); empty: the 0102's Erstellungszeitpunkt
    vorgangs-id      required  the 0401's nachrichteninhalt/vorgangsID (registered with the case)
    plan-id          required  the 0401's beteiligung/planID (registered with the case)
    beteiligungs-id  optional  falls back to vorgangs-id
    portal-kennung   required  the 0401's autor/kennung (e.g. xyz:0001), becomes the leser
    portal-name      required  the 0401's autor/name, becomes the leser's name
    stadt-kennung    default ags:01061046   the autor's kennung
    stadt-name       default Stadt Itzehoe  the autor's name

  How the portal links the status to its application: by vorgangsID. The portal simulator gives
  every application the vorgangsID "ID_<nachrichtenUUID of the 0401>" (simulators/portal.py), so the
  standard's own correlation field leads back to the application; a bare nachrichtenUUID there
  is understood too.

  Use in config/itzehoe.yaml (route from the eAkte acknowledgement endpoint, after the case
  lookup by xpath /xdomea:Information.EmpfangBestaetigen.0102/xdomea:Kopf/xdomea:ProzessID):
      - map:
          xslt: ${mappings}/eakte-quittung-to-portal-status.xsl
          parameters:
            status-uuid: "{uuid}"                    # however Stadtbus spells a fresh UUID
            zeitpunkt: "{now}"
            vorgangs-id: "{case.vorgangsID}"
            plan-id: "{case.planID}"
            portal-kennung: "{case.portalKennung}"
            portal-name: "{case.portalName}"
      - validate: { schema: xbeteiligung }
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:xdomea="urn:xoev-de:xdomea:schema:3.0.0"
    xmlns:xbet="https://www.xleitstelle.de/xbeteiligung/12"
    xmlns:g2g="http://xoev.de/schemata/basisnachricht/g2g/1_1"
    xmlns:beh="http://xoev.de/schemata/basisnachricht/behoerde/1_1"
    exclude-result-prefixes="xdomea">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:param name="status-uuid"/>
  <xsl:param name="zeitpunkt"/>
  <xsl:param name="vorgangs-id"/>
  <xsl:param name="plan-id"/>
  <xsl:param name="beteiligungs-id"/>
  <xsl:param name="portal-kennung"/>
  <xsl:param name="portal-name"/>
  <xsl:param name="stadt-kennung" select="'ags:01061046'"/>
  <xsl:param name="stadt-name" select="'Stadt Itzehoe'"/>

  <xsl:variable name="mapping">eakte-empfangsbestaetigung-to-kommunal-initiieren-ok</xsl:variable>

  <xsl:template match="/xdomea:Information.EmpfangBestaetigen.0102">
    <xbet:kommunal.Initiieren.OK.0411 produkt="Stadtbus" produkthersteller="Stadt Itzehoe"
        standard="XBeteiligung" version="1.2">
      <g2g:nachrichtenkopf.g2g>
        <g2g:identifikation.nachricht>
          <g2g:nachrichtenUUID>
            <xsl:call-template name="uuid">
              <xsl:with-param name="value" select="$status-uuid"/>
              <xsl:with-param name="what">g2g:nachrichtenUUID (parameter status-uuid)</xsl:with-param>
            </xsl:call-template>
          </g2g:nachrichtenUUID>
          <g2g:nachrichtentyp listURI="urn:xoev-de:xleitstelle:codeliste:xbeteiligung-nachrichten" listVersionID="1.2">
            <code>0411</code>
            <name>kommunal.Initiieren.OK.0411</name>
          </g2g:nachrichtentyp>
          <g2g:erstellungszeitpunkt>
            <xsl:choose>
              <xsl:when test="$zeitpunkt != ''">
                <xsl:value-of select="$zeitpunkt"/>
              </xsl:when>
              <xsl:otherwise>
                <xsl:call-template name="required">
                  <xsl:with-param name="value" select="normalize-space(xdomea:Kopf/xdomea:Erstellungszeitpunkt)"/>
                  <xsl:with-param name="what">g2g:erstellungszeitpunkt (parameter zeitpunkt, or the 0102's Erstellungszeitpunkt)</xsl:with-param>
                </xsl:call-template>
              </xsl:otherwise>
            </xsl:choose>
          </g2g:erstellungszeitpunkt>
        </g2g:identifikation.nachricht>
        <g2g:leser>
          <xsl:call-template name="behoerde">
            <xsl:with-param name="kennung" select="$portal-kennung"/>
            <xsl:with-param name="name" select="$portal-name"/>
            <xsl:with-param name="what">g2g:leser (parameters portal-kennung, portal-name)</xsl:with-param>
          </xsl:call-template>
        </g2g:leser>
        <g2g:autor>
          <xsl:call-template name="behoerde">
            <xsl:with-param name="kennung" select="$stadt-kennung"/>
            <xsl:with-param name="name" select="$stadt-name"/>
            <xsl:with-param name="what">g2g:autor (parameters stadt-kennung, stadt-name)</xsl:with-param>
          </xsl:call-template>
        </g2g:autor>
      </g2g:nachrichtenkopf.g2g>
      <xbet:nachrichteninhalt>
        <xbet:vorgangsID>
          <xsl:call-template name="required">
            <xsl:with-param name="value" select="normalize-space($vorgangs-id)"/>
            <xsl:with-param name="what">xbet:vorgangsID (parameter vorgangs-id)</xsl:with-param>
          </xsl:call-template>
        </xbet:vorgangsID>
        <xbet:planID>
          <xsl:call-template name="required">
            <xsl:with-param name="value" select="normalize-space($plan-id)"/>
            <xsl:with-param name="what">xbet:planID (parameter plan-id)</xsl:with-param>
          </xsl:call-template>
        </xbet:planID>
        <xbet:beteiligungsID>
          <xsl:choose>
            <xsl:when test="normalize-space($beteiligungs-id) != ''">
              <xsl:value-of select="normalize-space($beteiligungs-id)"/>
            </xsl:when>
            <xsl:otherwise>
              <xsl:value-of select="normalize-space($vorgangs-id)"/>
            </xsl:otherwise>
          </xsl:choose>
        </xbet:beteiligungsID>
      </xbet:nachrichteninhalt>
    </xbet:kommunal.Initiieren.OK.0411>
  </xsl:template>

  <!-- Any other message type: stop with a clear message. -->
  <xsl:template match="/*" priority="-1">
    <xsl:message terminate="yes">mapping '<xsl:value-of select="$mapping"/>': expected a source message xdomea:Information.EmpfangBestaetigen.0102, got '<xsl:value-of select="local-name()"/>' in namespace '<xsl:value-of select="namespace-uri()"/>'</xsl:message>
  </xsl:template>

  <!-- Helpers -->

  <!-- bn-beh:BehoerdeType: verzeichnisdienst DVDV, kennung, name (all required by the schema). -->
  <xsl:template name="behoerde">
    <xsl:param name="kennung"/>
    <xsl:param name="name"/>
    <xsl:param name="what"/>
    <beh:verzeichnisdienst listURI="urn:xoev-de:kosit:codeliste:verzeichnisdienst" listVersionID="3">
      <code>DVDV</code>
    </beh:verzeichnisdienst>
    <beh:kennung>
      <xsl:call-template name="required">
        <xsl:with-param name="value" select="normalize-space($kennung)"/>
        <xsl:with-param name="what" select="concat($what, ': kennung')"/>
      </xsl:call-template>
    </beh:kennung>
    <beh:name>
      <xsl:call-template name="required">
        <xsl:with-param name="value" select="normalize-space($name)"/>
        <xsl:with-param name="what" select="concat($what, ': name')"/>
      </xsl:call-template>
    </beh:name>
  </xsl:template>

  <xsl:template name="required">
    <xsl:param name="value"/>
    <xsl:param name="what"/>
    <xsl:if test="$value = ''">
      <xsl:message terminate="yes">mapping '<xsl:value-of select="$mapping"/>': required value for <xsl:value-of select="$what"/> is missing</xsl:message>
    </xsl:if>
    <xsl:value-of select="$value"/>
  </xsl:template>

  <!-- A required RFC 4122 UUID (8-4-4-4-12 hex digits), checked here for a clear message. -->
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
