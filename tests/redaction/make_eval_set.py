#!/usr/bin/env python3
"""Writes eval_set.jsonl: labelled snippets for measuring the shipped redaction rules.

Positives: realistic sentences carrying valid identifiers (checksums computed here, the same
algorithms the validators implement, written independently). Negatives: snippets that look like
identifiers but are not — card-like numbers failing Luhn, dates, order ids, versions, times,
hashes, UUIDs, IBANs with a wrong check, SSNs in invalid ranges, short codes.
Deterministic (fixed seed): re-running it produces the same file.   usage: make_eval_set.py > eval_set.jsonl
"""
import json, random

rng = random.Random(20261124)
rows = []

def luhn_check(d):
    s = 0
    for i, ch in enumerate(reversed(d)):
        x = int(ch)
        if i % 2 == 1:
            x *= 2
            if x > 9: x -= 9
        s += x
    return s % 10 == 0

def with_luhn(prefix, length):
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    for c in "0123456789":
        if luhn_check(body + c): return body + c

def group4(d): return " ".join(d[i:i+4] for i in range(0, len(d), 4))

def iban(country, bban):
    num = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(num) % 97
    return f"{country}{check:02d}{bban}"

def de_tax():
    while True:
        d = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(9))
        product = 10
        for ch in d:
            s = (int(ch) + product) % 10 or 10
            product = (s * 2) % 11
        c = (11 - product) % 10
        return d + str(c)

def nir():
    body = f"{rng.choice('12')}{rng.randint(40, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 95):02d}{rng.randint(1, 999):03d}{rng.randint(1, 999):03d}"
    return body + f"{97 - int(body) % 97:02d}"

ODD = [1,0,5,7,9,13,15,17,19,21,1,0,5,7,9,13,15,17,19,21,2,4,18,20,11,3,6,8,12,14,16,10,22,25,24,23]
def cf():
    L = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    s = "".join(rng.choice(L) for _ in range(6)) + f"{rng.randint(0, 99):02d}" + rng.choice("ABCDEHLMPRST") + \
        f"{rng.randint(1, 71):02d}" + rng.choice(L) + f"{rng.randint(100, 999)}"
    t = 0
    for i, c in enumerate(s):
        idx = int(c) if c.isdigit() else ord(c) - 55
        t += ODD[idx] if i % 2 == 0 else (int(c) if c.isdigit() else ord(c) - 65)
    return s + chr(65 + t % 26)

DNI = "TRWAGMYFPDXBNJZSQVHLCKE"
def dni():
    n = rng.randint(10000000, 99999999)
    return f"{n}{DNI[n % 23]}"
def nie():
    p = rng.choice("XYZ"); n = rng.randint(1000000, 9999999)
    return f"{p}{n}{DNI[int(str('XYZ'.index(p)) + str(n)) % 23]}"

def nino():
    first = rng.choice("ABCEGHJKLMNOPRSTWXYZ"); second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    if first + second in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"): second = "A"
    return f"{first}{second}{rng.randint(0, 999999):06d}{rng.choice('ABCD')}"

def bsn():
    while True:
        d = [rng.randint(0, 9) for _ in range(8)]
        s = sum((9 - i) * d[i] for i in range(8))
        last = s % 11
        if last < 10: return "".join(map(str, d)) + str(last)

def npi():
    body = str(rng.choice([1, 2])) + "".join(str(rng.randint(0, 9)) for _ in range(8))
    for c in "0123456789":
        if luhn_check("80840" + body + c): return body + c

def dea():
    d = [rng.randint(0, 9) for _ in range(6)]
    c = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    return rng.choice("ABFM") + rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") + "".join(map(str, d)) + str(c)

def ssn():
    return f"{rng.randint(1, 899):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}".replace("666-", "667-")

NAMES = ["anna", "bjorn", "chloe", "dmitri", "elena", "farid", "grace", "hugo", "ines", "jonas"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "clinic.example.de", "uni.example.ac.uk"]

def pos(template, entity, value):
    rows.append({"text": template.format(value), "entities": [{"type": entity, "value": value}]})

for _ in range(30):
    pos("Please forward the report to {} by Friday.", "EMAIL", f"{rng.choice(NAMES)}.{rng.choice(NAMES)}{rng.randint(1,99)}@{rng.choice(DOMAINS)}")
for _ in range(25):
    pos("Charge the card {} for the renewal.", "CREDIT_CARD", group4(with_luhn(rng.choice(["4", "51", "55", "2221"]), 16)))
for _ in range(10):
    pos("Amex on file: {}", "CREDIT_CARD", with_luhn(rng.choice(["34", "37"]), 15))
for _ in range(20):
    b = "".join(str(rng.randint(0, 9)) for _ in range(18))
    v = iban("DE", b)
    pos("Wire it to IBAN {} please.", "IBAN", group4(v) if rng.random() < 0.5 else v)
for _ in range(10):
    b = "".join(str(rng.randint(0, 9)) for _ in range(23))
    pos("Compte: {}", "IBAN", iban("FR", b))
