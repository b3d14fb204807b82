#!/usr/bin/env python3
"""Generate the bundled DMARC aggregate-report samples for dmarc-report.

Run:  python3 tools/generate_samples.py

The output is deterministic: every random choice comes from a
random.Random seeded with a fixed string per report, gzip members have
mtime=0, zip entries have a fixed date_time and every email Date is
derived from the report period.  Only the Python standard library is used.

What it does, in order:
  1. deletes its previous outputs in sample-reports/ (which holds nothing
     else, so that `dmarc-report ingest sample-reports` sees only inputs);
  2. builds the 30-day story (2026-10-20 .. 2026-11-18) for example.com and
     example.org as seen by each reporter, renders every report in the
     reporter's own XML shape and packs it the way that reporter sends it;
  3. writes the quirk samples, the mixed containers (mbox, Maildir,
     forwarded email, two-attachment email) and the malformed samples;
  4. writes tests/data/samples-expected.json (what an independent reader
     should find in every file);
  5. re-reads everything it wrote with a small independent reader, checks
     that gzip/zip members open and XML is well formed, that the re-read
     totals equal the model, and prints a summary table.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import mailbox
import random
import re
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy as email_policy
from pathlib import Path
from xml.dom import minidom
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape as xml_escape

REPO = Path(__file__).resolve().parent.parent
HERE = REPO / "sample-reports"
EXPECTED_FILE = REPO / "tests" / "data" / "samples-expected.json"
SEED = "dmarc-report/sample-reports/v1"
UTC = timezone.utc
DAY = 86400
D0 = int(datetime(2026, 10, 20, tzinfo=UTC).timestamp())  # 1792454400, a Tuesday
NDAYS = 30

DOMAIN_A = "example.com"
DOMAIN_B = "example.org"

# Published DMARC records (as the story goes):
#   example.com: v=DMARC1; p=none; sp=none; adkim=r; aspf=r; pct=100; fo=1;
#                rua=mailto:dmarc@example.com   (t=y added on 2026-11-17)
#   example.org: v=DMARC1; p=none; rua=mailto:dmarc@example.org
POLICY = {
    DOMAIN_A: {"adkim": "r", "aspf": "r", "p": "none", "sp": "none", "np": "none",
               "pct": "100", "fo": "1", "testing": "n", "discovery_method": "treewalk"},
    DOMAIN_B: {"adkim": "r", "aspf": "r", "p": "none", "sp": "none", "np": "none",
               "pct": "100", "fo": "0", "testing": "n", "discovery_method": "treewalk"},
}
T_Y_FROM_DAY = 28  # example.com adds t=y on 2026-11-17 (only the RFC 9990 reporter shows it)

# Microsoft really ends its periods at the next midnight (end = begin + 86400);
# every other reporter uses begin + 86399.
MICROSOFT_END_IS_NEXT_MIDNIGHT = True

PROTECTED_SUFFIXES = (".golden", ".golden.json")
PROTECTED_NAMES: set = set()  # sample-reports/ holds generated inputs only


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def rng_for(*parts) -> random.Random:
    return random.Random("|".join([SEED] + [str(p) for p in parts]))


def org_domain(d: str) -> str:
    labels = d.lower().strip(".").split(".")
    return ".".join(labels[-2:])


def day_start(day: int) -> int:
    return D0 + day * DAY


def weekday(day: int) -> int:
    """0=Monday .. 6=Sunday."""
    return datetime.fromtimestamp(day_start(day), UTC).weekday()


WEEKDAY_FACTOR = [1.0, 1.05, 1.0, 1.0, 0.9, 0.35, 0.3]


def split(total: int, parts: int, rng: random.Random) -> list[int]:
    """Split total into `parts` positive integers (uneven, like real IP pools)."""
    if total <= 0:
        return []
    parts = max(1, min(parts, total))
    weights = [rng.random() ** 2 + 0.08 for _ in range(parts)]
    s = sum(weights)
    counts = [max(1, int(total * w / s)) for w in weights]
    diff = total - sum(counts)
    i = 0
    while diff != 0:
        j = i % parts
        if diff > 0:
            counts[j] += 1
            diff -= 1
        elif counts[j] > 1:
            counts[j] -= 1
            diff += 1
        i += 1
    return counts


def hexid(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def uuid_like(rng: random.Random) -> str:
    h = hexid(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


DOW = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MON = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _nth_sunday(year: int, month: int, n: int) -> datetime:
    d = datetime(year, month, 1, tzinfo=UTC)
    d += timedelta(days=(6 - d.weekday()) % 7)
    return d + timedelta(weeks=n - 1)


def us_offset(ts: int, std_hours: int) -> int:
    """UTC offset (hours) of a US zone with standard offset std_hours."""
    y = datetime.fromtimestamp(ts, UTC).year
    start = _nth_sunday(y, 3, 2) + timedelta(hours=2 - std_hours)
    end = _nth_sunday(y, 11, 1) + timedelta(hours=2 - (std_hours + 1))
    return std_hours + 1 if start.timestamp() <= ts < end.timestamp() else std_hours


def pacific(ts: int) -> int:
    return us_offset(ts, -8)


def eastern(ts: int) -> int:
    return us_offset(ts, -5)


def rfc2822(ts: int, offset_hours: int = 0, pad_day: bool = True) -> str:
    t = datetime.fromtimestamp(ts, UTC) + timedelta(hours=offset_hours)
    day = f"{t.day:02d}" if pad_day else str(t.day)
    sign = "+" if offset_hours >= 0 else "-"
    off = f"{sign}{abs(offset_hours):02d}00"
    return f"{DOW[t.weekday()]}, {day} {MON[t.month - 1]} {t.year} {t:%H:%M:%S} {off}"


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def make_zip(inner_name: str, data: bytes, ts: int) -> bytes:
    buf = io.BytesIO()
    t = datetime.fromtimestamp(ts, UTC)
    with zipfile.ZipFile(buf, "w") as zf:
        zi = zipfile.ZipInfo(inner_name, date_time=(t.year, t.month, t.day, t.hour, t.minute, t.second))
        zi.compress_type = zipfile.ZIP_DEFLATED
        zi.create_system = 0
        zi.external_attr = 0
        zf.writestr(zi, data)
    return buf.getvalue()


def crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("ascii")


def lf(text: str) -> bytes:
    return text.encode("ascii")


# --------------------------------------------------------------------------
# IP pools (real provider ranges for the legitimate senders, documentation
# ranges RFC 5737 / RFC 3849 for forwarders and spoofers)
# --------------------------------------------------------------------------

def _pools():
    r = rng_for("pools")
    google = sorted({f"209.85.{r.randint(128, 223)}.{r.randint(1, 254)}" for _ in range(26)})
    google += sorted({f"209.85.220.{r.randint(1, 254)}" for _ in range(12)})
    ses = sorted({f"54.240.{r.choice([0, 2, 3, 8, 9, 10, 11, 27, 48, 60])}.{r.randint(1, 254)}"
                  for _ in range(10)})
    m365 = sorted({f"40.107.{r.choice([20, 22, 92, 93, 94, 100, 101, 220, 223, 236, 237, 243, 244])}."
                   f"{r.randint(1, 254)}" for _ in range(28)})
    m365 += sorted({f"52.100.{r.randint(156, 175)}.{r.randint(1, 254)}" for _ in range(10)})
    sendgrid = sorted({f"167.89.{r.randint(100, 127)}.{r.randint(1, 254)}" for _ in range(8)})
    sendgrid += sorted({f"149.72.{r.randint(100, 250)}.{r.randint(1, 254)}" for _ in range(6)})
    zendesk = ["192.161.144.52", "192.161.144.119", "192.161.144.203"]
    return google, ses, m365, sendgrid, zendesk


GOOGLE_IPS, SES_IPS, M365_IPS, SENDGRID_IPS, ZENDESK_IPS = _pools()
ALUMNI_FORWARDER_IP = "198.51.100.25"     # fwd.university.example (plain .forward, no SRS)
MAILING_LIST_IP = "198.51.100.60"         # lists.community.example (adds a footer)
SPOOF_IPS = ["192.0.2.45", "192.0.2.187", "203.0.113.9", "203.0.113.77", "198.51.100.133",
             "198.51.100.211", "192.0.2.230", "2001:db8:4f2a::17", "2001:db8:a0b:12f0::1"]
CAMPAIGN_IPS = ["203.0.113.141", "203.0.113.142", "203.0.113.150", "203.0.113.163"]
CAMPAIGN_DAYS = {16: 1.0, 17: 0.6}         # 2026-11-05 and 2026-11-06
SPOOF_ENV_DOMAINS = ["mailer.promo-blast.example", "bulk.deals-today.test", "smtp.invoice-notify.example",
                     "mx.secure-login-check.test"]
SES_AMAZON_SELECTOR = "ug7nbtf4gccmlpwj322ax3p6ow6yfsug"
ZENDESK_FROM_DAY = 25                      # 2026-11-14 .. 2026-11-18

SOURCE_OF_IP = {}
for _ip in GOOGLE_IPS:
    SOURCE_OF_IP[_ip] = "google-workspace"
for _ip in SES_IPS:
    SOURCE_OF_IP[_ip] = "amazon-ses"
for _ip in M365_IPS:
    SOURCE_OF_IP[_ip] = "microsoft-365"
for _ip in SENDGRID_IPS:
    SOURCE_OF_IP[_ip] = "sendgrid"
for _ip in ZENDESK_IPS:
    SOURCE_OF_IP[_ip] = "zendesk"


# --------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------

@dataclass
class Dkim:
    domain: str
    selector: str
    result: str
    human: str | None = None


@dataclass
class Spf:
    domain: str
    result: str
    scope: str = "mfrom"


@dataclass
class Rec:
    ip: str
    count: int
    source: str
    header_from: str
    envelope_from: str | None
    dkim: list
    spf: Spf
    envelope_to: str | None = None
    reasons: list = field(default_factory=list)
    disposition: str = "none"
    extension: str | None = None

    @property
    def pe_dkim(self) -> str:
        hf = org_domain(self.header_from)
        return "pass" if any(d.result == "pass" and org_domain(d.domain) == hf for d in self.dkim) else "fail"

    @property
    def pe_spf(self) -> str:
        ok = self.spf.result == "pass" and org_domain(self.spf.domain) == org_domain(self.header_from)
        return "pass" if ok else "fail"


@dataclass
class Report:
    reporter: str
    domain: str
    day: int
    begin: int
    end: int
    report_id: str
    org_name: str
    email: str
    extra: str | None
    policy: dict
    records: list
    opts: dict = field(default_factory=dict)
    xml: bytes = b""

    def summary(self) -> dict:
        msgs = sum(r.count for r in self.records)
        return {
            "dkim_aligned_pass": sum(r.count for r in self.records if r.pe_dkim == "pass"),
            "dmarc_pass": sum(r.count for r in self.records if "pass" in (r.pe_dkim, r.pe_spf)),
            "messages": msgs,
            "org_name": self.org_name,
            "policy_domain": self.domain,
            "records": len(self.records),
            "report_id": self.report_id,
            "spf_aligned_pass": sum(r.count for r in self.records if r.pe_spf == "pass"),
            "begin": self.begin,
            "end": self.end,
        }


REPORTERS = {
    "google": dict(org="google.com", email="noreply-dmarc-support@google.com",
                   extra="https://support.google.com/a/answer/2466580", host="google.com", scale=1.0),
    "outlook": dict(org="Outlook.com", email="dmarcreport@microsoft.com", extra=None,
                    host="protection.outlook.com", scale=0.55),
    "enterprise": dict(org="Enterprise Outlook", email="dmarcreport@microsoft.com", extra=None,
                       host="enterprise.protection.outlook.com", scale=0.7),
    "yahoo": dict(org="Yahoo", email="dmarchelp@yahooinc.com", extra=None, host="yahoo.com", scale=0.22),
    "mimecast": dict(org="Mimecast", email="no-reply@au-1.mimecastreport.com",
                     extra="https://community.mimecast.com/s/knowledge", host="mimecast.org", scale=0.06),
    "fastmail": dict(org="Fastmail Pty Ltd", email="reports@fastmaildmarc.com",
                     extra="https://fastmail.com/", host="fastmail.com", scale=0.05),
    "examplenet": dict(org="Example Receiver", email="dmarc-reports@example.net",
                       extra="https://postmaster.example.net/dmarc", host="example.net", scale=0.08),
    # one-off receivers whose single report is a quirk sample
    "reporterexample": dict(org="reporter.example", email="dmarc-reports@reporter.example", extra=None,
                            host="reporter.example", scale=0.03),
    "kddi": dict(org="kddi.com", email="noreply-dmarc-support@kddi.com",
                 extra="https://www.kddi.com/", host="kddi.com", scale=0.04),
    "exempletelecom": dict(org="Exemple T\u00e9l\u00e9com", email="rapports-dmarc@exemple-telecom.example",
                           extra="https://postmaster.exemple-telecom.example/", host="exemple-telecom.example",
                           scale=0.03),
    "retailpartner": dict(org="retail-partner.example", email="double-bounce@retail-partner.example",
                          extra=None, host="retail-partner.example", scale=0.02),
}

# reasons a reporter attaches to mailing-list traffic (DMARC fail, legitimately ours)
LIST_REASONS = {
    "google": [("local_policy", "arc=pass")],
    "yahoo": [("forwarded", None)],
    "mimecast": [("mailing_list", None)],
    "examplenet": [("mailing_list", "list footer invalidated the author signature")],
}

MS_RCPT = {
    "outlook": ["outlook.com", "hotmail.com", "live.com", "msn.com", "outlook.de", "hotmail.co.uk"],
    "enterprise": ["fabrikam.com", "contoso.com", "northwindtraders.com", "adventure-works.com",
                   "wingtiptoys.com", "tailspintoys.com"],
}
FASTMAIL_RCPT = ["fastmail.com", "fastmail.fm", "messagingengine.com"]


def noise(rng: random.Random, lo: float = 0.85, hi: float = 1.15) -> float:
    return rng.uniform(lo, hi)


def spoof_records(domain: str, day: int, reporter: str, scale: float, rng: random.Random) -> list[Rec]:
    recs = []
    big = reporter in ("google", "outlook", "enterprise")
    n = rng.choice([0, 1, 1, 2, 2, 3]) if big else rng.choice([0, 0, 1, 1, 2])
    for _ in range(n):
        ip = rng.choice(SPOOF_IPS)
        cnt = max(1, int(rng.randint(1, 18) * (0.5 + scale)))
        kind = rng.choice(["direct", "direct", "bulk", "badsig", "temperror"])
        if kind == "direct":
            res = rng.choice(["fail", "softfail", "softfail"])
            recs.append(Rec(ip, cnt, "spoof", domain, domain, [], Spf(domain, res)))
        elif kind == "bulk":
            env = rng.choice(SPOOF_ENV_DOMAINS)
            recs.append(Rec(ip, cnt, "spoof", domain, env, [Dkim(org_domain(env), "s1", "pass")],
                            Spf(env, rng.choice(["pass", "neutral"]))))
        elif kind == "badsig":
            env = rng.choice(SPOOF_ENV_DOMAINS)
            recs.append(Rec(ip, cnt, "spoof", domain, domain, [Dkim(org_domain(env), "default", "fail")],
                            Spf(domain, "softfail")))
        else:
            recs.append(Rec(ip, cnt, "spoof", domain, domain, [], Spf(domain, "temperror")))
    if domain == DOMAIN_A and day in CAMPAIGN_DAYS:
        total = int(rng.randint(260, 340) * CAMPAIGN_DAYS[day] * (scale ** 0.5))
        for ip, c in zip(CAMPAIGN_IPS, split(max(4, total), len(CAMPAIGN_IPS), rng)):
            recs.append(Rec(ip, c, "spoof", domain, domain, [], Spf(domain, rng.choice(["fail", "softfail"]))))
    return recs


def traffic(reporter: str, domain: str, day: int, rng: random.Random) -> list[Rec]:
    """Messages from `domain` seen by `reporter` on `day`, one Rec per (ip, outcome)."""
    scale = REPORTERS[reporter]["scale"]
    wf = WEEKDAY_FACTOR[weekday(day)]
    weekend = weekday(day) >= 5
    recs: list[Rec] = []

    def pool(ips, total, per_ip, lo, hi):
        k = max(lo, min(hi, total // per_ip))
        chosen = sorted(rng.sample(ips, min(k, len(ips))))
        return list(zip(chosen, split(total, len(chosen), rng)))

    if domain == DOMAIN_A:
        total = int(1400 * wf * noise(rng) * scale)
        for ip, c in pool(GOOGLE_IPS, total, 70, 2, 24):
            recs.append(Rec(ip, c, "google-workspace", domain, domain,
                            [Dkim(domain, "google", "pass")], Spf(domain, "pass")))
        total = int(110 * (0.7 if weekend else 1.0) * noise(rng, 0.7, 1.3) * scale)
        if total:
            for ip, c in pool(SES_IPS, total, 25, 1, 5):
                recs.append(Rec(ip, c, "amazon-ses", domain, "mail.example.com",
                                [Dkim(domain, "ses1", "pass"), Dkim("amazonses.com", SES_AMAZON_SELECTOR, "pass")],
                                Spf("mail.example.com", "pass")))
        fwd = int(rng.randint(3, 12) * wf * min(1.0, scale * 2.5))
        if fwd:
            recs.append(Rec(ALUMNI_FORWARDER_IP, fwd, "forwarder", domain, domain,
                            [Dkim(domain, "google", "pass")], Spf(domain, "fail")))
        lst = int(rng.randint(1, 9) * min(1.0, scale * 3))
        if lst:
            recs.append(Rec(MAILING_LIST_IP, lst, "mailing-list", domain, "lists.community.example",
                            [Dkim(domain, "google", "fail"), Dkim("lists.community.example", "mlist", "pass")],
                            Spf("lists.community.example", "pass"),
                            reasons=list(LIST_REASONS.get(reporter, []))))
    else:
        total = int(900 * wf * noise(rng) * scale)
        for ip, c in pool(M365_IPS, total, 60, 2, 20):
            recs.append(Rec(ip, c, "microsoft-365", domain, domain,
                            [Dkim(domain, "selector1", "pass")], Spf(domain, "pass")))
        if not weekend:
            total = int(rng.randint(190, 330) * scale)
            if total:
                for ip, c in pool(SENDGRID_IPS, total, 40, 1, 6):
                    recs.append(Rec(ip, c, "sendgrid", domain, "sendgrid.net",
                                    [Dkim("sendgrid.net", "smtpapi", "pass")], Spf("sendgrid.net", "pass")))
        if day >= ZENDESK_FROM_DAY:
            total = max(1, int(rng.randint(10, 32) * wf * min(1.0, scale * 1.5)))
            for ip, c in pool(ZENDESK_IPS, total, 8, 1, 3):
                recs.append(Rec(ip, c, "zendesk", domain, "zendesk.com",
                                [Dkim("zendesk.com", "zendesk1", "pass")], Spf("zendesk.com", "pass")))
    recs += spoof_records(domain, day, reporter, scale, rng)

    # reporter specific record splitting
    if reporter in MS_RCPT:
        out = []
        for r in recs:
            k = 1 if r.count < 4 else rng.choice([1, 1, 2, 2, 3])
            rcpts = rng.sample(MS_RCPT[reporter], k)
            for rc, c in zip(rcpts, split(r.count, k, rng)):
                out.append(Rec(r.ip, c, r.source, r.header_from, r.envelope_from, r.dkim, r.spf,
                               envelope_to=rc, reasons=r.reasons))
        recs = out
    elif reporter == "fastmail":
        out = []
        for r in recs:
            k = 1 if r.count < 3 else rng.choice([1, 2])
            rcpts = rng.sample(FASTMAIL_RCPT, k)
            for rc, c in zip(rcpts, split(r.count, k, rng)):
                dk = [Dkim(d.domain, d.selector, d.result, d.result) for d in r.dkim]
                out.append(Rec(r.ip, c, r.source, r.header_from, r.envelope_from, dk, r.spf,
                               envelope_to=rc, reasons=r.reasons))
        recs = out
    rng.shuffle(recs)
    return [r for r in recs if r.count > 0]


# --------------------------------------------------------------------------
# schedule and report ids
# --------------------------------------------------------------------------

def schedule() -> list[tuple[str, str, int]]:
    out = []
    for day in range(NDAYS):
        out.append(("google", DOMAIN_A, day))
        out.append(("google", DOMAIN_B, day))
        out.append(("outlook", DOMAIN_A, day))
        out.append(("enterprise", DOMAIN_B, day))
        out.append(("yahoo", DOMAIN_A, day))
        if day % 2 == 0:
            out.append(("yahoo", DOMAIN_B, day))
        if day % 3 == 0:
            out.append(("mimecast", DOMAIN_A, day))
        if day % 2 == 1:
            out.append(("fastmail", DOMAIN_B, day))
        if day % 7 == 0:
            out.append(("examplenet", DOMAIN_A, day))
            out.append(("examplenet", DOMAIN_B, day))
    out += [("reporterexample", DOMAIN_A, 28), ("kddi", DOMAIN_B, 16),
            ("exempletelecom", DOMAIN_A, 9), ("retailpartner", DOMAIN_B, 22)]
    return out


def make_report(reporter: str, domain: str, day: int) -> Report:
    rng = rng_for(reporter, domain, day)
    cfg = REPORTERS[reporter]
    begin = day_start(day)
    end = begin + DAY - 1
    if reporter in ("outlook", "enterprise") and MICROSOFT_END_IS_NEXT_MIDNIGHT:
        end = begin + DAY
    d = datetime.fromtimestamp(begin, UTC)
    if reporter == "google":
        rid = str(rng.randrange(10 ** 18, 2 ** 64))
    elif reporter in ("outlook", "enterprise"):
        rid = hexid(rng, 32)
    elif reporter == "yahoo":
        rid = f"{begin + DAY + rng.randint(1800, 7200)}.{rng.randint(0, 999999):06d}"
    elif reporter == "mimecast":
        rid = hexid(rng, 64)
    elif reporter == "fastmail":
        rid = str(rng.randint(100000000, 999999999))
    elif reporter == "examplenet":
        rid = f"{domain}.{d:%Y%m%d}.{hexid(rng, 8)}@example.net"
    elif reporter == "reporterexample":
        rid = "abc123"
    elif reporter == "kddi":
        rid = f"{d:%Y%m%d}{rng.randint(10**11, 10**12 - 1)}"
    elif reporter == "exempletelecom":
        rid = f"exemple-telecom.example!{domain}!{begin}!{end}"
    else:
        rid = f"aggr_report_{d:%Y_%m_%d}_{hexid(rng, 13)}"
    pol = dict(POLICY[domain])
    if domain == DOMAIN_A and day >= T_Y_FROM_DAY:
        pol["testing"] = "y"
    recs = traffic(reporter, domain, day, rng)
    rep = Report(reporter, domain, day, begin, end, rid, cfg["org"], cfg["email"], cfg["extra"], pol, recs)
    if reporter == "examplenet" and domain == DOMAIN_A and day >= T_Y_FROM_DAY:
        for r in rep.records:
            if r.pe_dkim == "fail" and r.pe_spf == "fail":
                r.reasons = r.reasons + [("policy_test_mode", "t=y")]
    return rep


# --------------------------------------------------------------------------
# XML rendering, one style per reporter
# --------------------------------------------------------------------------

def _cap(v: str) -> str:
    return {"pass": "Pass", "fail": "Fail", "none": "NONE", "softfail": "SoftFail",
            "temperror": "TempError", "neutral": "Neutral", "permerror": "PermError"}.get(v, v)


STYLES = {
    "google": dict(
        decl='<?xml version="1.0" encoding="UTF-8" ?>', root="<feedback>", indent="  ",
        meta=["org_name", "email", "extra_contact_info", "report_id", "date_range"],
        policy=["domain", "adkim", "aspf", "p", "sp", "pct", "np"],
        ident=["header_from"], dkim=["domain", "result", "selector"], spf=["domain", "result"]),
    "microsoft": dict(
        decl='<?xml version="1.0"?>',
        root='<feedback xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
             'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        indent="  ", version="1.0",
        meta=["org_name", "email", "report_id", "date_range"],
        policy=["domain", "adkim", "aspf", "p", "sp", "pct", "fo"],
        ident=["envelope_to", "envelope_from", "header_from"],
        dkim=["domain", "selector", "result"], spf=["domain", "scope", "result"]),
    "yahoo": dict(
        decl='<?xml version="1.0"?>', root="<feedback>", indent="  ", eol="\t\n",
        meta=["org_name", "email", "report_id", "date_range"],
        policy=["domain", "adkim", "aspf", "p", "pct"],
        ident=["header_from"], dkim=["domain", "selector", "result"], spf=["domain", "result"]),
    "mimecast": dict(
        decl='<?xml version="1.0" encoding="UTF-8" standalone="yes"?>', root="<feedback>", indent="  ",
        meta=["org_name", "email", "extra_contact_info", "report_id", "date_range"],
        policy=["domain", "adkim", "aspf", "p", "sp", "pct"],
        ident=["header_from"], dkim=["domain", "selector", "result", "human_result"], spf=["domain", "result"],
        case=True),
    "fastmail": dict(
        decl='<?xml version="1.0"?>', root="<feedback>", indent="\t", version="1.0",
        meta=["org_name", "email", "extra_contact_info", "report_id", "date_range"],
        policy=["domain", "p", "sp", "pct", "fo"],
        ident=["envelope_to", "envelope_from", "header_from"],
        dkim=["domain", "selector", "result", "human_result"], spf=["domain", "scope", "result"]),
    "examplenet": dict(
        decl='<?xml version="1.0" encoding="UTF-8"?>',
        root='<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">', indent="  ", version="1.0",
        meta=["org_name", "email", "extra_contact_info", "report_id", "date_range", "generator"],
        policy=["domain", "discovery_method", "p", "sp", "np", "fo", "adkim", "aspf", "testing"],
        ident=["header_from", "envelope_from"],
        dkim=["domain", "selector", "result"], spf=["domain", "scope", "result"]),
    "reporterexample": dict(
        decl='<?xml version="1.0" encoding="UTF-8"?>', root="<feedback>", indent="  ", version="1.0",
        meta=["org_name", "email", "report_id"],
        policy=["domain", "adkim", "aspf", "p", "sp", "pct", "fo"],
        ident=["envelope_from", "header_from"],
        dkim=["domain", "selector", "result"], spf=["domain", "scope", "result"]),
    "kddi": dict(
        decl='<?xml version="1.0" encoding="UTF-8"?>', root="<feedback>", indent="  ", version="1.0",
        meta=["org_name", "email", "extra_contact_info", "report_id", "data_range"],
        policy=["domain", "adkim", "aspf", "p", "sp", "pct", "fo"],
        ident=["header_from"], dkim=["domain", "selector", "result"], spf=["domain", "result"]),
    "exempletelecom": dict(
        decl='<?xml version="1.0" encoding="windows-1252"?>', root="<feedback>", indent="    ",
        meta=["org_name", "email", "extra_contact_info", "report_id", "date_range"],
        policy=["domain", "adkim", "aspf", "p", "sp", "pct"],
        ident=["header_from"], dkim=["domain", "selector", "result"], spf=["domain", "scope", "result"],
        encoding="cp1252"),
    "retailpartner": dict(
        decl='<?xml version="1.0"?> <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" '
             'targetNamespace="http://dmarc.org/dmarc-xml/0.1">',
        root="<feedback>", indent="  ",
        meta=["org_name", "email", "report_id", "date_range"],
        policy=["domain", "adkim", "aspf", "p", "sp", "pct", "fo"],
        ident=["header_from"], dkim=["domain", "result"], spf=["domain", "scope", "result"]),
}
STYLE_OF = {"google": "google", "outlook": "microsoft", "enterprise": "microsoft", "yahoo": "yahoo",
            "mimecast": "mimecast", "fastmail": "fastmail", "examplenet": "examplenet",
            "reporterexample": "reporterexample", "kddi": "kddi", "exempletelecom": "exempletelecom",
            "retailpartner": "retailpartner"}

EXT_NS = "https://postmaster.example.net/dmarc/arc-extension-1.0"
PADDED_TAGS = {"source_ip", "count", "domain", "result", "header_from", "disposition", "dkim", "spf"}


def render_xml(rep: Report) -> bytes:
    st = dict(STYLES[STYLE_OF[rep.reporter]])
    o = rep.opts
    if "version" in o:
        st["version"] = o["version"]
    ind, eol = st["indent"], st.get("eol", "\n")
    case = st.get("case", False)
    pad = o.get("whitespace", False)
    lines: list[str] = []

    def line(depth: int, s: str):
        lines.append(ind * depth + s)

    def leaf(depth: int, tag: str, val, evaluated: bool = False):
        if val is None:
            line(depth, f"<{tag}/>")
            return
        v = str(val)
        if case and (evaluated or tag == "result"):
            v = _cap(v)
        v = xml_escape(v)
        if pad and tag in PADDED_TAGS:
            v = (f"\n{ind * (depth + 1)}{v}\n{ind * depth}" if tag == "count" else f" {v} ")
        line(depth, f"<{tag}>{v}</{tag}>")

    root = st["root"]
    if o.get("extension"):
        root = root[:-1] + f' xmlns:arc="{EXT_NS}">'
    lines.append(st["decl"])
    lines.append(root)
    if st.get("version"):
        leaf(1, "version", st["version"])
    line(1, "<report_metadata>")
    for f in st["meta"]:
        if f == "org_name":
            leaf(2, f, rep.org_name)
        elif f == "email":
            leaf(2, f, rep.email)
        elif f == "extra_contact_info":
            if rep.extra:
                leaf(2, f, rep.extra)
        elif f == "report_id":
            leaf(2, f, rep.report_id)
        elif f in ("date_range", "data_range"):
            line(2, f"<{f}>")
            leaf(3, "begin", rep.begin)
            leaf(3, "end", rep.end)
            line(2, f"</{f}>")
        elif f == "generator":
            leaf(2, f, "Example Receiver DMARC Reporter 2.3.1")
    line(1, "</report_metadata>")
    line(1, "<policy_published>")
    for f in st["policy"]:
        val = rep.policy.get(f) if f != "domain" else rep.domain
        if f == "sp" and o.get("empty_sp"):
            val = None
        leaf(2, f, val)
    line(1, "</policy_published>")
    if o.get("extension"):
        line(1, "<extension>")
        line(2, "<arc:arc-override>never</arc:arc-override>")
        line(1, "</extension>")
    for r in rep.records:
        line(1, "<record>")
        line(2, "<row>")
        leaf(3, "source_ip", r.ip)
        leaf(3, "count", r.count)
        line(3, "<policy_evaluated>")
        leaf(4, "disposition", r.disposition, evaluated=True)
        leaf(4, "dkim", r.pe_dkim, evaluated=True)
        leaf(4, "spf", r.pe_spf, evaluated=True)
        for rtype, comment in r.reasons:
            line(4, "<reason>")
            leaf(5, "type", rtype)
            if comment:
                leaf(5, "comment", comment)
            line(4, "</reason>")
        line(3, "</policy_evaluated>")
        line(2, "</row>")
        line(2, "<identifiers>")
        for f in st["ident"]:
            if f == "envelope_to" and r.envelope_to:
                leaf(3, f, r.envelope_to)
            elif f == "envelope_from" and r.envelope_from is not None:
                leaf(3, f, r.envelope_from)
            elif f == "header_from":
                leaf(3, f, r.header_from)
        line(2, "</identifiers>")
        line(2, "<auth_results>")
        for d in r.dkim:
            line(3, "<dkim>")
            for f in st["dkim"]:
                if f == "human_result":
                    leaf(4, f, d.human)
                else:
                    leaf(4, f, getattr(d, f))
            line(3, "</dkim>")
        line(3, "<spf>")
        for f in st["spf"]:
            leaf(4, f, getattr(r.spf, f))
        line(3, "</spf>")
        line(2, "</auth_results>")
        if r.extension:
            line(2, r.extension)
        line(1, "</record>")
    lines.append("</feedback>")
    text = eol.join(lines) + eol
    return text.encode(st.get("encoding", "utf-8"))


# --------------------------------------------------------------------------
# file names and emails, one builder per reporter
# --------------------------------------------------------------------------

def stem(rep: Report) -> str:
    host = REPORTERS[rep.reporter]["host"]
    s = f"{host}!{rep.domain}!{rep.begin}!{rep.end}"
    if rep.reporter == "mimecast":
        s += f"!{rep.report_id}"
    elif rep.reporter == "fastmail":
        s += f"!{rep.report_id}"
    elif rep.reporter == "examplenet":
        s += "!" + rep.report_id.split("@")[0].split(".")[-1]
    return s


def google_zip(rep: Report) -> tuple[str, bytes]:
    name = stem(rep)
    return name + ".zip", make_zip(name + ".xml", rep.xml, rep.end)


MX = {DOMAIN_A: "mx.google.com", DOMAIN_B: "example-org.mail.protection.outlook.com"}


def email_google(rep: Report, ctype: str = "application/zip", to: str | None = None) -> str:
    fname, data = google_zip(rep)
    to = to or f"dmarc@{rep.domain}"
    rng = rng_for("mail", rep.reporter, rep.domain, rep.day)
    sor = f"209.85.220.{rng.randint(65, 80)}"
    date = rfc2822(rep.end, pacific(rep.end))
    return (
        f"Return-Path: <3{hexid(rng, 12)}@dmarc-reports.bounces.google.com>\n"
        f"Received: from mail-sor-f{sor.rsplit('.', 1)[1]}.google.com (mail-sor-f{sor.rsplit('.', 1)[1]}"
        f".google.com [{sor}])\n"
        f"        by {MX[rep.domain]} with ESMTPS id {hexid(rng, 10).upper()}\n"
        f"        for <{to}>; {rfc2822(rep.end + rng.randint(2, 40), 0)}\n"
        f"MIME-Version: 1.0\n"
        f"Date: {date}\n"
        f"Message-ID: <{rep.report_id}@google.com>\n"
        f"Subject: Report domain: {rep.domain} Submitter: google.com Report-ID: {rep.report_id}\n"
        f"From: noreply-dmarc-support@google.com\n"
        f"To: {to}\n"
        f"Content-Type: {ctype}; \n"
        f"\tname=\"{fname}\"\n"
        f"Content-Disposition: attachment; \n"
        f"\tfilename=\"{fname}\"\n"
        f"Content-Transfer-Encoding: base64\n"
        f"\n" + b64(data)
    )


MS_HTML = (
    '<div style = "font-family:Segoe UI; font-size:14px;">This is a DMARC aggregate report from Microsoft '
    'Corporation. For Emails received between {b} UTC to {e} UTC.</ div><br /><br />You are receiving this '
    "message because an address in the 'rua' tag of the DMARC record of {d} points here. Remove it from the "
    "record if you no longer want these reports.<br /><br /><div style = \"font-family:Segoe UI; "
    'font-size:12px; color:#666666;">This mailbox is not monitored. Please do not reply.</ div >'
)


def email_microsoft(rep: Report) -> bytes:
    host = REPORTERS[rep.reporter]["host"]
    fname = stem(rep) + ".xml.gz"
    data = gz(rep.xml)
    rng = rng_for("mail", rep.reporter, rep.domain, rep.day)
    tag = hexid(rng, 32) + "piotk5m200exchangecorpm_"
    sent = rep.end + rng.randint(3600, 14 * 3600)
    subj = f"Report Domain: {rep.domain} Submitter: {host} Report-ID: {rep.report_id}"
    subj_enc = "=?utf-8?B?" + base64.b64encode(subj.encode()).decode() + "?="
    fmt = "%Y-%m-%d %H:%M:%S"
    html = MS_HTML.format(b=datetime.fromtimestamp(rep.begin, UTC).strftime(fmt),
                          e=datetime.fromtimestamp(rep.end, UTC).strftime(fmt), d=rep.domain)
    text = (
        f"Message-ID: <{rep.report_id}@microsoft.com>\n"
        f"MIME-Version: 1.0\n"
        f"From: \"DMARC Aggregate Report\" <dmarcreport@microsoft.com>\n"
        f"To: <dmarc@{rep.domain}>\n"
        f"Subject: {subj_enc}\n"
        f"Content-Type: multipart/mixed;\n"
        f"\tboundary=\"_mpm_{tag}\"\n"
        f"Date: {rfc2822(sent, 0, pad_day=False)}\n"
        f"\n"
        f"This is a multi-part message in MIME format.\n"
        f"\n"
        f"--_mpm_{tag}\n"
        f"Content-Type: multipart/related;\n"
        f"\tboundary=\"_rv_{tag}\"\n"
        f"\n"
        f"--_rv_{tag}\n"
        f"Content-Type: multipart/alternative;\n"
        f"\tboundary=\"_av_{tag}\"\n"
        f"\n"
        f"--_av_{tag}\n"
        f"\n"
        f"\n"
        f"--_av_{tag}\n"
        f"Content-Type: text/html; charset=us-ascii\n"
        f"Content-Transfer-Encoding: base64\n"
        f"\n" + b64(html.encode()) +
        f"\n"
        f"--_av_{tag}--\n"
        f"\n"
        f"--_rv_{tag}--\n"
        f"\n"
        f"--_mpm_{tag}\n"
        f"Content-Type: application/gzip\n"
        f"Content-Transfer-Encoding: base64\n"
        f"Content-ID: <{uuid_like(rng)}>\n"
        f"Content-Description: {fname}\n"
        f"Content-Disposition: attachment; filename=\"{fname}\";\n"
        f"\n" + b64(data) +
        f"\n"
        f"--_mpm_{tag}--\n"
    )
    return crlf(text)   # Exchange-exported messages keep CRLF line ends


YAHOO_TEXT = (
    "This is an aggregate DMARC report from Yahoo. The domain {d} publishes a DMARC record whose 'rua' tag "
    "lists this address, which is why you are receiving it. To stop these reports, or to send them "
    "somewhere else, update or remove that tag.\n\n"
    "This address is not monitored; replies are not read. Questions about these reports can go to "
    "dmarchelp@yahooinc.com."
)


def email_yahoo(rep: Report, ctype: str = "application/gzip") -> str:
    fname = stem(rep) + ".xml.gz"
    rng = rng_for("mail", rep.reporter, rep.domain, rep.day)
    gen = int(rep.report_id.split(".")[0])
    sent = gen + rng.randint(6 * 3600, 10 * 3600)
    bnd = f"_----------=_{sent}{rng.randint(1000, 99999)}"
    return (
        f"Return-Path: <noreply@dmarc.yahoo.com>\n"
        f"Content-Transfer-Encoding: binary\n"
        f"Content-Type: multipart/mixed; boundary=\"{bnd}\"\n"
        f"Date: {rfc2822(sent, pacific(sent))}\n"
        f"From: noreply@dmarc.yahoo.com\n"
        f"To: dmarc@{rep.domain}\n"
        f"Subject: Report Domain: {rep.domain} Submitter: yahoo.com Report-ID: <{rep.report_id}>\n"
        f"Message-Id: <{sent}.{rng.randint(0, 999999):06d}@dmarc.yahoo.com>\n"
        f"\n"
        f"This is a multi-part message in MIME format.\n"
        f"\n"
        f"--{bnd}\n"
        f"Content-Disposition: inline\n"
        f"Content-Transfer-Encoding: 8bit\n"
        f"Content-Type: text/plain\n"
        f"\n" + YAHOO_TEXT.format(d=rep.domain) + "\n"
        f"--{bnd}\n"
        f"Content-Disposition: attachment; filename=\"{fname}\"\n"
        f"Content-Transfer-Encoding: base64\n"
        f"Content-Type: {ctype}; name=\"{fname}\"\n"
        f"\n" + b64(gz(rep.xml)) +
        f"\n"
        f"--{bnd}--\n"
        f"\n"
    )


def email_mimecast(rep: Report) -> str:
    fname = stem(rep) + ".xml.gz"
    rng = rng_for("mail", rep.reporter, rep.domain, rep.day)
    sent = rep.end + rng.randint(8 * 3600, 11 * 3600)
    payload = gz(rep.xml) + b"\r\n"     # Mimecast's trailing CRLF after the gzip member
    return (
        f"From: no-reply@au-1.mimecastreport.com\n"
        f"Subject: Report domain: {rep.domain} Submitter: mimecast.org Report-ID:\n"
        f" {rep.report_id}\n"
        f"To: <dmarc@{rep.domain}>\n"
        f"Message-Id: <{uuid_like(rng)}@au-1.mimecastreport.com>\n"
        f"Date: {rfc2822(sent, 11)}\n"
        f"X-MC-UniqueId: {uuid_like(rng)}\n"
        f"Content-Type: application/gzip\n"
        f"Content-Transfer-Encoding: base64\n"
        f"Content-Disposition: attachment;\n"
        f" filename=\"{fname}\"\n"
        f"Return-Path: no-reply@au-1.mimecastreport.com\n"
        f"MIME-Version: 1.0\n"
        f"\n" + b64(payload)
    )


def email_fastmail(rep: Report, ctype: str = "application/gzip") -> str:
    fname = stem(rep) + ".xml.gz"
    rng = rng_for("mail", rep.reporter, rep.domain, rep.day)
    sent = rep.end + rng.randint(6 * 3600, 7 * 3600)
    off = eastern(sent)
    local = datetime.fromtimestamp(sent, UTC) + timedelta(hours=off)
    bnd = f"{sent}{rng.randint(10, 99)}.{hexid(rng, 9)}.{rng.randint(100000, 999999)}"
    npass = sum(1 for r in rep.records if "pass" in (r.pe_dkim, r.pe_spf))
    f0, f1 = fname[:60], fname[60:]
    date = rfc2822(sent, off)
    return (
        f"From: reports@fastmaildmarc.com\n"
        f"To: dmarc@{rep.domain}\n"
        f"Date: {date}\n"
        f"Subject: Report Domain: {rep.domain} Submitter: fastmail.com\n"
        f" Report-ID:{local:%Y.%m.%d}.{rep.report_id}\n"
        f"MIME-Version: 1.0\n"
        f"Content-Transfer-Encoding: 7bit\n"
        f"Content-Type: multipart/mixed; boundary={bnd}\n"
        f"Message-Id: <{local:%Y%m%d%H%M%S}.{hexid(rng, 10).upper()}@mailuser.nyi.internal>\n"
        f"\n"
        f"--{bnd}\n"
        f"Date: {date}\n"
        f"MIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset=US-ASCII\n"
        f"Content-Disposition: inline\n"
        f"\n"
        f"\n"
        f"This is a DMARC aggregate report for {rep.domain}\n"
        f"\n"
        f"{len(rep.records)} records.\n"
        f"{npass} passed.\n"
        f"{len(rep.records) - npass} failed.\n"
        f"\n"
        f"Submitted by Fastmail Pty Ltd\n"
        f"Generated with Mail::DMARC 1.20240314\n"
        f"\n"
        f"\n"
        f"--{bnd}\n"
        f"Date: {date}\n"
        f"MIME-Version: 1.0\n"
        f"Content-Type: {ctype};\n"
        f" name={fname}\n"
        f"Content-Transfer-Encoding: base64\n"
        f"Content-Disposition: inline;\n"
        f" filename*0={f0};\n"
        f" filename*1={f1}\n"
        f"\n" + b64(gz(rep.xml)) +
        f"\n"
        f"--{bnd}--\n"
        f"\n"
    )


def examplenet_part(rep: Report, bnd: str, how: str) -> str:
    """how: 'b64xml' (text/xml, base64), '7bitxml' (text/xml as is), 'gzip'."""
    if how == "gzip":
        fname = stem(rep) + ".xml.gz"
        return (f"--{bnd}\n"
                f"Content-Type: application/gzip; name=\"{fname}\"\n"
                f"Content-Disposition: attachment; filename=\"{fname}\"\n"
                f"Content-Transfer-Encoding: base64\n"
                f"\n" + b64(gz(rep.xml)))
    fname = stem(rep) + ".xml"
    if how == "7bitxml":
        return (f"--{bnd}\n"
                f"Content-Type: text/xml; charset=UTF-8; name=\"{fname}\"\n"
                f"Content-Disposition: attachment; filename=\"{fname}\"\n"
                f"Content-Transfer-Encoding: 7bit\n"
                f"\n" + rep.xml.decode("ascii"))
    return (f"--{bnd}\n"
            f"Content-Type: text/xml; charset=UTF-8; name=\"{fname}\"\n"
            f"Content-Disposition: attachment; filename=\"{fname}\"\n"
            f"Content-Transfer-Encoding: base64\n"
            f"\n" + b64(rep.xml))


def email_examplenet(reps: list[Report], hows: list[str]) -> str:
    first = reps[-1]
    rng = rng_for("mail", first.reporter, first.domain, first.day, len(reps))
    sent = first.end + rng.randint(3 * 3600, 4 * 3600)
    bnd = f"=_er_{hexid(rng, 24)}"
    rid = first.report_id
    if len(reps) == 1:
        body = (f"This is a DMARC aggregate report for {first.domain} from Example Receiver (example.net), "
                f"covering {datetime.fromtimestamp(first.begin, UTC):%Y-%m-%d} (UTC).\n"
                f"Report-ID: <{rid}>\n")
        subj = f"Report Domain: {first.domain}\n Submitter: example.net\n Report-ID: <{rid}>"
        msgid = f"<{rid}>"
    else:
        body = (f"Our report queue for {first.domain} was held during a delivery backlog. This message "
                f"carries {len(reps)} aggregate reports:\n" +
                "".join(f"  - {r.report_id} ({datetime.fromtimestamp(r.begin, UTC):%Y-%m-%d})\n" for r in reps))
        subj = f"Report Domain: {first.domain}\n Submitter: example.net"
        msgid = f"<bundle.{hexid(rng, 12)}@example.net>"
    parts = ""
    for r, h in zip(reps, hows):
        p = examplenet_part(r, bnd, h)
        parts += p if p.endswith("\n") else p + "\n"
    return (
        f"From: \"Example Receiver DMARC\" <dmarc-reports@example.net>\n"
        f"To: dmarc@{first.domain}\n"
        f"Subject: {subj}\n"
        f"Date: {rfc2822(sent, 0)}\n"
        f"Message-ID: {msgid}\n"
        f"MIME-Version: 1.0\n"
        f"Content-Type: multipart/mixed; boundary=\"{bnd}\"\n"
        f"\n"
        f"--{bnd}\n"
        f"Content-Type: text/plain; charset=us-ascii\n"
        f"Content-Transfer-Encoding: 7bit\n"
        f"\n" + body + "\n" + parts +
        f"--{bnd}--\n"
    )


# --------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------

EXPECTED: dict[str, dict] = {}
WRITTEN: list[Path] = []


def write(rel: str, data, reports: list[Report] | None = None, note: str | None = None):
    p = HERE / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("ascii")
    p.write_bytes(data)
    WRITTEN.append(p)
    entry = {"aggregate_reports": [r.summary() for r in (reports or [])]}
    if note:
        entry["note"] = note
    EXPECTED[rel] = entry


def clean_previous():
    """Delete the previous outputs in sample-reports/."""
    def protected(p: Path) -> bool:
        rel = p.relative_to(HERE)
        if any(part == "golden" for part in rel.parts):
            return True
        if p.name in PROTECTED_NAMES and p.parent == HERE:
            return True
        return p.name.endswith(PROTECTED_SUFFIXES)

    for p in sorted(HERE.rglob("*"), key=lambda x: len(x.parts), reverse=True):
        if p.is_symlink() or p.is_file():
            if not protected(p):
                p.unlink()
        elif p.is_dir():
            if p.name == "golden":
                continue
            try:
                p.rmdir()           # only succeeds when empty
            except OSError:
                pass


def folder(rep: Report) -> str:
    return f"{rep.domain}/{REPORTERS[rep.reporter]['host']}"


def build():
    reports = {(r, d, day): make_report(r, d, day) for (r, d, day) in schedule()}

    # per-report rendering options (documented quirks)
    # (all Mimecast reports use mixed-case values: see STYLES["mimecast"]["case"])
    reports[("fastmail", DOMAIN_B, 13)].opts["empty_sp"] = True
    reports[("yahoo", DOMAIN_B, 12)].opts["whitespace"] = True
    for day in (0, 14, 28):
        reports[("examplenet", DOMAIN_A, day)].opts["version"] = "1.0"
        reports[("examplenet", DOMAIN_B, day)].opts["version"] = None
    for day in (7, 21):
        reports[("examplenet", DOMAIN_A, day)].opts["version"] = None
        reports[("examplenet", DOMAIN_B, day)].opts["version"] = "1.0"
    ext = reports[("examplenet", DOMAIN_A, 7)]
    ext.opts["extension"] = True
    if not any(r.source == "mailing-list" for r in ext.records):
        ext.records.append(Rec(MAILING_LIST_IP, 2, "mailing-list", DOMAIN_A, "lists.community.example",
                               [Dkim(DOMAIN_A, "google", "fail"), Dkim("lists.community.example", "mlist", "pass")],
                               Spf("lists.community.example", "pass"), reasons=list(LIST_REASONS["examplenet"])))
    for r in ext.records:
        if r.source == "mailing-list":
            r.extension = ('<arc:arc-results><arc:chain>pass</arc:chain>'
                           '<arc:sealer>lists.community.example</arc:sealer></arc:arc-results>')
    pol = reports[("examplenet", DOMAIN_B, 14)]
    for r in pol.records:
        if r.source == "spoof":
            r.spf = Spf(r.spf.domain, "policy")
            break
    else:
        pol.records.append(Rec("192.0.2.45", 2, "spoof", DOMAIN_B, DOMAIN_B, [], Spf(DOMAIN_B, "policy")))

    for rep in reports.values():
        rep.xml = render_xml(rep)

    used: set[tuple] = set()

    def take(key):
        assert key not in used, key
        used.add(key)
        return reports[key]

    # ---- special placements first -------------------------------------
    # deliberate duplicate: Google example.com 2026-11-07 as .eml AND bare .zip
    dup = take(("google", DOMAIN_A, 18))
    write(f"{folder(dup)}/{stem(dup)}.eml", email_google(dup), [dup])
    name, data = google_zip(dup)
    write(f"{folder(dup)}/{name}", data, [dup], note="deliberate duplicate of the .eml with the same stem")

    for day in (21, 22, 23, 24):
        rep = take(("google", DOMAIN_A, day))
        name, data = google_zip(rep)
        write(f"{folder(rep)}/{name}", data, [rep])
    for day in (25, 26):
        rep = take(("google", DOMAIN_B, day))
        name, data = google_zip(rep)
        write(f"{folder(rep)}/{name}", data, [rep])
    for day in (27, 28):
        rep = take(("google", DOMAIN_B, day))
        write(f"{folder(rep)}/{stem(rep)}.xml", rep.xml, [rep])
    for day in (27, 28):
        for key in (("outlook", DOMAIN_A, day), ("enterprise", DOMAIN_B, day)):
            rep = take(key)
            write(f"{folder(rep)}/{stem(rep)}.xml.gz", gz(rep.xml), [rep])
    bom = take(("enterprise", DOMAIN_B, 8))
    write(f"{folder(bom)}/{stem(bom)}.xml", b"\xef\xbb\xbf" + bom.xml, [bom],
          note="plain XML starting with a UTF-8 byte order mark")

    # mixed containers
    fwd = take(("google", DOMAIN_B, 11))
    write("mixed/Fwd - Report domain example.org Submitter google.com.eml", forwarded_email(fwd), [fwd],
          note="a person's forward (message/rfc822) of a Google rua email")
    bundle = [take(("examplenet", DOMAIN_B, 21)), take(("examplenet", DOMAIN_B, 28))]
    write("mixed/example.net-two-reports.eml", email_examplenet(bundle, ["gzip", "b64xml"]), bundle,
          note="one email, two report attachments (application/gzip + text/xml)")
    mbox_reps = [take(("yahoo", DOMAIN_A, d)) for d in (14, 15, 16)]
    write("mixed/rua-archive.mbox", make_mbox([(email_yahoo(r), r) for r in mbox_reps]), mbox_reps,
          note="mboxrd file holding three Yahoo rua emails")
    md = [(take(("outlook", DOMAIN_A, 3)), "cur"), (take(("outlook", DOMAIN_A, 4)), "cur"),
          (take(("google", DOMAIN_A, 29)), "new")]
    for i, (rep, sub) in enumerate(md):
        raw = email_microsoft(rep) if rep.reporter == "outlook" else lf(email_google(rep))
        ts = rep.end + 5000 + i
        base = f"{ts}.M{100000 + i * 7919}P{4200 + i}.mx1.example.com,S={len(raw)}"
        fname = f"{base}:2,S" if sub == "cur" else base
        write(f"mixed/Maildir/{sub}/{fname}", raw, [rep])
    (HERE / "mixed/Maildir/tmp").mkdir(parents=True, exist_ok=True)
    (HERE / "mixed/Maildir/tmp/.gitkeep").write_bytes(b"")

    # ---- quirk reporters -------------------------------------------------
    q = take(("reporterexample", DOMAIN_A, 28))
    write(f"quirks/reporter.example!{DOMAIN_A}!{q.begin}!{q.end}!abc123.xml.gz", gz(q.xml), [q],
          note="no <date_range>; begin/end must come from the file name")
    q = take(("kddi", DOMAIN_B, 16))
    write("quirks/data-range-misspelled.xml", q.xml, [q], note="KDDI-style <data_range> instead of <date_range>")
    q = take(("exempletelecom", DOMAIN_A, 9))
    write("quirks/windows-1252.xml", q.xml, [q], note="encoding=\"windows-1252\", org_name has byte 0xE9")
    q = take(("retailpartner", DOMAIN_B, 22))
    write("quirks/schema-junk.xml", q.xml, [q],
          note="unclosed <xs:schema ...> glued after the XML declaration (not well-formed as is)")

    # ---- everything else as the reporter's normal rua email ----------------
    ctype_google = {(DOMAIN_A, 5): "application/x-zip-compressed", (DOMAIN_A, 12): "application/gzip",
                    (DOMAIN_B, 20): "application/octet-stream"}
    for key in sorted(reports, key=lambda k: (k[1], k[0], k[2])):
        if key in used:
            continue
        rep = take(key)
        base = f"{folder(rep)}/{stem(rep)}"
        r, dom, day = key
        if r == "google":
            write(base + ".eml", email_google(rep, ctype_google.get((dom, day), "application/zip")), [rep])
        elif r in ("outlook", "enterprise"):
            write(base + ".eml", email_microsoft(rep), [rep])
        elif r == "yahoo":
            ct = "application/octet-stream" if (dom, day) in ((DOMAIN_B, 6), (DOMAIN_B, 18)) else "application/gzip"
            write(base + ".eml", email_yahoo(rep, ct), [rep])
        elif r == "mimecast":
            write(base + ".eml", email_mimecast(rep), [rep])
        elif r == "fastmail":
            ct = "application/octet-stream" if day == 7 else "application/gzip"
            write(base + ".eml", email_fastmail(rep, ct), [rep])
        elif r == "examplenet":
            how = "7bitxml" if (dom, day) == (DOMAIN_B, 0) else "b64xml"
            write(base + ".eml", email_examplenet([rep], [how]), [rep])
        else:
            raise AssertionError(key)
    assert used == set(reports), set(reports) - used

    write_malformed()
    return reports


def forwarded_email(rep: Report) -> str:
    inner = email_google(rep, to="postmaster@example.org")
    rng = rng_for("fwd", rep.day)
    sent = rep.end + 2 * DAY + 9 * 3600 + 1234
    bnd = f"------------{hexid(rng, 24).upper()}"
    return (
        f"Message-ID: <{uuid_like(rng)}@example.org>\n"
        f"Date: {rfc2822(sent, 1)}\n"
        f"MIME-Version: 1.0\n"
        f"User-Agent: Mozilla Thunderbird\n"
        f"Content-Language: en-GB\n"
        f"To: dmarc@example.org\n"
        f"From: Alice Martin <alice.martin@example.org>\n"
        f"Subject: Fwd: Report domain: {rep.domain} Submitter: google.com Report-ID:\n"
        f" {rep.report_id}\n"
        f"Content-Type: multipart/mixed; boundary=\"{bnd}\"\n"
        f"\n"
        f"This is a multi-part message in MIME format.\n"
        f"--{bnd}\n"
        f"Content-Type: text/plain; charset=UTF-8; format=flowed\n"
        f"Content-Transfer-Encoding: 7bit\n"
        f"\n"
        f"Hi,\n"
        f"\n"
        f"this one still went to the old postmaster@ address. Forwarding it to the\n"
        f"DMARC mailbox so it gets imported with the rest.\n"
        f"\n"
        f"Alice\n"
        f"\n"
        f"--{bnd}\n"
        f"Content-Type: message/rfc822; charset=UTF-8;\n"
        f" name=\"Report domain: {rep.domain} Submitter: google.com Report-ID: {rep.report_id}.eml\"\n"
        f"Content-Disposition: attachment;\n"
        f" filename=\"Report domain: {rep.domain} Submitter: google.com Report-ID: {rep.report_id}.eml\"\n"
        f"\n" + inner + "\n"
        f"--{bnd}--\n"
    )


def make_mbox(items: list[tuple[str, Report]]) -> bytes:
    out = []
    for text, rep in items:
        m = re.search(r"^Date: (.*)$", text, re.M)
        assert m
        gen = int(rep.report_id.split(".")[0])
        t = datetime.fromtimestamp(gen + 8 * 3600, UTC)
        out.append(f"From noreply@dmarc.yahoo.com {t:%a %b %d %H:%M:%S %Y}\n")
        for ln in text.splitlines():
            if re.match(r"^>*From ", ln):
                ln = ">" + ln
            out.append(ln + "\n")
        out.append("\n")
    return "".join(out).encode("ascii")


# --------------------------------------------------------------------------
# malformed samples
# --------------------------------------------------------------------------

def write_malformed():
    # broken / bad-count / truncated use reports that exist nowhere else
    write("malformed/empty.xml", b"", note="error: empty file (0 bytes)")

    base = make_report("yahoo", DOMAIN_A, 5)
    base.report_id = "1792894312.550119"
    x = gz(render_xml(base))
    write("malformed/truncated.xml.gz", x[: len(x) // 2],
          note="error: gzip stream truncated (cut in half; unexpected end of data)")

    b = make_report("google", DOMAIN_A, 7)
    b.report_id = "7765541209987612230"
    b.records = b.records[:4]
    xml = render_xml(b).decode()
    i = xml.index("</count>")
    xml = xml[:i] + "</cuont>" + xml[i + len("</count>"):]
    write("malformed/broken.xml", xml.encode(),
          note="error: not well-formed XML (<count> closed by </cuont>)")

    c = make_report("outlook", DOMAIN_A, 2)
    c.report_id = "5a0c1f3e9b7d4e21a6c8f00d13579bdf"
    c.records = c.records[:4]
    xml = render_xml(c).decode()
    xml = re.sub(r"<count>\d+</count>", "<count>abc</count>", xml, count=1)
    write("malformed/bad-count.xml", xml.encode(), note="error: <count> is 'abc', not a number")

    write("malformed/not-a-report.eml", not_a_report(), note="error: email without any DMARC report attachment")
    write("malformed/failure-report.eml", failure_report(),
          note="DMARC failure (forensic, RFC 6591 auth-failure) report, not an aggregate report")
    tls_json = tls_report_json()
    write("malformed/smtp-tls-report.json", tls_json, note="SMTP TLS report (RFC 8460), not a DMARC report")
    write("malformed/smtp-tls-report.eml", tls_report_email(tls_json),
          note="SMTP TLS report email (application/tlsrpt+gzip), not a DMARC report")


def not_a_report() -> str:
    pdf = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
           b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
           b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n"
           b"trailer << /Root 1 0 R >>\n%%EOF\n")
    bnd = "----=_Part_48213_1107713533.1793179200000"
    return (
        "From: Billing <billing@hosting-provider.example>\n"
        "To: dmarc@example.com\n"
        "Subject: Your invoice INV-2026-1042 is ready\n"
        f"Date: {rfc2822(D0 + 12 * DAY + 8 * 3600, 1)}\n"
        "Message-ID: <inv-2026-1042.8f3a@hosting-provider.example>\n"
        "MIME-Version: 1.0\n"
        f"Content-Type: multipart/mixed; boundary=\"{bnd}\"\n"
        "\n"
        f"--{bnd}\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        "Hello,\n\nplease find attached invoice INV-2026-1042 for November 2026.\n"
        "The amount will be charged to the card on file.\n\nKind regards,\nBilling team\n"
        "\n"
        f"--{bnd}\n"
        "Content-Type: application/pdf; name=\"INV-2026-1042.pdf\"\n"
        "Content-Disposition: attachment; filename=\"INV-2026-1042.pdf\"\n"
        "Content-Transfer-Encoding: base64\n"
        "\n" + b64(pdf) +
        f"--{bnd}--\n"
    )


def failure_report() -> str:
    ts = D0 + 16 * DAY + 14 * 3600 + 1322
    date = rfc2822(ts, 0)
    bnd = "_----8fb3a1c2d4e5f60718293a4b===_5C/00-31337-9A1B2C3D"
    return (
        "From: dmarc-failure@example.net\n"
        "To: dmarc-ruf@example.com\n"
        "Subject: DMARC Failure report for example.com Mail-From: IP:203.0.113.141\n"
        f"Date: {date}\n"
        "Message-ID: <ruf.20261105.9a1b2c3d@example.net>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=feedback-report;\n"
        f"    boundary=\"{bnd}\"\n"
        "\n"
        f"--{bnd}\n"
        "Content-Type: text/plain; charset=\"US-ASCII\"\n"
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        f"This is an authentication failure report for a message received from IP 203.0.113.141 on {date}.\n"
        "The message did not pass the DMARC check for example.com.\n"
        "\n"
        f"--{bnd}\n"
        "Content-Type: message/feedback-report\n"
        "\n"
        "Feedback-Type: auth-failure\n"
        "User-Agent: ExampleReceiver-ARF/2.3\n"
        "Version: 1\n"
        "Original-Mail-From: <billing@example.com>\n"
        "Original-Rcpt-To: <j.doe@example.net>\n"
        f"Arrival-Date: {date}\n"
        "Source-IP: 203.0.113.141\n"
        "Reported-Domain: example.com\n"
        "Authentication-Results: mx.example.net; dmarc=fail (p=none dis=none) header.from=example.com;\n"
        "    spf=fail smtp.mailfrom=example.com; dkim=none\n"
        "Auth-Failure: dmarc\n"
        "Delivery-Result: delivered\n"
        "\n"
        f"--{bnd}\n"
        "Content-Type: text/rfc822-headers\n"
        "\n"
        "Received: from [203.0.113.141] by mx.example.net; " + date + "\n"
        "From: \"Example Billing\" <billing@example.com>\n"
        "To: j.doe@example.net\n"
        "Subject: Action required: update your payment details\n"
        f"Date: {rfc2822(ts - 60, 0)}\n"
        "Message-ID: <7d1e0f22ab@mailer.invalid>\n"
        "\n"
        f"--{bnd}--\n"
    )


def tls_report_json() -> bytes:
    b = datetime.fromtimestamp(D0 + 15 * DAY, UTC)
    doc = {
        "organization-name": "Google Inc.",
        "date-range": {"start-datetime": f"{b:%Y-%m-%d}T00:00:00Z", "end-datetime": f"{b:%Y-%m-%d}T23:59:59Z"},
        "contact-info": "smtp-tls-reporting@google.com",
        "report-id": f"{b:%Y-%m-%d}T00:00:00Z_example.com",
        "policies": [{
            "policy": {"policy-type": "sts",
                       "policy-string": ["version: STSv1", "mode: testing", "mx: aspmx.l.google.com",
                                         "mx: *.aspmx.l.google.com", "max_age: 604800"],
                       "policy-domain": "example.com"},
            "summary": {"total-successful-session-count": 1873, "total-failure-session-count": 2},
            "failure-details": [{"result-type": "certificate-expired", "sending-mta-ip": "198.51.100.77",
                                 "receiving-mx-hostname": "alt4.aspmx.l.google.com",
                                 "failed-session-count": 2}],
        }],
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def tls_report_email(js: bytes) -> str:
    b = D0 + 15 * DAY
    e = b + DAY - 1
    fname = f"google.com!example.com!{b}!{e}!001.json.gz"
    bnd = "000000000000a1b2c3d4e5f60718"
    return (
        f"Date: {rfc2822(e + 3 * 3600, pacific(e))}\n"
        "TLS-Report-Domain: example.com\n"
        "TLS-Report-Submitter: google.com\n"
        "Message-ID: <6a3f0c21.050a0220.1c2d3.7e8ftls@google.com>\n"
        f"Subject: Report Domain: example.com Submitter: google.com Report-ID: "
        f"<{datetime.fromtimestamp(b, UTC):%Y.%m.%d}T00.00.00Z+example.com@google.com>\n"
        "From: noreply-smtp-tls-reporting@google.com\n"
        "To: tls-reports@example.com\n"
        f"Content-Type: multipart/report; boundary=\"{bnd}\"; report-type=tlsrpt\n"
        "MIME-Version: 1.0\n"
        "\n"
        f"--{bnd}\n"
        "Content-Type: text/plain; charset=\"UTF-8\"; format=flowed; delsp=yes\n"
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        "This is an aggregate TLS report from google.com\n"
        "\n"
        f"--{bnd}\n"
        f"Content-Type: application/tlsrpt+gzip; \n\tname=\"{fname}\"\n"
        f"Content-Disposition: attachment; \n\tfilename=\"{fname}\"\n"
        "Content-Transfer-Encoding: base64\n"
        "\n" + b64(gz(js)) +
        f"--{bnd}--\n"
    )


# --------------------------------------------------------------------------
# independent re-reading and checks
# --------------------------------------------------------------------------

class NotAReport(Exception):
    pass


def _ungzip(data: bytes) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data) + d.flush()
    if not d.eof:
        raise NotAReport("truncated gzip stream")
    return out


def docs_from_blob(data: bytes, name: str = "") -> list[tuple[bytes, str]]:
    """Return the XML documents (bytes, file name) found in a blob."""
    if data[:2] == b"\x1f\x8b":
        inner = name[:-3] if name.endswith(".gz") else name
        return docs_from_blob(_ungzip(data), inner)
    if data[:4] == b"PK\x03\x04":
        out = []
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            assert zf.testzip() is None
            for n in zf.namelist():
                out += docs_from_blob(zf.read(n), n)
        return out
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return [(data, name)]
    if head.startswith(b"{"):
        raise NotAReport("JSON (SMTP TLS report)")
    if not head:
        raise NotAReport("empty")
    return docs_from_email(data)


def docs_from_email(raw: bytes) -> list[tuple[bytes, str]]:
    msg = message_from_bytes(raw, policy=email_policy.compat32)
    out = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        fname = part.get_filename() or ""
        if ctype in ("text/plain", "text/html", "message/feedback-report", "text/rfc822-headers",
                     "application/pdf") and not fname.endswith((".xml", ".gz", ".zip")):
            continue
        if ctype.startswith("application/tlsrpt"):
            raise NotAReport("SMTP TLS report")
        payload = part.get_payload(decode=True)
        if not payload:
            continue
        out += docs_from_blob(payload, fname)
    if not out:
        raise NotAReport("no report in email")
    return out


JUNK = re.compile(rb"<xs:schema[^>]*>")


def parse_doc(xml: bytes, name: str) -> dict:
    xml = JUNK.sub(b"", xml, count=1)
    minidom.parseString(xml)   # well-formedness
    root = ET.fromstring(xml)
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]

    def txt(path):
        e = root.find(path)
        return e.text.strip() if e is not None and e.text else None

    rng = root.find("report_metadata/date_range")
    if rng is None:
        rng = root.find("report_metadata/data_range")
    if rng is not None:
        begin, end = int(rng.findtext("begin").strip()), int(rng.findtext("end").strip())
    else:
        m = re.search(r"!(\d{9,})!(\d{9,})", name)
        begin, end = int(m.group(1)), int(m.group(2))
    s = dict(org_name=txt("report_metadata/org_name"), report_id=txt("report_metadata/report_id"),
             policy_domain=txt("policy_published/domain").lower(), records=0, messages=0, dmarc_pass=0,
             spf_aligned_pass=0, dkim_aligned_pass=0, begin=begin, end=end)
    by_source: dict[str, int] = {}
    for rec in root.findall("record"):
        cnt = int(rec.findtext("row/count").strip())
        ip = rec.findtext("row/source_ip").strip()
        dk = rec.findtext("row/policy_evaluated/dkim").strip().lower()
        sp = rec.findtext("row/policy_evaluated/spf").strip().lower()
        s["records"] += 1
        s["messages"] += cnt
        s["dmarc_pass"] += cnt if "pass" in (dk, sp) else 0
        s["dkim_aligned_pass"] += cnt if dk == "pass" else 0
        s["spf_aligned_pass"] += cnt if sp == "pass" else 0
        src = SOURCE_OF_IP.get(ip, {ALUMNI_FORWARDER_IP: "forwarder", MAILING_LIST_IP: "mailing-list"}.get(ip, "other"))
        by_source[src] = by_source.get(src, 0) + cnt
    return {"summary": s, "by_source": by_source}


def read_file(p: Path) -> list[dict]:
    data = p.read_bytes()
    if p.suffix == ".mbox":
        out = []
        for msg in mailbox.mbox(str(p)):
            for xml, n in docs_from_email(msg.as_bytes()):
                out.append(parse_doc(xml, n))
        return out
    return [parse_doc(x, n or p.name) for x, n in docs_from_blob(data, p.name)]


def verify(reports: dict):
    problems = []
    seen: dict[tuple, dict] = {}
    files_per_kind: dict[str, int] = {}
    for rel, entry in sorted(EXPECTED.items()):
        p = HERE / rel
        if p.suffix == ".gz" and not rel.startswith("malformed/"):
            with gzip.open(p) as fh:
                fh.read()
        if p.suffix == ".zip":
            with zipfile.ZipFile(p) as zf:
                assert zf.testzip() is None
        expect = entry["aggregate_reports"]
        try:
            got = read_file(p)
        except (NotAReport, ET.ParseError, Exception) as exc:  # noqa: BLE001
            if expect:
                problems.append(f"{rel}: unexpected failure {exc!r}")
            continue
        if not expect:
            problems.append(f"{rel}: expected an error but read {len(got)} report(s)")
            continue
        gs = [g["summary"] for g in got]
        if gs != expect:
            problems.append(f"{rel}: re-read {gs} != expected {expect}")
        for g in got:
            seen[(g["summary"]["org_name"], g["summary"]["report_id"])] = g
        kind = rel.split("/")[0]
        files_per_kind[kind] = files_per_kind.get(kind, 0) + 1
    # the deliberately malformed ones must fail for the documented reason
    for rel in ("malformed/broken.xml",):
        try:
            minidom.parseString((HERE / rel).read_bytes())
            problems.append(f"{rel}: unexpectedly well-formed")
        except Exception:  # noqa: BLE001
            pass
    try:
        gzip.decompress((HERE / "malformed/truncated.xml.gz").read_bytes())
        problems.append("truncated.xml.gz decompressed")
    except (EOFError, OSError):
        pass
    # every model report was found exactly once (as a distinct report)
    model_ids = {(r.org_name, r.report_id) for r in reports.values()}
    if set(seen) != model_ids:
        problems.append(f"report id mismatch: missing {model_ids - set(seen)}, extra {set(seen) - model_ids}")
    if len(model_ids) != len(reports):
        problems.append("report ids are not unique")
    # the only duplicate is the Google report as .eml + .zip
    occurrences: dict[tuple, list[str]] = {}
    for rel, entry in EXPECTED.items():
        for s in entry["aggregate_reports"]:
            occurrences.setdefault((s["org_name"], s["report_id"]), []).append(rel)
    dups = {k: v for k, v in occurrences.items() if len(v) > 1}
    if len(dups) != 1:
        problems.append(f"expected exactly one duplicated report, got {dups}")
    return seen, problems, dups


def print_summary(reports: dict, seen: dict, dups: dict):
    print()
    print(f"{'':28}{'example.com':>14}{'example.org':>14}")
    tot = {d: {"messages": 0, "dmarc_pass": 0, "sendgrid": 0, "zendesk": 0, "spoof/other": 0,
               "reports": 0, "records": 0} for d in (DOMAIN_A, DOMAIN_B)}
    per_rep: dict[str, dict[str, int]] = {}
    for (org, rid), g in seen.items():
        s = g["summary"]
        t = tot[s["policy_domain"]]
        t["messages"] += s["messages"]
        t["dmarc_pass"] += s["dmarc_pass"]
        t["records"] += s["records"]
        t["reports"] += 1
        t["sendgrid"] += g["by_source"].get("sendgrid", 0)
        t["zendesk"] += g["by_source"].get("zendesk", 0)
        t["spoof/other"] += g["by_source"].get("other", 0)
        per_rep.setdefault(org, {DOMAIN_A: 0, DOMAIN_B: 0})[s["policy_domain"]] += 1
    for k in ("reports", "records", "messages", "dmarc_pass", "sendgrid", "zendesk", "spoof/other"):
        label = {"dmarc_pass": "messages passing DMARC", "sendgrid": "messages from SendGrid",
                 "zendesk": "messages from Zendesk", "spoof/other": "messages from unknown IPs"}.get(k, k)
        print(f"{label:28}{tot[DOMAIN_A][k]:>14}{tot[DOMAIN_B][k]:>14}")
    for d in (DOMAIN_A, DOMAIN_B):
        t = tot[d]
        print(f"  {d}: DMARC pass rate {100.0 * t['dmarc_pass'] / t['messages']:.2f}%")
    print()
    print(f"{'reports per reporter':28}{'example.com':>14}{'example.org':>14}")
    for org in sorted(per_rep):
        print(f"  {org:26}{per_rep[org][DOMAIN_A]:>14}{per_rep[org][DOMAIN_B]:>14}")
    print()
    for k, v in dups.items():
        print(f"deliberate duplicate: {k[0]} {k[1]} in {', '.join(v)}")


def main():
    clean_previous()
    reports = build()
    EXPECTED_FILE.write_text(json.dumps(EXPECTED, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    seen, problems, dups = verify(reports)
    size = sum(p.stat().st_size for p in HERE.rglob("*") if p.is_file())
    print(f"wrote {len(EXPECTED)} sample files under {HERE} and {EXPECTED_FILE} ({size / 1e6:.2f} MB in total)")
    print_summary(reports, seen, dups)
    if problems:
        print("\nPROBLEMS:")
        for p in problems:
            print("  " + p)
        sys.exit(1)
    print("\nall checks passed")


if __name__ == "__main__":
    main()
