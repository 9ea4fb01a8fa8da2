#!/usr/bin/env bash
# Checks the hand-written mappings in this folder without Stadtbus: runs each stylesheet with
# xsltproc (string parameters, --nonet, no document()) on a sample input and validates the
# output with xmllint --nonet against the real XÖV schema; also checks that wrong input and
# missing required parameters stop the mapping with the stylesheet's own message.
#
#   mappings/check.sh            the committed generated samples in mappings/samples/
#   mappings/check.sh --fresh    samples generated anew by the simulators' code (make-samples.py)
#
# Needs xsltproc, xmllint, python3 (for --fresh) and the shared XÖV material in ../shared
# (or $STADTBUS_SHARED). Exit code 0 when every check passes, 1 otherwise.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
SHARED="${STADTBUS_SHARED:-$HERE/../../shared}"
XBET_XSD="$SHARED/xoev/xbeteiligung-1.2/schemas/xbeteiligung-kommunaleBauleitplanung.xsd"
XDOMEA_XSD="$SHARED/xoev/xdomea-3.0.0/schemas/xdomea.xsd"
APPLICATION="$SHARED/xoev/xbeteiligung-1.2/examples/kommunal.Initiieren.0401.xml"
INVOICES="$SHARED/xoev/xrechnung-testsuite/examples"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mappings-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
SAMPLES="$HERE/samples"
for tool in xsltproc xmllint; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool"; exit 2; }
done
[ -f "$XDOMEA_XSD" ] && [ -f "$XBET_XSD" ] && [ -d "$INVOICES" ] || { echo "shared XÖV material not found at $SHARED (set STADTBUS_SHARED)"; exit 2; }
if [ "${1:-}" = "--fresh" ]; then
  SAMPLES="$WORK/samples"
  python3 "$HERE/samples/make-samples.py" "$SAMPLES" >/dev/null || { echo "FAIL make-samples.py"; exit 1; }
fi

failures=0
ok()   { echo "  ok   $1"; }
fail() { echo "  FAIL $1"; [ -n "${2:-}" ] && sed 's/^/         /' "$2" | head -20; failures=$((failures + 1)); }

# map NAME XSL INPUT SCHEMA [--stringparam K V]...: transform and validate
map_valid() {
  local name="$1" xsl="$2" input="$3" schema="$4"; shift 4
  if ! xsltproc --nonet --nowrite --nomkdir "$@" "$HERE/$xsl" "$input" >"$WORK/$name.xml" 2>"$WORK/$name.err"; then
    fail "$name: xsltproc failed" "$WORK/$name.err"; return
  fi
  if xmllint --noout --nonet --schema "$schema" "$WORK/$name.xml" >"$WORK/$name.val" 2>&1; then
    ok "$name: output validates against $(basename "$schema")"
  else
    fail "$name: output does not validate" "$WORK/$name.val"
  fi
}
# contains NAME TEXT: the last output contains TEXT
contains() {
  if grep -qF -- "$2" "$WORK/$1.xml"; then ok "$1: has $2"; else fail "$1: missing $2" "$WORK/$1.xml"; fi
}
# map_fails NAME XSL INPUT EXPECTED-MESSAGE [--stringparam K V]...: the mapping must stop with the message
map_fails() {
  local name="$1" xsl="$2" input="$3" expected="$4"; shift 4
  if xsltproc --nonet --nowrite --nomkdir "$@" "$HERE/$xsl" "$input" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
    fail "$name: mapping should have stopped" "$WORK/$name.out"
  elif grep -qF -- "$expected" "$WORK/$name.err"; then
    ok "$name: stops with \"$expected…\""
  else
    fail "$name: stopped without the expected message \"$expected\"" "$WORK/$name.err"
  fi
}

APP_UUID=60f6667b-fa45-4bd7-b717-f4d6c65e5edb          # nachrichtenUUID of the shared 0401 example
VORGANG=ID_3d4d41e8-0088-451e-bf88-2aaeb3eb45c9         # its vorgangsID
PLAN=ID_0f8d6117-043f-4b83-941b-e219390e7c68            # its planID