for _ in range(25):
    pos("Her SSN is {} according to the form.", "US_SSN", ssn())
for _ in range(20):
    pos("Server {} is down again.", "IP_ADDRESS", f"{rng.randint(1,223)}.{rng.randint(0,255)}.{rng.randint(0,255)}.{rng.randint(1,254)}")
for _ in range(20):
    pos("Call me on {} tomorrow.", "PHONE", f"+{rng.choice(['44 20', '49 30', '33 1', '1 415'])} {rng.randint(100,999)} {rng.randint(1000,9999)}")
for _ in range(15):
    pos("Steuer-ID: {}", "DE_TAX_ID", de_tax())
for _ in range(15):
    pos("Numéro de sécurité sociale {}.", "FR_NIR", nir())
for _ in range(15):
    pos("Codice fiscale {} allegato.", "IT_CODICE_FISCALE", cf())
for _ in range(10):
    pos("DNI {} del titular.", "ES_DNI_NIE", dni())
for _ in range(10):
    pos("NIE {} del titular.", "ES_DNI_NIE", nie())
for _ in range(15):
    pos("NI number {} on the payslip.", "UK_NINO", nino())
for _ in range(15):
    v = bsn()
    rows.append({"text": f"BSN {v} staat op de pas.", "entities": [{"type": "NL_BSN", "value": v}]})
for _ in range(15):
    v = npi()
    rows.append({"text": f"Referring provider NPI: {v}.", "entities": [{"type": "US_NPI", "value": v}]})
for _ in range(15):
    pos("Prescriber DEA {} verified.", "DEA_NUMBER", dea())
for _ in range(10):
    k = "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
    pos("export AWS_ACCESS_KEY_ID={}", "AWS_ACCESS_KEY", k)
for _ in range(10):
    k = "ghp_" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(36))
    pos("token = {}", "GITHUB_TOKEN", k)

# Tricky negatives: each must produce no entity at all.
neg = []
for _ in range(60):  # card-shaped numbers that fail Luhn
    d = with_luhn(rng.choice(["4", "51", "55"]), 16)
    bad = d[:-1] + str((int(d[-1]) + rng.randint(1, 9)) % 10)
    neg.append(f"Card {group4(bad)} was declined (typo).")
for _ in range(40):
    neg.append(f"Invoice dated {rng.randint(2000, 2030)}-{rng.randint(1,12):02d}-{rng.randint(1,28):02d} is overdue.")
for _ in range(40):
    neg.append(f"Order #{rng.randint(10**7, 10**10)} shipped in {rng.randint(2, 9)} boxes.")
for _ in range(30):
    neg.append(f"Upgrade to version {rng.randint(0, 20)}.{rng.randint(0, 40)}.{rng.randint(0, 99)} before Monday.")
for _ in range(20):
    neg.append(f"The meeting moved to {rng.randint(0,23):02d}:{rng.randint(0,59):02d}:{rng.randint(0,59):02d} UTC.")
for _ in range(20):
    neg.append("Commit " + "".join(rng.choice("0123456789abcdef") for _ in range(40)) + " fixed it.")
for _ in range(20):
    h = "".join(rng.choice("0123456789abcdef") for _ in range(32))
    neg.append(f"Request id {h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]} failed.")
for _ in range(20):  # IBAN-shaped with a wrong check
    b = "".join(str(rng.randint(0, 9)) for _ in range(18))
    v = iban("DE", b)
    wrong = v[:2] + f"{(int(v[2:4]) + rng.randint(1, 50)) % 100:02d}" + v[4:]
    if wrong != v: neg.append(f"Reference {wrong} is not an account.")
for _ in range(20):  # SSNs in invalid ranges
    neg.append(f"Sample id {rng.choice(['000', '666', '9' + str(rng.randint(10, 99))])}-{rng.randint(1,99):02d}-{rng.randint(1,9999):04d} is a placeholder.")
for _ in range(15):
    neg.append(f"ISBN 978-{rng.randint(0,9)}-{rng.randint(100,999)}-{rng.randint(10000,99999)}-{rng.randint(0,9)} is in stock.")
for _ in range(15):
    neg.append(f"Room {rng.randint(100, 999)}, floor {rng.randint(1, 40)}, building {rng.choice('ABCDEFG')}.")
for _ in range(15):
    neg.append(f"Tracking 1Z{''.join(rng.choice('0123456789ABCDEF') for _ in range(16))} in transit.")
for _ in range(10):
    neg.append(f"Scores were {rng.randint(10,99)}:{rng.randint(10,99)} and {rng.randint(1,9)}:{rng.randint(1,9)}.")
for _ in range(10):
    neg.append(f"Dial extension {rng.randint(1000, 9999)} for support.")
for _ in range(10):
    neg.append(f"Batch {rng.randint(10**8, 10**9 - 1)} passed QA; see bsn-free record.")
for _ in range(10):
    neg.append(f"Product code {rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{rng.randint(1000000, 9999999)} restocked.")
for t in neg:
    rows.append({"text": t, "entities": []})

for r in rows:
    print(json.dumps(r, ensure_ascii=False))
