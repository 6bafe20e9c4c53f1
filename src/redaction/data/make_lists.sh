#!/bin/sh
# Regenerates given-names.txt, surnames.txt and given-names-ambiguous.txt (README.md here).
# Needs: npm, node, python3, /usr/share/dict/american-english (apt install wamerican).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack @faker-js/faker@10.6.0 >/dev/null
tar xzf faker-js-faker-10.6.0.tgz
cat > extract.mjs <<'JS'
import * as F from './package/dist/index.js';
import fs from 'fs';
const locales = [F.fakerEN, F.fakerEN_GB, F.fakerEN_US, F.fakerDE, F.fakerDE_AT, F.fakerDE_CH,
                 F.fakerFR, F.fakerES, F.fakerIT, F.fakerNL];
const flat = (v) => !v ? [] : Array.isArray(v) ? v.flatMap((x) => typeof x === 'object' ? (x.value ? [x.value] : flat(x)) : [x])
                   : typeof v === 'object' ? Object.values(v).flatMap(flat) : [v];
const given = new Set(), sur = new Set();
for (const f of locales) {
  const p = f.rawDefinitions.person || {};
  flat(p.first_name).forEach((x) => given.add(x));
  flat(p.last_name).forEach((x) => sur.add(x));
}
fs.writeFileSync('given.txt', [...given].join('\n') + '\n');
fs.writeFileSync('sur.txt', [...sur].join('\n') + '\n');
JS
node extract.mjs
python3 - "$here" <<'PY'
import sys, unicodedata
here = sys.argv[1]
def ok(tok):
    return tok[:1].isupper() and len(tok) >= 2 and all(c.isalpha() or c in "-'" for c in tok)
def words(path):
    out = set()
    for line in open(path, encoding="utf-8"):
        for tok in unicodedata.normalize("NFC", line.strip()).replace("\u2019", "'").split():
            if ok(tok):
                out.add(tok)
    return out
given, sur = words("given.txt"), words("sur.txt")
open(f"{here}/given-names.txt", "w").write("\n".join(sorted(given)) + "\n")
open(f"{here}/surnames.txt", "w").write("\n".join(sorted(sur)) + "\n")
dictionary = {w.strip() for w in open("/usr/share/dict/american-english") if w.strip().isalpha() and w.strip().islower()}
common_first = set("""John Peter Maria Martin Harry Jack Tom Mike Nick Matt Josh Chad Brad Ken Terry Victor Hector
Roger Dieter Dirk Jimmy Billy Bobby Eddy Ed Tony Rick Eve Sally Sue Carol Colleen Amir Emir Serge Sander Mats Mads
Marten Homer Newton Clement Warren Wade Troy Drew Dale Glen Lee Gene Earl Pierce Ester Phoebe Rhea Julienne Barney
Beryl Curt Derrick Garret Jarred Jasper Mason Maxim Sibyl Silvan Sylvan Marina Marquis Hank Buck Rogers Cooper Miller
Turner Porter Walker Foster Chandler Tanner Griffin Marlin Roman Patty Patsy Sherry Sandy Randy Rocky Rusty Sonny
Buster Bonnie Lacy Fanny Waldo Wellington Boas Tad Sim Ward Freeman Levy Noel Robin Raven Rosemary Savannah Sierra
Magnolia Dahlia Amaryllis Margarita Octave Vesper Talon""".split())
places = set("""London Paris Florence Victoria Georgia Virginia Austin Dallas Jordan Sydney Madison Lincoln Washington
Chelsea Brooklyn Phoenix Orlando Denver Houston Aurora Camden Kent Devon Chester Hudson Lourdes Siena Roma Verona
Adelaide Geneva Valencia Regina Cleveland Tyler Dakota Montana Nevada Carolina India China Kenya Africa Asia America
Europa Israel Egypt Lorraine Normandie Bretagne Provence Alsace Savoie Toscana Calabria Sicilia Umbria Ravenna Modena
Bologna Milano Napoli Genova Trento Palermo Vienna Luzern Zurich Bern Brussels Gent Antwerpen Utrecht Haarlem Leiden
Delft Breda Emmen Sevilla Granada Toledo Malaga Murcia Alicante Santiago Barcelona Madrid Salamanca Lugo Soria Leon
Cordoba Ibiza Florida California Indiana Louisiana Alabama Arizona Cuba Jamaica Chile Peru Argentina Bolivia Panama
Trinity Easter Christmas Halloween January February March April June July August September October November
December Monday Tuesday Wednesday Thursday Friday Saturday Sunday""".split())
ambiguous = ({g for g in given if g.lower() in dictionary} - common_first) | (places & given)
open(f"{here}/given-names-ambiguous.txt", "w").write("\n".join(sorted(ambiguous)) + "\n")
PY
echo "written: $here/given-names.txt surnames.txt given-names-ambiguous.txt"
