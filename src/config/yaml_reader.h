// YamlReader: the validating YAML reader behind config/warden.yaml and policies/*.yaml.
//
// Contract: every Read*() reports a problem (with file, line and column) instead of throwing or
// stopping, so one pass finds every mistake in a file; values have ${ENV} substituted (problem
// messages name a missing variable, never a value). Not thread-safe; one per file being read.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <initializer_list>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "common/money.h"
#include "config/config.h"

namespace warden {

// The *.yaml files directly in `dir`, sorted by name (none if `dir` does not exist).
std::vector<std::filesystem::path> YamlFilesIn(const std::string& dir);
std::string ReadWholeFile(const std::filesystem::path& path);

class YamlReader {
 public:
  YamlReader(std::string file, EnvLookup env);

  // Parses `text`; on a syntax error records it and returns nullopt.
  std::optional<YAML::Node> Parse(const std::string& text);
  // The problems found so far, ordered by line and column.
  std::vector<ConfigProblem> SortedProblems() const;

  // A list of strings (a single string is accepted as a one-element list).
  std::optional<std::vector<std::string>> StringList(const YAML::Node& node, const std::string& what) {
    std::vector<std::string> out;
    if (node.IsScalar()) {
      if (auto v = String(node, what)) out.push_back(*v);
      return out;
    }
    if (!node.IsSequence()) {
      Problem(node, what + " must be a list of strings");
      return std::nullopt;
    }
    for (const auto& item : node)
      if (auto v = String(item, what)) out.push_back(*v);
    return out;
  }

  std::vector<ConfigProblem> problems;

  void Problem(const YAML::Node& at, const std::string& message,
               ConfigProblem::Severity sev = ConfigProblem::Severity::kError) {
    ConfigProblem p;
    p.file = file_;
    YAML::Mark m = at.IsDefined() ? at.Mark() : YAML::Mark::null_mark();
    if (m.line >= 0) {
      p.line = m.line + 1;
      p.column = m.column + 1;
    }
    p.message = message;
    p.severity = sev;
    problems.push_back(std::move(p));
  }
  bool HasErrors() const {
    for (const auto& p : problems)
      if (p.severity == ConfigProblem::Severity::kError) return true;
    return false;
  }

  // Reports keys of `map` not in `known`.
  void CheckKeys(const YAML::Node& map, const std::string& where, const std::set<std::string>& known) {
    if (!map.IsMap()) return;
    for (const auto& kv : map) {
      std::string key = kv.first.Scalar();
      if (!known.count(key)) Problem(kv.first, "unknown key '" + key + "' in " + where);
    }
  }

  bool ExpectMap(const YAML::Node& node, const std::string& what) {
    if (node.IsMap()) return true;
    Problem(node, what + " must be a mapping");
    return false;
  }

  // A scalar with ${ENV} substituted. `secret` keeps the value out of messages (always true
  // for messages anyway: we only ever name the variable, never its value).
  std::optional<std::string> String(const YAML::Node& node, const std::string& what) {
    if (!node.IsScalar()) {
      Problem(node, what + " must be a string");
      return std::nullopt;
    }
    std::string missing;
    auto v = SubstituteEnv(node.Scalar(), env_, &missing);
    if (!v) {
      Problem(node, what + ": environment variable '" + missing + "' is not set");
      return std::nullopt;
    }
    return v;
  }

  void ReadString(const YAML::Node& map, const char* key, std::string& out,
                  const std::string& where) {
    const YAML::Node n = map[key];
    if (!n) return;
    if (auto v = String(n, where + "." + key)) out = *v;
  }

  void ReadBool(const YAML::Node& map, const char* key, bool& out, const std::string& where) {
    const YAML::Node n = map[key];
    if (!n) return;
    auto v = String(n, where + "." + key);
    if (!v) return;
    if (*v == "true" || *v == "yes" || *v == "on") out = true;
    else if (*v == "false" || *v == "no" || *v == "off") out = false;
    else Problem(n, where + "." + key + " must be true or false");
  }

  template <typename Int>
  void ReadInt(const YAML::Node& map, const char* key, Int& out, long long lo, long long hi,
               const std::string& where) {
    const YAML::Node n = map[key];
    if (!n) return;
    auto v = String(n, where + "." + key);
    if (!v) return;
    char* end = nullptr;
    errno = 0;
    long long x = std::strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || errno != 0 || x < lo || x > hi) {
      Problem(n, where + "." + key + " must be an integer from " + std::to_string(lo) + " to " +
                     std::to_string(hi));
      return;
    }
    out = static_cast<Int>(x);
  }