echo "beteiligung-to-xdomea.xsl (shared 0401 example)"
map_valid 0604 beteiligung-to-xdomea.xsl "$APPLICATION" "$XDOMEA_XSD" --stringparam dms-instanz itzehoe-dms
contains 0604 "<xdomea:ID>$APP_UUID</xdomea:ID>"

echo "eakte-quittung-to-portal-status.xsl ($(basename "$SAMPLES")/eakte-0102-quittung.xml)"
STATUS=(--stringparam status-uuid 7c1f3a52-9d0e-4b8a-a6f1-3e2d5c4b0411 --stringparam zeitpunkt 2026-01-02T03:04:05.678Z
        --stringparam vorgangs-id "$VORGANG" --stringparam plan-id "$PLAN"
        --stringparam portal-kennung xyz:0001 --stringparam portal-name behoerde1)
map_valid 0411 eakte-quittung-to-portal-status.xsl "$SAMPLES/eakte-0102-quittung.xml" "$XBET_XSD" "${STATUS[@]}"
contains 0411 "<code>0411</code>"
contains 0411 "<xbet:vorgangsID>$VORGANG</xbet:vorgangsID>"
contains 0411 "<xbet:beteiligungsID>$VORGANG</xbet:beteiligungsID>"
contains 0411 "<beh:kennung>ags:01061046</beh:kennung>"
map_valid 0411-defaults eakte-quittung-to-portal-status.xsl "$SAMPLES/eakte-0102-quittung.xml" "$XBET_XSD" \
  --stringparam status-uuid 7c1f3a52-9d0e-4b8a-a6f1-3e2d5c4b0411 --stringparam vorgangs-id "$APP_UUID" \
  --stringparam plan-id "$PLAN" --stringparam beteiligungs-id B-1 --stringparam portal-kennung xyz:0001 \
  --stringparam portal-name behoerde1 --stringparam stadt-kennung ags:01061017 --stringparam stadt-name Breitenburg
contains 0411-defaults "<xbet:beteiligungsID>B-1</xbet:beteiligungsID>"
map_fails 0411-wrong-input eakte-quittung-to-portal-status.xsl "$SAMPLES/camt054-gebuehr.xml" \
  "expected a source message xdomea:Information.EmpfangBestaetigen.0102" "${STATUS[@]}"
map_fails 0411-no-plan eakte-quittung-to-portal-status.xsl "$SAMPLES/eakte-0102-quittung.xml" \
  "required value for xbet:planID (parameter plan-id) is missing" \
  --stringparam status-uuid 7c1f3a52-9d0e-4b8a-a6f1-3e2d5c4b0411 --stringparam vorgangs-id "$VORGANG" \
  --stringparam portal-kennung xyz:0001 --stringparam portal-name behoerde1
map_fails 0411-bad-uuid eakte-quittung-to-portal-status.xsl "$SAMPLES/eakte-0102-quittung.xml" \
  "g2g:nachrichtenUUID (parameter status-uuid) must be a UUID" "${STATUS[@]:3}" --stringparam status-uuid not-a-uuid

echo "zahlung-to-eakte-protokoll.xsl ($(basename "$SAMPLES")/camt054-*.xml)"
map_valid 0607-gebuehr zahlung-to-eakte-protokoll.xsl "$SAMPLES/camt054-gebuehr.xml" "$XDOMEA_XSD" \
  --stringparam prozess-id 3b9e2f10-6c4d-4e8a-9f00-0a0b0c0d0607 --stringparam zeitpunkt 2026-01-02T03:04:05Z \
  --stringparam sgo-id "$APP_UUID" --stringparam kennzeichen "$PLAN" --stringparam dms-instanz itzehoe-dms
