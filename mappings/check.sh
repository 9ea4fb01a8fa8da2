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
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mappings-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
SAMPLES="$HERE/samples"
for tool in xsltproc xmllint; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool"; exit 2; }
done
[ -f "$XDOMEA_XSD" ] && [ -f "$XBET_XSD" ] || { echo "shared XÖV material not found at $SHARED (set STADTBUS_SHARED)"; exit 2; }
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

if [ "$failures" -ne 0 ]; then
  echo; echo "$failures mapping check(s) FAILED"; exit 1
fi
echo; echo "all mapping checks passed"
