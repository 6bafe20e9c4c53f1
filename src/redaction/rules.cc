#include "redaction/rules.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/yaml_reader.h"

namespace warden {

namespace {

// Every compiled pattern gets at most this much memory; a pattern that needs more is an error.
constexpr int64_t kMaxPatternMemory = 8 << 20;

bool ValidEntity(const std::string& e) {
  if (e.empty() || e.size() > 32 || e[0] < 'A' || e[0] > 'Z') return false;
  for (char c : e)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

class RuleSetParser : public YamlReader {
 public:
  using YamlReader::YamlReader;

  void ParseSet(const YAML::Node& root, const std::string& expected_name, RuleSet& set) {
    if (!ExpectMap(root, "a rule set file")) return;
    CheckKeys(root, "the rule set", {"name", "description", "rules"});
    ReadString(root, "name", set.name, "rule set");
    if (set.name != expected_name)
      Problem(root["name"] ? root["name"] : root,
              "the rule set must be named '" + expected_name + "' like its file");
    ReadString(root, "description", set.description, "rule set");
    const YAML::Node rules = root["rules"];
    if (!rules || !rules.IsSequence() || rules.size() == 0) {
      Problem(rules ? rules : root, "rules must be a non-empty list");
      return;
    }
    for (size_t i = 0; i < rules.size(); ++i) {
      const YAML::Node r = rules[i];
      std::string where = "rules[" + std::to_string(i) + "]";
      if (!ExpectMap(r, where)) continue;
      CheckKeys(r, where, {"entity", "pattern", "validator", "action", "match", "no_match"});
      Rule rule;
      rule.file = file_;
      rule.line = r.Mark().line + 1;
      ReadString(r, "entity", rule.entity, where);
      if (!ValidEntity(rule.entity))
        Problem(r["entity"] ? r["entity"] : r, where + ".entity must be UPPER_SNAKE_CASE (e.g. EMAIL)");
      // Patterns are taken literally: no ${ENV} substitution inside regular expressions.
      if (const YAML::Node p = r["pattern"]; p && p.IsScalar()) {
        rule.pattern = p.Scalar();
        RE2::Options opts;
        opts.set_max_mem(kMaxPatternMemory);
        opts.set_log_errors(false);
        auto re = std::make_shared<RE2>(rule.pattern, opts);
        if (!re->ok()) Problem(p, where + ".pattern does not compile: " + re->error());
        else if (re->NumberOfCapturingGroups() > 1)
          Problem(p, where + ".pattern may have at most one capturing group (the value to redact)");
        else {
          rule.re = std::move(re);
          rule.max_length = MaxMatchLength(rule.pattern);
        }
      } else {
        Problem(r, where + " needs a pattern");
      }
      ReadString(r, "validator", rule.validator, where);
      if (!rule.validator.empty() && !IsKnownValidator(rule.validator))
        Problem(r["validator"], where + ".validator '" + rule.validator + "' is unknown");
      ReadChoice(r, "action", rule.action, where + ".action",
                 {{"redact", RuleAction::kRedact}, {"block", RuleAction::kBlock}});
      if (r["match"]) {
        if (auto m = RawList(r["match"], where + ".match")) rule.match = *m;
      }
      if (r["no_match"]) {
        if (auto m = RawList(r["no_match"], where + ".no_match")) rule.no_match = *m;
      }
      if (rule.match.empty())
        Problem(r, where + " (" + rule.entity + ") needs golden examples under match");
      set.rules.push_back(std::move(rule));
    }
  }

 private:
  // Example strings, taken literally (no ${ENV} substitution).
  std::optional<std::vector<std::string>> RawList(const YAML::Node& n, const std::string& what) {
    if (!n.IsSequence()) {
      Problem(n, what + " must be a list of strings");
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (const auto& item : n) {
      if (!item.IsScalar()) Problem(item, what + " entries must be strings");
      else out.push_back(item.Scalar());
    }
    return out;
  }
};

}  // namespace

namespace {

// Reads an RE2 pattern far enough to bound its match length: alternation takes the longest
// branch, concatenation sums, a repeat multiplies by its maximum. A character costs the most
// bytes it can take in UTF-8: 1 for ASCII literals and ASCII classes (\d \w \s are ASCII in RE2),
// 4 for anything that may match beyond ASCII (., negated classes, \p{…}, non-ASCII ranges, and
// letters under (?i), which fold to e.g. U+212A KELVIN SIGN).
class LengthBound {
 public:
  explicit LengthBound(std::string_view p) : p_(p) {}
  std::optional<size_t> Run() {
    bool ci = false;
    auto n = Alternation(ci);
    if (!ok_ || i_ != p_.size() || !n) return std::nullopt;
    return n;
  }

 private:
  static constexpr size_t kInfinite = size_t{1} << 40;
  static size_t Add(size_t a, size_t b) { return std::min(kInfinite, a + b); }
  static size_t Mul(size_t a, size_t b) { return b == 0 ? 0 : (a >= kInfinite / b ? kInfinite : a * b); }

  std::optional<size_t> Alternation(bool& ci) {
    size_t best = 0;
    for (;;) {
      auto n = Concatenation(ci);
      if (!n) return std::nullopt;
      best = std::max(best, *n);
      if (i_ < p_.size() && p_[i_] == '|') {
        ++i_;
        continue;
      }
      return best >= kInfinite ? std::nullopt : std::optional<size_t>(best);
    }
  }

  std::optional<size_t> Concatenation(bool& ci) {
    size_t sum = 0;
    while (ok_ && i_ < p_.size() && p_[i_] != '|' && p_[i_] != ')') {
      auto atom = Atom(ci);
      if (!atom) return std::nullopt;
      size_t times = Repeat();
      if (times == kInfinite) return std::nullopt;
      sum = Add(sum, Mul(*atom, times));
    }
    return ok_ ? std::optional<size_t>(sum) : std::nullopt;
  }

  // The maximum count of the repeat operator at i_ (1 if none), kInfinite if unbounded.
  size_t Repeat() {
    if (i_ >= p_.size()) return 1;
    size_t times = 1;
    const char c = p_[i_];
    if (c == '*' || c == '+') {
      times = kInfinite;
      ++i_;
    } else if (c == '?') {
      ++i_;
    } else if (c == '{') {
      size_t j = i_ + 1, lo = 0, hi = 0;
      bool digits = false, comma = false, hi_digits = false;
      while (j < p_.size() && std::isdigit(static_cast<unsigned char>(p_[j]))) lo = lo * 10 + static_cast<size_t>(p_[j++] - '0'), digits = true;
      if (j < p_.size() && p_[j] == ',') {
        comma = true;
        ++j;
        while (j < p_.size() && std::isdigit(static_cast<unsigned char>(p_[j]))) hi = hi * 10 + static_cast<size_t>(p_[j++] - '0'), hi_digits = true;
      }
      if (!digits || j >= p_.size() || p_[j] != '}') return 1;  // a literal '{' (RE2 reads it so)
      i_ = j + 1;
      times = !comma ? lo : (hi_digits ? hi : kInfinite);
    } else {
      return 1;
    }
    if (i_ < p_.size() && p_[i_] == '?') ++i_;  // non-greedy: same bound
    if (times != kInfinite && i_ < p_.size() && (p_[i_] == '*' || p_[i_] == '+' || p_[i_] == '{'))
      ok_ = false;  // stacked repeats: RE2 refuses most; do not guess
    return times;
  }

  std::optional<size_t> Atom(bool& ci) {
    const char c = p_[i_];
    if (c == '(') return Group(ci);
    if (c == '[') return Class(ci);
    if (c == '\\') return Escape(ci);
    ++i_;
    if (c == '^' || c == '$') return 0;
    if (c == '.') return 4;
    if (c == '*' || c == '+' || c == '?') {
      ok_ = false;
      return std::nullopt;
    }
    if (static_cast<unsigned char>(c) >= 0x80) {  // one UTF-8 character: take its continuation bytes
      size_t len = 1;
      while (i_ < p_.size() && (static_cast<unsigned char>(p_[i_]) & 0xC0) == 0x80) ++i_, ++len;
      return ci ? std::max<size_t>(len, 4) : len;
    }
    return ci && std::isalpha(static_cast<unsigned char>(c)) ? 4 : 1;
  }

  std::optional<size_t> Group(bool& ci) {
    // RE2 refuses nesting deeper than 1000; so does this reading (it recurses per group).
    if (++depth_ > kMaxDepth) return Fail();
    ++i_;  // '('
    bool inner_ci = ci;
    if (i_ < p_.size() && p_[i_] == '?') {
      ++i_;
      if (i_ < p_.size() && (p_[i_] == 'P' || p_[i_] == '<')) {  // (?P<name>…) or (?<name>…)
        size_t close = p_.find('>', i_);
        if (close == std::string_view::npos) return Fail();
        i_ = close + 1;
      } else {
        bool negate = false, flag_ci = ci;
        while (i_ < p_.size() && p_[i_] != ':' && p_[i_] != ')') {
          if (p_[i_] == '-') negate = true;
          else if (p_[i_] == 'i') flag_ci = !negate;
          else if (p_[i_] != 's' && p_[i_] != 'm' && p_[i_] != 'U') return Fail();
          ++i_;
        }
        if (i_ >= p_.size()) return Fail();
        if (p_[i_] == ')') {  // (?i): the flags hold for the rest of the enclosing group
          ++i_;
          ci = flag_ci;
          --depth_;
          return 0;
        }
        ++i_;  // ':'
        inner_ci = flag_ci;
      }
    }
    auto n = Alternation(inner_ci);
    if (!n || i_ >= p_.size() || p_[i_] != ')') return Fail();
    ++i_;
    --depth_;
    return n;
  }

  // A class costs the UTF-8 length of the highest code point it can match: 1 for ASCII, up to 4
  // for negated classes, \p{…}, \D \W \S, and folding under (?i).
  std::optional<size_t> Class(bool ci) {
    size_t j = i_ + 1, width = 1;
    auto at_least = [&width](size_t w) { width = std::max(width, w); };
    if (ci) at_least(4);
    if (j < p_.size() && p_[j] == '^') at_least(4), ++j;
    if (j < p_.size() && p_[j] == ']') ++j;  // a leading ']' is literal
    for (; j < p_.size() && p_[j] != ']'; ++j) {
      const unsigned char c = static_cast<unsigned char>(p_[j]);
      if (c >= 0xF0) at_least(4);
      else if (c >= 0xE0) at_least(3);
      else if (c >= 0xC0) at_least(2);
      if (c == '[' && j + 1 < p_.size() && p_[j + 1] == ':') {  // [:alpha:]
        size_t end = p_.find(":]", j + 2);
        if (end == std::string_view::npos) return Fail();
        j = end + 1;
      } else if (c == '\\' && j + 1 < p_.size()) {
        const char e = p_[++j];
        if (e == 'Q') return Fail();
        if (e == 'p' || e == 'P' || e == 'D' || e == 'W' || e == 'S') at_least(4);
        if (e == 'x' && j + 1 < p_.size() && p_[j + 1] == '{') {
          size_t close = p_.find('}', j);
          if (close == std::string_view::npos) return Fail();
          const unsigned long cp = std::strtoul(std::string(p_.substr(j + 2, close - j - 2)).c_str(), nullptr, 16);
          at_least(cp > 0xFFFF ? 4 : cp > 0x7FF ? 3 : cp > 0x7F ? 2 : 1);
          j = close;
        } else if (e == 'x') {
          at_least(2);
        }
      }
    }
    if (j >= p_.size()) return Fail();
    i_ = j + 1;
    return width;
  }

  std::optional<size_t> Escape(bool ci) {
    if (i_ + 1 >= p_.size()) return Fail();
    const char e = p_[i_ + 1];
    i_ += 2;
    switch (e) {
      case 'b': case 'A': case 'z': return 0;
      case 'B': case 'Q': case 'E': case 'X': return Fail();  // \B reads outside a window
      case 'd': case 'w': case 's': case 'C': return 1;
      case 'D': case 'W': case 'S': return 4;
      case 'p': case 'P':
        if (i_ < p_.size() && p_[i_] == '{') {
          size_t close = p_.find('}', i_);
          if (close == std::string_view::npos) return Fail();
          i_ = close + 1;
        } else {
          ++i_;
        }
        return 4;
      case 'x':
        if (i_ < p_.size() && p_[i_] == '{') {
          size_t close = p_.find('}', i_);
          if (close == std::string_view::npos) return Fail();
          i_ = close + 1;
          return 4;
        }
        i_ += 2;
        return 2;
      default:
        if (std::isalpha(static_cast<unsigned char>(e)) && e != 'n' && e != 'r' && e != 't' && e != 'f' && e != 'v' && e != 'a')
          return Fail();  // an escape this reading does not know
        return ci && std::isalpha(static_cast<unsigned char>(e)) ? 4 : 1;
    }
  }

  std::optional<size_t> Fail() {
    ok_ = false;
    return std::nullopt;
  }

  std::string_view p_;
  static constexpr int kMaxDepth = 1000;
  size_t i_ = 0;
  int depth_ = 0;
  bool ok_ = true;
};

}  // namespace

std::optional<size_t> MaxMatchLength(std::string_view pattern) { return LengthBound(pattern).Run(); }

RuleSetLoadResult LoadRuleSetFromString(const std::string& yaml, const std::string& file,
                                        const std::string& expected_name) {
  RuleSetParser parser(file, {});
  RuleSetLoadResult result;
  RuleSet set;
  if (auto root = parser.Parse(yaml)) parser.ParseSet(*root, expected_name, set);
  result.problems = parser.SortedProblems();
  if (!parser.HasErrors()) {
    auto sets = std::make_shared<RuleSets>();
    sets->Add(std::move(set));
    result.sets = std::move(sets);
  }
  return result;
}

RuleSetLoadResult LoadRuleSets(const std::string& dir) {
  RuleSetLoadResult result;
  auto sets = std::make_shared<RuleSets>();
  bool errors = false;
  for (const auto& path : YamlFilesIn(dir)) {
    RuleSetLoadResult one = LoadRuleSetFromString(ReadWholeFile(path), path.string(), path.stem().string());
    result.problems.insert(result.problems.end(), one.problems.begin(), one.problems.end());
    if (!one.ok()) {
      errors = true;
      continue;
    }
    sets->Add(*one.sets->Find(path.stem().string()));
  }
  if (!errors) result.sets = std::move(sets);
  return result;
}

}  // namespace warden
