#!/usr/bin/env python3
"""Payment simulator: the city's cash and payment system (HKR / ePayBL) with XRechnung and camt.054.

In reality this is the municipal budget/cash system (Haushalts-, Kassen- und Rechnungswesen,
HKR) that receives XRechnung e-invoices for payment, plus the online payment platform (e.g.
ePayBL) through which citizens pay fees. When money is booked, the bank/cash system reports it as
an ISO 20022 camt.054 notification (BankToCustomerDebitCreditNotification).

What it does:

* ``POST /rechnungen``: accepts an XRechnung in UBL (``Invoice``, namespace
  ``urn:oasis:names:specification:ubl:schema:xsd:Invoice-2``) or CII
  (``CrossIndustryInvoice``) syntax; refuses DOCTYPEs, non-well-formed documents, other roots and
  invoices without invoice number (BT-1) or payable total (BT-115) with 400; answers 202 and,
  after ``--confirm-delay`` seconds, POSTs a camt.054.001.08 confirmation (reference = invoice
  number, amount = payable total) to ``--confirm-url``.
* ``POST /zahlungen`` JSON ``{"reference": "...", "amount": "75.00"}``: a citizen paid a fee
  online; answers 202 and POSTs a confirmation for that reference.
* ``POST /control {"emit-unknown": "REF"}``: emits a confirmation for a reference nobody knows
  (Stadtbus must dead-letter it as "unknown case REF").
* ``POST /control {"confirm-url": URL}``: sets the confirmation URL after the start (tests start
  the simulator before Stadtbus's http-in has bound a port).

Usage::

    run/venv/bin/python simulators/payment.py --port 8093 \\
        --confirm-url http://127.0.0.1:8081/eingang/zahlungen --confirm-token-file run/secrets/zahlung.token
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Optional
from xml.sax.saxutils import escape, quoteattr

from common import Response, SimulatorServer, callback_url, has_doctype, log, post_with_retries, read_token

NAME = "payment"
UBL_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
CAMT_NS = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"
NS = {
    "ubl": UBL_NS,
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "rsm": CII_NS,
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
#: The city's account the simulated bank books to (a syntactically valid German test IBAN).
CITY_IBAN = "DE02120300000000202051"
CITY_NAME = "Stadt Itzehoe Stadtkasse"


class InvoiceError(ValueError):
    """An invoice the cash system cannot take (answered with 400 and this text)."""


def parse_invoice(body: bytes) -> dict:
    """Extracts syntax, invoice number, payable amount and currency; raises InvoiceError."""
    if has_doctype(body):
        raise InvoiceError("DOCTYPE/ENTITY declarations are refused")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as error:
        raise InvoiceError(f"not well-formed XML: {error}") from None
    if root.tag == f"{{{UBL_NS}}}Invoice":
        syntax = "UBL"
        number = root.findtext("cbc:ID", "", NS).strip()
        total = root.find("cac:LegalMonetaryTotal/cbc:PayableAmount", NS)
        amount = (total.text or "").strip() if total is not None else ""
        currency = (total.get("currencyID") if total is not None else None) or \
            root.findtext("cbc:DocumentCurrencyCode", "", NS).strip()
        leitweg = root.findtext("cbc:BuyerReference", "", NS).strip()
    elif root.tag == f"{{{CII_NS}}}CrossIndustryInvoice":
        syntax = "CII"
        number = root.findtext("rsm:ExchangedDocument/ram:ID", "", NS).strip()
        settlement = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
        amount = (root.findtext(f"{settlement}/ram:SpecifiedTradeSettlementHeaderMonetarySummation/"
                                "ram:DuePayableAmount", "", NS)).strip()
        currency = root.findtext(f"{settlement}/ram:InvoiceCurrencyCode", "", NS).strip()
        leitweg = root.findtext("rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/"
                                "ram:BuyerReference", "", NS).strip()
    else:
        raise InvoiceError(f"root element {root.tag} is neither a UBL Invoice ({UBL_NS}) "
                           f"nor a CII CrossIndustryInvoice ({CII_NS})")
    if not number:
        raise InvoiceError(f"{syntax} invoice without invoice number (BT-1)")
    if not amount:
        raise InvoiceError(f"{syntax} invoice {number} without payable amount (BT-115)")
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise InvoiceError(f"{syntax} invoice {number}: payable amount {amount!r} is not a number") from None
    return {"syntax": syntax, "number": number, "amount": value, "currency": currency or "EUR",
            "leitweg": leitweg}


def camt054(reference: str, amount: Decimal, currency: str = "EUR", debtor: str = "") -> tuple[str, bytes]:
    """Builds a camt.054.001.08 credit notification for one booked payment.

    Returns (GrpHdr/MsgId, document). ``RmtInf/Ustrd`` carries the full reference; ``EndToEndId``
    (at most 35 characters) carries it too when it fits, a UUID without hyphens otherwise.
    """
    now = datetime.now(timezone.utc)
    message_id = f"CAMT054-{now:%Y%m%d}-{uuid.uuid4().hex[:12].upper()}"
    notification_id = f"NTF-{uuid.uuid4().hex[:16].upper()}"
    end_to_end = reference if len(reference) <= 35 else reference.replace("-", "")[:35]
    booked = now.strftime("%Y-%m-%d")
    formatted = f"{amount.quantize(Decimal('0.01'))}"
    debtor_xml = (f"""
              <RltdPties>
                <Dbtr><Pty><Nm>{escape(debtor)}</Nm></Pty></Dbtr>
              </RltdPties>""" if debtor else "")
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{CAMT_NS}">
  <BkToCstmrDbtCdtNtfctn>
    <GrpHdr>
      <MsgId>{message_id}</MsgId>
      <CreDtTm>{now.strftime('%Y-%m-%dT%H:%M:%S')}+00:00</CreDtTm>
    </GrpHdr>
    <Ntfctn>
      <Id>{notification_id}</Id>
      <CreDtTm>{now.strftime('%Y-%m-%dT%H:%M:%S')}+00:00</CreDtTm>
      <Acct>
        <Id><IBAN>{CITY_IBAN}</IBAN></Id>
        <Ccy>{escape(currency)}</Ccy>
        <Ownr><Nm>{CITY_NAME}</Nm></Ownr>
      </Acct>
      <Ntry>
        <Amt Ccy={quoteattr(currency)}>{formatted}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>{booked}</Dt></BookgDt>
        <ValDt><Dt>{booked}</Dt></ValDt>
        <AcctSvcrRef>{uuid.uuid4().hex[:20].upper()}</AcctSvcrRef>
        <BkTxCd>
          <Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn>
        </BkTxCd>
        <NtryDtls>
          <TxDtls>
            <Refs>
              <MsgId>{message_id}</MsgId>
              <EndToEndId>{escape(end_to_end)}</EndToEndId>
            </Refs>
            <Amt Ccy={quoteattr(currency)}>{formatted}</Amt>
            <CdtDbtInd>CRDT</CdtDbtInd>{debtor_xml}
            <RmtInf>
              <Ustrd>{escape(reference)}</Ustrd>
            </RmtInf>
          </TxDtls>
        </NtryDtls>
      </Ntry>
    </Ntfctn>
  </BkToCstmrDbtCdtNtfctn>
</Document>
"""
    return message_id, text.encode("utf-8")


