<?xml version="1.0" encoding="UTF-8"?>
<!-- Test stylesheet: wraps the document in t:gemappt with an `ort` attribute from a parameter. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:t="urn:stadtbus:test">
  <xsl:param name="ort"/>
  <xsl:template match="/">
    <t:gemappt ort="{$ort}"><xsl:copy-of select="/*"/></t:gemappt>
  </xsl:template>
</xsl:stylesheet>