contains 0607-gebuehr "<code>0607</code>"
contains 0607-gebuehr "<xdomea:IDSGO>$APP_UUID</xdomea:IDSGO>"
contains 0607-gebuehr "Zahlung eingegangen: 75.00 EUR, gebucht am "
contains 0607-gebuehr "Verwendungszweck $APP_UUID, Vorgang $PLAN, Einzahler Erika Mustermann"
# an invoice case: only once it is filed in the eAkte with an SGO ID of its own
map_valid 0607-rechnung zahlung-to-eakte-protokoll.xsl "$SAMPLES/camt054-rechnung.xml" "$XDOMEA_XSD" \
  --stringparam prozess-id 3b9e2f10-6c4d-4e8a-9f00-0a0b0c0d0608 --stringparam sgo-id 5d7e8f90-1a2b-4c3d-8e4f-123456789abc \
  --stringparam kennzeichen "Rechnung 123456XX"
contains 0607-rechnung "Zahlung eingegangen: 336.90 EUR"
contains 0607-rechnung "Verwendungszweck 123456XX, Vorgang Rechnung 123456XX"
map_fails 0607-no-sgo zahlung-to-eakte-protokoll.xsl "$SAMPLES/camt054-rechnung.xml" \
  "required value for xdomea:IDSGO" --stringparam prozess-id 3b9e2f10-6c4d-4e8a-9f00-0a0b0c0d0608
map_fails 0607-sgo-not-uuid zahlung-to-eakte-protokoll.xsl "$SAMPLES/camt054-rechnung.xml" \
  "must be a UUID (8-4-4-4-12 hex digits), got '123456XX'" \
  --stringparam prozess-id 3b9e2f10-6c4d-4e8a-9f00-0a0b0c0d0608 --stringparam sgo-id 123456XX
map_fails 0607-wrong-input zahlung-to-eakte-protokoll.xsl "$SAMPLES/eakte-0102-quittung.xml" \
  "expected a source message camt.054.001.08" --stringparam prozess-id 3b9e2f10-6c4d-4e8a-9f00-0a0b0c0d0608 \
  --stringparam sgo-id "$APP_UUID"
sed 's|<CdtDbtInd>CRDT</CdtDbtInd>|<CdtDbtInd>DBIT</CdtDbtInd>|' "$SAMPLES/camt054-gebuehr.xml" >"$WORK/debit.xml"
map_fails 0607-debit zahlung-to-eakte-protokoll.xsl "$WORK/debit.xml" "expected a credit entry" \
  --stringparam prozess-id 3b9e2f10-6c4d-4e8a-9f00-0a0b0c0d0608 --stringparam sgo-id "$APP_UUID"

