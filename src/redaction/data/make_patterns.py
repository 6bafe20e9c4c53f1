#!/usr/bin/env python3
"""Writes policies/redaction/names.yaml and addresses.yaml from names.yaml.in and
addresses.yaml.in (here), putting in the patterns built below from named parts — read this file
to see what the long patterns in those rule sets are made of. Run it after changing a part:
    src/redaction/data/make_patterns.py
Every repeat is bounded (words of at most 20-24 letters, at most 4 spaces, at most 3 titles…)
so each pattern has a bounded length and long texts are searched only where it can match
(src/redaction/redactor.cc); Latin letter classes, not \\p{L}: smaller automata, and the
detector's lists are Latin-script names anyway.
"""
import json, os, re

HERE = os.path.dirname(os.path.abspath(__file__))
RULES = os.path.join(HERE, "..", "..", "..", "policies", "redaction")

# Letters of the Latin-1 and Latin Extended-A blocks: capitals (Latin-1 only, and for names the
# Extended-A capitals of Polish, Czech and Croatian names too) and lower case.
UP1 = r"[A-Z\x{C0}-\x{D6}\x{D8}-\x{DE}]"
LO = r"[a-z\x{DF}-\x{F6}\x{F8}-\x{FF}\x{100}-\x{17F}]"

# --- names ---------------------------------------------------------------------------------
UP = r"[A-Z\x{C0}-\x{D6}\x{D8}-\x{DE}\x{106}\x{10C}\x{141}\x{15A}\x{160}\x{179}\x{17B}\x{17D}]"
WORD = f"{UP}(?:{LO}{{1,24}}|['\u2019][A-Za-z\\x{{C0}}-\\x{{17F}}]{LO}{{1,24}})(?:{UP}{LO}{{1,24}})?(?:-{UP}{LO}{{1,24}})?"
INIT = f"{UP}\\."
PART = r"(?:van|von|de|der|den|di|da|del|della|dello|dei|des|du|la|le|dos|das|do|ter|ten|zu|vom|zum|y|bin|al|el)"
# Where a name starts and ends: not inside a word. RE2's \\b is ASCII-only (it sees a boundary
# between "Jos" and "é"), so the letters of the Latin blocks count as word characters here; the
# character read is outside the value.
START = r"(?:^|[^A-Za-z0-9_\x{C0}-\x{24F}])"
END = r"(?:$|[^A-Za-z0-9_\x{C0}-\x{24F}])"
def run(lo, hi):
    return f"{WORD}(?:[ \\t]{{1,4}}(?:{INIT}[ \\t]{{1,4}})?(?:{PART}[ \\t]{{1,4}}){{0,2}}{WORD}){{{lo},{hi}}}"
TITLES = r"(?:(?i:mr|mrs|ms|mx|miss|dr|prof|herr|frau|hr|fr|mme|mlle|monsieur|madame|mademoiselle|sr|sra|srta|señor|señora|señorita|don|doña|dott|dott\.ssa|dr\.ssa|sig|sig\.ra|sig\.na|signor|signora|signorina|dhr|mevr|mw|mevrouw|meneer|ing|avv)\.?|M\.|med\.)"
TITLE_CHAIN = f"(?:{TITLES}[ \\t]{{1,4}})"
SAL = r"(?i:dear|dearest|hi|hello|hey|hallo|liebe|lieber|sehr geehrte|sehr geehrter|bonjour|bonsoir|salut|cher|chère|chers|estimado|estimada|querido|querida|hola|gentile|gentilissimo|gentilissima|caro|cara|egregio|ciao|salve|beste|geachte|hoi)"
# Labels that name a name: "first_name=Lena", "Nachname: Weber" (a colon or an equals sign).
LABEL_NAME = r"(?i:patient[ _-]?name|full[ _-]?name|first[ _-]?name|last[ _-]?name|surname|given[ _-]?name|family[ _-]?name|pr[ée]nom|nom complet|apellidos?|nombre completo|cognome|nome completo|voornaam|achternaam|vorname|nachname)"
# Labels of a person's role, and a bare "name": only before a colon ("Patient: …", "From: …"),
# not "=", which in code is an assignment (client = OpenAI(…), name = "default").
LABEL_ROLE = r"(?i:patient(?:in)?|name|nom|nombre|nome|naam|paciente|paziente|patiënt|client|cliente|klant|customer|kunde|kundin|employee|mitarbeiter(?:in)?|contact(?: person)?|ansprechpartner(?:in)?|attn|c/o|signed(?: by)?|referred by|referring physician|physician|attending|provider|doctor|arzt|ärztin|médecin|médico|medico|nurse|guardian|next of kin|emergency contact|mother|father|spouse|husband|wife|from|to|cc|author|owner|assignee|reporter|requester|applicant|candidate|tenant|witness|insured|policyholder|beneficiary|versicherte[rn]?|titulaire|assurée?|intestatario|titular)"
SIGN = r"(?i:regards|best|best wishes|thanks|many thanks|thank you|sincerely|cheers|yours|yours truly|yours sincerely|kind regards|best regards|warm regards|mit freundlichen grü(?:ß|ss)en|freundliche grü(?:ß|ss)e|viele grü(?:ß|ss)e|beste grü(?:ß|ss)e|liebe grü(?:ß|ss)e|lg|mfg|cordialement|bien cordialement|bien à vous|salutations|amicalement|atentamente|saludos|un saludo|cordiales saludos|un abrazo|cordiali saluti|distinti saluti|saluti|un saluto|met vriendelijke groet(?:en)?|vriendelijke groet(?:en)?|groeten|hartelijke groet(?:en)?|mvg)"
JSONKEY = r"(?i:patient_?name|full_?name|first_?name|last_?name|given_?name|family_?name|surname|display_?name|contact_?name|customer_?name|client_?name|employee_?name|vorname|nachname|pr[ée]nom|nom|nombre|apellidos?|nome|cognome|voornaam|achternaam|naam|author|owner|assignee)"
rules = {
 'title': f"\\b{TITLE_CHAIN}{{1,3}}({run(0,3)}){END}",
 'salutation': f"\\b{SAL}[ \\t]{{1,4}}{TITLE_CHAIN}{{0,3}}({run(0,3)}){END}",
 'label': f"\\b(?:{LABEL_NAME}[ \\t]{{0,4}}[:=]|{LABEL_ROLE}[ \\t]{{0,4}}:)[ \\t]{{0,4}}[\"']?{TITLE_CHAIN}{{0,3}}({run(0,3)}){END}",
 'json': f"[\"']{JSONKEY}[\"'][ \\t]{{0,4}}:[ \\t]{{0,4}}[\"']{TITLE_CHAIN}{{0,3}}({run(0,3)}){END}",
 'sign': f"\\b{SIGN}[ \\t]{{0,4}}[,.!]?[ \\t]{{0,4}}\\r?\\n(?:[ \\t]{{0,4}}--[ \\t]{{0,4}}\\r?\\n)?[ \\t]{{0,4}}{TITLE_CHAIN}{{0,3}}({run(0,3)}){END}",
 'list': f"{START}({run(1,3)}){END}",
}
names = rules

