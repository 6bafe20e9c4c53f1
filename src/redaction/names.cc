#include "redaction/names.h"

#include <unordered_set>
#include <vector>

namespace warden {
namespace {

using WordSet = std::unordered_set<std::string_view>;

// One word per line; '#' starts a comment line. The views point into the embedded data.
WordSet ReadList(std::string_view file) {
  for (const EmbeddedFile* f = name_lists::kFiles; f->name; ++f) {
    if (file != f->name) continue;
    WordSet words;
    std::string_view text = f->text();
    while (!text.empty()) {
      size_t nl = text.find('\n');
      std::string_view line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
      if (!line.empty() && line[0] != '#') words.insert(line);
    }
    return words;
  }
  return {};
}

struct Lists {
  WordSet given = ReadList("given-names.txt");
  WordSet ambiguous = ReadList("given-names-ambiguous.txt");
  WordSet surnames = ReadList("surnames.txt");
  WordSet stop = ReadList("name-stopwords.txt");
  std::vector<std::string_view> stop_suffixes;  // "-straße" lines, without the '-'
  Lists() {
    for (auto it = stop.begin(); it != stop.end();) {
      if (it->size() > 1 && (*it)[0] == '-') {
        stop_suffixes.push_back(it->substr(1));
        it = stop.erase(it);
      } else {
        ++it;
      }
    }
  }
};

const Lists& L() {
  static const Lists lists;
  return lists;
}

// Lower-case words that join the parts of a name: "Ludwig van Beethoven", "Maria de la Cruz".
bool Particle(std::string_view w) {
  static const WordSet kParticles = {"van", "von", "de", "der", "den", "di", "da", "del", "della", "dello",
                                     "dei", "des", "du", "la", "le", "dos", "das", "do", "ter", "ten",
                                     "zu", "vom", "zum", "y", "bin", "al", "el", "af", "av", "d'", "l'"};
  return kParticles.count(w) > 0;
}

// "J." — an initial between the parts of a name.
bool Initial(std::string_view w) { return w.size() >= 2 && w.size() <= 4 && w.back() == '.'; }

struct Token {
  std::string_view text;
  size_t begin;
};

bool Space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::vector<Token> Tokens(std::string_view run) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < run.size()) {
    while (i < run.size() && Space(run[i])) ++i;
    size_t b = i;
    while (i < run.size() && !Space(run[i])) ++i;
    if (i > b) out.push_back({run.substr(b, i - b), b});
  }
  return out;
}

bool Surname(std::string_view w) {
  if (L().surnames.count(w)) return true;
  // Double-barrelled ("Müller-Lüdenscheidt"): either part listed.
  size_t dash = w.find('-');
  return dash != std::string_view::npos && dash > 0 &&
         (L().surnames.count(w.substr(0, dash)) || L().surnames.count(w.substr(dash + 1)));
}

bool Stop(std::string_view w) {
  if (L().stop.count(w)) return true;
  for (std::string_view suffix : L().stop_suffixes)
    if (w.size() > suffix.size() && w.substr(w.size() - suffix.size()) == suffix) return true;
  return false;
}

bool Given(std::string_view w) {
  if (L().given.count(w)) return true;
  size_t dash = w.find('-');  // Jean-Pierre, Hans-Peter
  return dash != std::string_view::npos && dash > 0 && L().given.count(w.substr(0, dash));
}

// From token `first`, the name's last word: capitalised words that are surnames or not stop
// words, with particles and initials between them, at most `max_words` words. -1 if none.
// `listed_surname` is set when one of them is a listed surname that is not also a given name.
int NameEnd(const std::vector<Token>& t, size_t first, int max_words, bool* listed_surname) {
  int last = -1, words = 0;
  for (size_t j = first; j < t.size() && words < max_words; ++j) {
    std::string_view w = t[j].text;
    if (Particle(w) || Initial(w)) continue;
    if (Stop(w) && !Surname(w)) break;
    if (listed_surname && Surname(w) && !Given(w)) *listed_surname = true;
    last = static_cast<int>(j);
    ++words;
  }
  return last;
}

Span SpanOf(const std::vector<Token>& t, size_t first, size_t last) {
  return {t[first].begin, t[last].begin + t[last].text.size()};
}

}  // namespace

std::optional<Span> NameAfterCue(std::string_view run) {
  const std::vector<Token> t = Tokens(run);
  size_t first = 0;
  while (first < t.size() && (Particle(t[first].text) || Initial(t[first].text))) ++first;
  if (first >= t.size()) return std::nullopt;
  // A stop word does not start a name, unless it is also a given name ("Dear May").
  if (Stop(t[first].text) && !Given(t[first].text)) return std::nullopt;
  const int last = NameEnd(t, first, 4, nullptr);
  if (last < 0) {
    // The first word is a name that is also a stop word ("Dear May"): that word alone.
    return SpanOf(t, first, first);
  }
  return SpanOf(t, first, static_cast<size_t>(last));
}

std::optional<Span> PersonName(std::string_view run) {
  const std::vector<Token> t = Tokens(run);
  // A listed given name (one that is also a common word or a place only before a listed
  // surname) and the surname after it.
  for (size_t i = 0; i + 1 < t.size(); ++i) {
    std::string_view w = t[i].text;
    if (Stop(w) || !Given(w)) continue;
    bool listed = false;
    const int last = NameEnd(t, i + 1, 3, &listed);
    if (last >= 0 && (listed || !L().ambiguous.count(w))) return SpanOf(t, i, static_cast<size_t>(last));
  }
  // Else an unlisted given name: the capitalised word right before a listed surname ("Corina
  // Jenkins"), if it is not a stop word or itself a listed surname (two surnames in a row read
  // as a firm: "Smith Johnson").
  for (size_t j = 1; j < t.size(); ++j) {
    if (!Surname(t[j].text) || Given(t[j].text) || Stop(t[j].text)) continue;
    size_t i = j - 1;
    while (i > 0 && (Particle(t[i].text) || Initial(t[i].text))) --i;
    std::string_view w = t[i].text;
    if (Particle(w) || Initial(w) || Stop(w) || Surname(w) || L().ambiguous.count(w)) continue;
    const int last = NameEnd(t, j, 3, nullptr);
    if (last >= 0) return SpanOf(t, i, static_cast<size_t>(last));
  }
  return std::nullopt;
}

}  // namespace warden