echo "rechnung-to-xdomea.xsl ($(basename "$INVOICES")/*.xml, UBL and CII)"
R_VORGANG=(--stringparam vorgang-id 5d7e8f90-1a2b-4c3d-8e4f-123456789abc)
R_DOKUMENT=(--stringparam dokument-id 6e8f9a01-2b3c-4d4e-9f50-23456789abcd)
R_PROZESS=(--stringparam prozess-id 3b9e2f10-6c4d-4e8a-9f00-0a0b0c0d0604)
RECHNUNG=("${R_VORGANG[@]}" "${R_DOKUMENT[@]}" "${R_PROZESS[@]}")
invoices=0
for invoice in "$INVOICES"/*.xml; do
  name="0604-$(basename "$invoice" .xml)"
  map_valid "$name" rechnung-to-xdomea.xsl "$invoice" "$XDOMEA_XSD" "${RECHNUNG[@]}"
  invoices=$((invoices + 1))
done
[ "$invoices" -ge 10 ] && ok "mapped $invoices invoices" || fail "expected the 10 invoices of the XRechnung test suite, found $invoices"
# the case and its Dokument, in both syntaxes (01.01a: invoice 123456XX, 336.9 EUR, Leitweg-ID 04011000-12345-03)
for syntax in ubl uncefact; do
  name="0604-01.01a-INVOICE_$syntax"
  contains "$name" "<code>0604</code>"
  contains "$name" "<xdomea:ProzessID>3b9e2f10-6c4d-4e8a-9f00-0a0b0c0d0604</xdomea:ProzessID>"
  contains "$name" "<xdomea:ID>5d7e8f90-1a2b-4c3d-8e4f-123456789abc</xdomea:ID>"
  contains "$name" "<xdomea:ID>6e8f9a01-2b3c-4d4e-9f50-23456789abcd</xdomea:ID>"
  contains "$name" "<xdomea:Kennzeichen>Rechnung 123456XX</xdomea:Kennzeichen>"
  contains "$name" "<xdomea:Betreff>Rechnung 123456XX von [Seller name]</xdomea:Betreff>"
  contains "$name" "<xdomea:Erstellungszeitpunkt>2016-04-04T00:00:00</xdomea:Erstellungszeitpunkt>"
  contains "$name" "<xdomea:DatumDesSchreibens>2016-04-04</xdomea:DatumDesSchreibens>"
  contains "$name" "<xdomea:Bemerkung>Zahlbetrag 336.9 EUR, Leitweg-ID 04011000-12345-03</xdomea:Bemerkung>"
  contains "$name" "<xdomea:Wert>04011000-12345-03</xdomea:Wert>"
  contains "$name" "<xdomea:Erstellerkennung>ags:01061046</xdomea:Erstellerkennung>"
done
# UBL and CII of the same business case give the same 0604 (but for the syntax's name)
for invoice in "$INVOICES"/*_ubl.xml; do
  case_name="$(basename "$invoice" _ubl.xml)"
  if [ -f "$WORK/0604-${case_name}_ubl.xml" ] && [ -f "$WORK/0604-${case_name}_uncefact.xml" ] &&
     diff <(sed 's/UBL/SYNTAX/' "$WORK/0604-${case_name}_ubl.xml") \
          <(sed 's/CII/SYNTAX/' "$WORK/0604-${case_name}_uncefact.xml") >"$WORK/$case_name.diff"; then
    ok "$case_name: UBL and CII give the same case"
  else
    fail "$case_name: UBL and CII give different cases" "$WORK/$case_name.diff"
  fi
done
map_valid 0604-params rechnung-to-xdomea.xsl "$INVOICES/01.02a-INVOICE_uncefact.xml" "$XDOMEA_XSD" "${RECHNUNG[@]}" \
  --stringparam zeitpunkt 2026-01-02T03:04:05Z --stringparam stadt-kennung ags:01061017 \
  --stringparam stadt-name Breitenburg --stringparam dms-instanz itzehoe-dms
contains 0604-params "<xdomea:Erstellungszeitpunkt>2026-01-02T03:04:05Z</xdomea:Erstellungszeitpunkt>"
contains 0604-params "<xdomea:Posteingangsdatum>2026-01-02</xdomea:Posteingangsdatum>"
contains 0604-params "<xdomea:InstanzID>itzehoe-dms</xdomea:InstanzID>"
contains 0604-params "<xdomea:Erstellerkennung>ags:01061017</xdomea:Erstellerkennung>"
contains 0604-params "<xdomea:Name>Breitenburg</xdomea:Name>"
# a due date (BT-9) reaches the Bemerkung (none of the examples has one), in both syntaxes
sed 's|<cbc:InvoiceTypeCode>|<cbc:DueDate>2016-05-04</cbc:DueDate><cbc:InvoiceTypeCode>|' \
  "$INVOICES/01.01a-INVOICE_ubl.xml" >"$WORK/due-ubl.xml"
map_valid 0604-due-ubl rechnung-to-xdomea.xsl "$WORK/due-ubl.xml" "$XDOMEA_XSD" "${RECHNUNG[@]}"
contains 0604-due-ubl "Leitweg-ID 04011000-12345-03, fällig am 2016-05-04</xdomea:Bemerkung>"
sed 's|</ram:Description>|</ram:Description><ram:DueDateDateTime><udt:DateTimeString format="102">20160504</udt:DateTimeString></ram:DueDateDateTime>|' \
  "$INVOICES/01.01a-INVOICE_uncefact.xml" >"$WORK/due-cii.xml"
map_valid 0604-due-cii rechnung-to-xdomea.xsl "$WORK/due-cii.xml" "$XDOMEA_XSD" "${RECHNUNG[@]}"
contains 0604-due-cii "Leitweg-ID 04011000-12345-03, fällig am 2016-05-04</xdomea:Bemerkung>"
# without BT-1 the mapping stops with its own message, in both syntaxes
sed 's|<cbc:ID>123456XX</cbc:ID>||' "$INVOICES/01.01a-INVOICE_ubl.xml" >"$WORK/no-bt1-ubl.xml"
map_fails 0604-no-bt1-ubl rechnung-to-xdomea.xsl "$WORK/no-bt1-ubl.xml" \
  "required value for the invoice number BT-1 (UBL cbc:ID) is missing" "${RECHNUNG[@]}"
sed 's|<ram:ID>123456XX</ram:ID>||' "$INVOICES/01.01a-INVOICE_uncefact.xml" >"$WORK/no-bt1-cii.xml"
map_fails 0604-no-bt1-cii rechnung-to-xdomea.xsl "$WORK/no-bt1-cii.xml" \
  "required value for the invoice number BT-1 (CII rsm:ExchangedDocument/ram:ID) is missing" "${RECHNUNG[@]}"
map_fails 0604-wrong-input rechnung-to-xdomea.xsl "$SAMPLES/camt054-rechnung.xml" \
  "expected a source message ubl:Invoice" "${RECHNUNG[@]}"
map_fails 0604-no-vorgang rechnung-to-xdomea.xsl "$INVOICES/01.01a-INVOICE_ubl.xml" \
  "required value for the Vorgang's Identifikation/ID (parameter vorgang-id) is missing" "${R_DOKUMENT[@]}" "${R_PROZESS[@]}"
map_fails 0604-vorgang-not-uuid rechnung-to-xdomea.xsl "$INVOICES/01.01a-INVOICE_ubl.xml" \
  "(parameter vorgang-id) must be a UUID (8-4-4-4-12 hex digits), got '123456XX'" "${R_DOKUMENT[@]}" "${R_PROZESS[@]}" \
  --stringparam vorgang-id 123456XX
map_fails 0604-no-prozess rechnung-to-xdomea.xsl "$INVOICES/01.01a-INVOICE_uncefact.xml" \
  "required value for xdomea:Kopf/xdomea:ProzessID (parameter prozess-id) is missing" "${R_VORGANG[@]}" "${R_DOKUMENT[@]}"
map_fails 0604-prozess-not-uuid rechnung-to-xdomea.xsl "$INVOICES/01.01a-INVOICE_uncefact.xml" \
  "(parameter prozess-id) must be a UUID" "${R_VORGANG[@]}" "${R_DOKUMENT[@]}" --stringparam prozess-id 3b9e2f10-6c4d-4e8a-9f00-0a0b0c0d060
map_fails 0604-no-dokument rechnung-to-xdomea.xsl "$INVOICES/01.01a-INVOICE_ubl.xml" \
  "required value for the Dokument's Identifikation/ID (parameter dokument-id) is missing" \
  "${R_VORGANG[@]}" "${R_PROZESS[@]}"
map_fails 0604-same-ids rechnung-to-xdomea.xsl "$INVOICES/01.01a-INVOICE_ubl.xml" \
  "parameters vorgang-id and dokument-id must differ" "${R_VORGANG[@]}" "${R_PROZESS[@]}" \
  --stringparam dokument-id 5D7E8F90-1A2B-4C3D-8E4F-123456789ABC

if [ "$failures" -ne 0 ]; then
  echo; echo "$failures mapping check(s) FAILED"; exit 1
fi
echo; echo "all mapping checks passed"