# --- addresses -----------------------------------------------------------------------------
W = rf"{UP1}{LO}{{1,20}}(?:[-'’]{UP1}?{LO}{{1,20}}){{0,2}}"  # a capitalised word
ORD = r"\d{1,3}(?:st|nd|rd|th)"
# The common street suffixes of USPS Publication 28 (names and abbreviations) and UK ones.
EN_TYPES = r"(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|square|sq|terrace|ter|way|parkway|pkwy|highway|hwy|circle|cir|close|crescent|cres|grove|grv|gardens|gdns|mews|row|walk|trail|trl|plaza|plz|alley|parade|esplanade|wharf|center|ctr|extension|ext|glen|gln|heights|hts|junction|jct|loop|manor|mnr|mill|park|pass|path|pike|point|pt|ridge|rdg|turnpike|tpke|view|vw|green|mount|valley)"
UNIT = r"(?:,?[ \t]{1,4}(?i:apt|apartment|suite|ste|unit|flat|floor|fl|room|rm)\.?[ \t]{0,4}#?[A-Za-z0-9-]{1,6}|[ \t]{1,4}#[A-Za-z0-9-]{1,6})?"
CITY = rf"{W}(?:[ \t]{W}){{0,2}}"
US_TAIL = rf"(?:,[ \t]{{0,3}}{CITY},?[ \t]{{1,4}}[A-Z]{{2}}[ \t]{{1,4}}\d{{5}}(?:-\d{{4}})?|,[ \t]{{0,3}}{CITY}[ \t]{{1,4}}[A-Z]{{1,2}}\d[A-Z\d]?[ \t]\d[A-Z]{{2}})?"
en = (rf"\b(?:(?i:flat|apartment|apt|unit|suite)[ \t]{{1,4}}[A-Za-z0-9]{{1,5}},?[ \t]{{1,4}})?\d{{1,5}}[A-Za-z]?(?:-\d{{1,5}})?,?[ \t]{{1,4}}"
      rf"(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?[ \t]{{1,4}})?(?:(?:{W}|{ORD})[ \t]{{1,4}}){{1,3}}{EN_TYPES}\b\.?{UNIT}{US_TAIL}")