  // An amount of dollars (a price per million tokens, a budget), read exactly as an integer of
  // 10^-decimals units (common/money.h): at most $1,000,000 and `decimals` digits after the point.
  // `unbounded` (budgets): any amount, a too large one saturating (common/money.h).
  void ReadUsd(const YAML::Node& map, const char* key, int64_t& out, int decimals, const std::string& where,
               bool unbounded = false) {
    const YAML::Node n = map[key];
    if (!n) return;
    auto v = String(n, where + "." + key);
    if (!v) return;
    int64_t scale = 1;
    for (int i = 0; i < decimals; ++i) scale *= 10;
    const std::optional<int64_t> x =
        unbounded ? ParseFixedDecimal(*v, decimals, INT64_MAX, true) : ParseFixedDecimal(*v, decimals, 1'000'000 * scale);
    if (!x) {
      Problem(n, where + "." + key + " must be a number of dollars" + (unbounded ? "" : " from 0 to 1000000") +
                     " with at most " + std::to_string(decimals) + " decimals");
      return;
    }
    out = *x;
  }

  // One of a fixed set of words, e.g. content_logging: none | redacted | full. `what` names
  // the field in the problem ("content_logging must be none, redacted or full").
  template <typename E>
  void ReadChoice(const YAML::Node& map, const char* key, E& out, const std::string& what,
                  std::initializer_list<std::pair<const char*, E>> choices) {
    const YAML::Node n = map[key];
    if (!n) return;
    auto v = String(n, what);
    if (!v) return;
    std::string expected;
    size_t i = 0;
    for (const auto& [word, value] : choices) {
      if (*v == word) {
        out = value;
        return;
      }
      if (i > 0) expected += i + 1 == choices.size() ? " or " : ", ";
      expected += word;
      ++i;
    }
    Problem(n, what + " must be " + expected);
  }

  // Durations: "250ms", "30s", "2m", or a bare integer of milliseconds (at most 24 h).
  void ReadDuration(const YAML::Node& map, const char* key, int& out_ms,
                    const std::string& where) {
    long long ms = 0;
    if (ReadScaled(map, key, where, {{"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}},
                   24LL * 3600 * 1000, "a duration such as 500ms, 30s or 2m (at most 24h)", &ms))
      out_ms = static_cast<int>(ms);
  }

  // Sizes: "8MiB", "512KiB", "1GiB" or a bare number of bytes (at most 4 GiB).
  void ReadSize(const YAML::Node& map, const char* key, size_t& out, const std::string& where) {
    long long bytes = 0;
    if (ReadScaled(map, key, where,
                   {{"", 1}, {"B", 1}, {"KiB", 1024}, {"MiB", 1024LL * 1024}, {"GiB", 1024LL << 20}},
                   4LL << 30, "a size such as 8MiB, 512KiB or a byte count (1 B to 4 GiB)", &bytes))
      out = static_cast<size_t>(bytes);
  }

  // A positive integer followed by one of `units` (suffix → multiplier), at most `max` after
  // scaling; reports "<where>.<key> must be <what>" otherwise.
  bool ReadScaled(const YAML::Node& map, const char* key, const std::string& where,
                  std::initializer_list<std::pair<const char*, long long>> units, long long max,
                  const char* what, long long* out) {
    const YAML::Node n = map[key];
    if (!n) return false;
    auto v = String(n, where + "." + key);
    if (!v) return false;
    char* end = nullptr;
    errno = 0;
    long long x = std::strtoll(v->c_str(), &end, 10);
    long long mult = -1;
    for (const auto& [suffix, m] : units)
      if (end && std::string_view(end) == suffix) mult = m;
    if (v->empty() || end == v->c_str() || mult < 0 || errno != 0 || x < 1 || x > max / mult) {
      Problem(n, where + "." + key + " must be " + what);
      return false;
    }
    *out = x * mult;
    return true;
  }

  // "host:port"; port 0 asks the OS for a free port (tests).

 protected:
  std::string file_;
  EnvLookup env_;
};

}  // namespace warden