class Payment:
    """The cash system: takes invoices and fee payments, confirms bookings."""

    def __init__(self, server: SimulatorServer, confirm_url: Optional[str], confirm_token: Optional[str],
                 confirm_delay: float) -> None:
        self.server = server
        self.confirm_url = confirm_url
        self.confirm_token = confirm_token
        self.confirm_delay = confirm_delay
        self.sent: list[dict] = []
        self._lock = threading.Lock()
        server.received.extra.update({"fees": 0, "confirmations-sent": 0, "confirmations-failed": 0,
                                      "confirmations": self.sent})
        server.route("POST", "/rechnungen", self.handle_invoice)
        server.route("POST", "/zahlungen", self.handle_fee)
        server.on_control(self.handle_control)

    def handle_invoice(self, headers: dict, body: bytes) -> Response:
        try:
            invoice = parse_invoice(body)
        except InvoiceError as error:
            self.server.received.record_invalid()
            log(NAME, "invoice-rejected", reason=str(error))
            return Response(400, {"error": str(error)})
        duplicate = self.server.received.record(invoice["number"])
        log(NAME, "invoice-received", number=invoice["number"], syntax=invoice["syntax"],
            amount=str(invoice["amount"]), currency=invoice["currency"], leitweg=invoice["leitweg"],
            duplicate=duplicate)
        if not duplicate:  # a cash system pays an invoice once
            self.confirm_later(invoice["number"], invoice["amount"], invoice["currency"])
        return Response(202, {"status": "accepted", "invoice": invoice["number"], "duplicate": duplicate})

    def handle_fee(self, headers: dict, body: bytes) -> Response:
        try:
            request = json.loads(body or b"{}")
            reference = str(request["reference"]).strip()
            amount = Decimal(str(request["amount"]))
            if not reference or amount <= 0:
                raise ValueError
        except (ValueError, KeyError, TypeError, InvalidOperation):
            self.server.received.record_invalid()
            return Response(400, {"error": 'expected JSON {"reference": "<non-empty>", "amount": "75.00"}'})
        self.server.received.bump("fees")
        log(NAME, "fee-paid", reference=reference, amount=str(amount))
        self.confirm_later(reference, amount, str(request.get("currency") or "EUR"),
                           debtor=str(request.get("payer") or ""))
        return Response(202, {"status": "accepted", "reference": reference})

    def handle_control(self, body: dict) -> Optional[dict]:
        """``confirm-url`` sets (or replaces) ``--confirm-url``; ``emit-unknown`` then confirms REF."""
        answer: dict = {}
        url = callback_url(body, "confirm-url")
        reference = body.get("emit-unknown")
        if reference is not None and (not isinstance(reference, str) or not reference.strip()):
            raise ValueError("emit-unknown must be a non-empty reference string")
        if url is not None:
            self.confirm_url = url
            answer["confirm-url"] = url
        if reference is not None:
            self.confirm_later(reference.strip(), Decimal("12.34"), "EUR", delay=0.0)
            answer["emit-unknown"] = reference.strip()
        return answer or None

    def confirm_later(self, reference: str, amount: Decimal, currency: str, debtor: str = "",
                      delay: Optional[float] = None) -> None:
        """Sends the camt.054 confirmation from a background thread after the delay."""
        if not self.confirm_url:
            log(NAME, "confirmation-skipped", reference=reference, reason="no --confirm-url")
            return
        wait = self.confirm_delay if delay is None else delay
        threading.Thread(target=self._confirm, args=(reference, amount, currency, debtor, wait),
                         name=f"confirm-{reference}", daemon=True).start()

    def _confirm(self, reference: str, amount: Decimal, currency: str, debtor: str, wait: float) -> None:
        time.sleep(wait)
        message_id, document = camt054(reference, amount, currency, debtor)
        result = post_with_retries(self.confirm_url, document, token=self.confirm_token)
        with self._lock:
            self.sent.append({"msgId": message_id, "reference": reference, "status": result.status})
        self.server.received.bump("confirmations-sent" if result.ok else "confirmations-failed")
        log(NAME, "confirmation-sent" if result.ok else "confirmation-failed", msgId=message_id,
            reference=reference, amount=str(amount), status=result.status, attempts=result.attempts,
            error=result.error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8093)
    parser.add_argument("--confirm-url", help="where to POST camt.054 confirmations "
                        "(e.g. http://127.0.0.1:8081/eingang/zahlungen); none without it")
    parser.add_argument("--confirm-token-file", help="bearer token for --confirm-url (run/secrets/zahlung.token)")
    parser.add_argument("--confirm-delay", type=float, default=1.0, help="seconds from receipt to booking")
    args = parser.parse_args()
    server = SimulatorServer(NAME, args.host, args.port)
    Payment(server, args.confirm_url, read_token(args.confirm_token_file), args.confirm_delay)
    server.serve_forever()


if __name__ == "__main__":
    main()