# German, Austrian, Swiss and Dutch: the street type glued to the name (Hauptstraße, Keizersgracht)
# or after it (Berliner Straße), or a preposition first (Am Markt); the number after the name.
GLUED = r"(?i:stra(?:ß|ss)e|str\.|gasse|allee|platz|chaussee|damm|ufer|weg|straat|laan|plein|gracht|kade|singel|steeg|dijk|dreef)"
SEP = r"(?:Stra(?:ß|ss)e|Str\.|Gasse|Allee|Platz|Chaussee|Damm|Ufer|Weg|Ring|Markt|Straat|Laan|Plein|Weg|Kade)"
PREP = r"(?:Am|An der|An den|Auf dem|Auf der|Im|In der|In den|Unter den|Zum|Zur|Hinter der|Vor dem)"
POST_DE = rf"(?:,?[ \t]{{0,3}}(?:[A-Z]{{1,2}}-)?(?:\d{{5}}|\d{{4}}(?:[ \t]?[A-Z]{{2}})?)[ \t]{{1,4}}{W}(?:[ \t-]{W})?)?"
# German street names may start with an umlaut (Ölmühlenweg 4): ASCII \\b cannot see that start,
# so the character before is read (START, outside the value: the capturing group).
de = (rf"{START}((?:{UP1}{LO}{{0,20}}(?:-{UP1}{LO}{{1,20}}){{0,3}}-?{GLUED}|{W}(?:[ \t-]{W})?[ \t-]{SEP}|{PREP}[ \t]{{1,4}}{W})"
      rf"[ \t]{{1,4}}\d{{1,4}}(?:[ \t]?[a-zA-Z]\b)?(?:[ \t]{{0,3}}[-/][ \t]{{0,3}}\d{{1,4}}[a-z]?)?\b{POST_DE})")
FR_TYPES = r"(?i:rue|avenue|av\.|bd|boulevard|place|pl\.|chemin|ch\.|allée|allee|impasse|imp\.|quai|route|rte|cours|square|passage|faubourg|fbg|voie|sentier|esplanade|parvis|rond-point|villa|cité|hameau|lieu-dit)"
ART = r"(?:(?:de la|de l['’]|du|des|de|d['’]|l['’]|la|le|les|aux|au)[ \t]{0,4})"
LINK = r"(?:(?:de la|de l['’]|du|des|de|d['’]|la|le|les|l['’]|et|sur|sous|en|aux|au)[ \t]{0,4})"
POST5 = rf"(?:,?[ \t]{{0,3}}\d{{5}}[ \t]{{1,4}}{W}(?:[ \t-]{W}){{0,2}})?"
fr = (rf"\b\d{{1,4}}(?:[ \t]?(?:bis|ter|quater|[A-Da-d]\b))?,?[ \t]{{1,4}}{FR_TYPES}[ \t]{{1,4}}{ART}?{W}(?:[ \t-]{LINK}?{W}){{0,3}}{POST5}")
ES_TYPES = r"(?i:calle|c/|avenida|avda\.?|av\.|plaza|pza\.?|paseo|p\.?º|camino|carrer|carretera|ctra\.|ronda|travesía|travesia|glorieta|rambla)"
ES_LINK = r"(?:(?:de la|de los|de las|del|de|la|el|los|las|y|d['’])[ \t]{1,4})"
es = (rf"\b{ES_TYPES}[ \t]{{0,3}}{ES_LINK}?(?:{W}|\d{{1,2}}[ \t]de[ \t]{W})(?:[ \t]{{1,4}}{ES_LINK}?{W}){{0,3}},?[ \t]{{1,4}}"
      rf"(?:(?i:n[º°o]\.?|núm\.?|num\.?)[ \t]{{0,3}})?\d{{1,4}}(?:[ \t]{{0,3}},?[ \t]{{0,3}}\d{{1,2}}[º°ª]?(?:[ \t]?[A-Za-z])?\b)?{POST5}")
IT_TYPES = r"(?i:via|viale|v\.le|piazza|p\.za|p\.zza|piazzale|p\.le|corso|c\.so|largo|l\.go|vicolo|strada|contrada|c\.da|lungomare|lungotevere|lungarno|lungolago|borgo|salita|traversa|circonvallazione|calle|campo|campiello|fondamenta|riva|rampa|località|loc\.|frazione|fraz\.)"
IT_LINK = r"(?:(?:dei|del|della|delle|degli|dello|di|da|de|al|alla|e)[ \t]{1,4}|(?:dell|sant|dall)['’])"
POST_IT = rf"(?:,?[ \t]{{0,3}}(?:I-)?\d{{5}}[ \t]{{1,4}}{W}(?:[ \t]{W})?(?:[ \t]{{0,3}}\([A-Z]{{2}}\))?)?"
IT_TOK = rf"(?:{IT_LINK}?(?:{W}|[IVX]{{1,4}}))"
it = (rf"\b{IT_TYPES}[ \t]{{1,4}}{IT_TOK}(?:[ \t]{{1,4}}{IT_TOK}){{0,3}},?[ \t]{{0,3}}"
      rf"(?:n\.?[ \t]{{0,3}})?\d{{1,4}}(?:[ \t]?/?[ \t]?[A-Za-z]\b)?{POST_IT}")
addresses = {'en': en, 'de': de, 'fr': fr, 'es': es, 'it': it}


def quoted(pattern):
    return "'" + pattern.replace("'", "''") + "'"


for template, patterns, out in [("names.yaml.in", names, "names.yaml"), ("addresses.yaml.in", addresses, "addresses.yaml")]:
    with open(os.path.join(HERE, template), encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"@@(\w+)@@", lambda m: quoted(patterns[m.group(1)]), text)
    with open(os.path.join(RULES, out), "w", encoding="utf-8") as f:
        f.write(text)
    print("written", os.path.normpath(os.path.join(RULES, out)))
