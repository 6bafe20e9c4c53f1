// A strict parser for the Prometheus text exposition format 0.0.4, for tests: every line must
// be a HELP, TYPE or sample line of the grammar; names, label names and escapes are checked;
// TYPE comes once and before a family's samples; no series appears twice; histograms have
// cumulative buckets ending in le="+Inf" equal to _count; counters are not negative. Returns
// the problems found (empty = valid) and the parsed samples.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace warden::testing {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromParse {
  std::vector<std::string> problems;
  std::vector<PromSample> samples;
  std::map<std::string, std::string> types;  // family → type
};

inline PromParse ParsePrometheus(const std::string& text) {
  PromParse r;
  auto problem = [&](size_t line, const std::string& what) { r.problems.push_back("line " + std::to_string(line) + ": " + what); };
  auto is_name = [](const std::string& s, bool colon) {
    if (s.empty()) return false;
    for (size_t i = 0; i < s.size(); ++i) {
      char c = s[i];
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
      if (!ok) return false;
    }
    return true;
  };
  auto family_of = [&](const std::string& name) {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string sfx(suffix);
      if (name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0) {
        std::string base = name.substr(0, name.size() - sfx.size());
        if (r.types.count(base) && r.types[base] == "histogram") return base;
      }
    }
    return name;
  };
  std::set<std::string> helps, seen_series, families_with_samples;
  if (!text.empty() && text.back() != '\n') problem(0, "the text does not end with a newline");
  size_t n = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++n;
    if (line.empty()) { problem(n, "empty line"); continue; }
    if (line[0] == '#') {
      if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
        std::string rest = line.substr(7);
        std::string name = rest.substr(0, rest.find(' '));
        if (!is_name(name, true)) problem(n, "bad metric name in comment");
        if (line[2] == 'H') {
          if (!helps.insert(name).second) problem(n, "second HELP for " + name);
          std::string help = rest.size() > name.size() ? rest.substr(name.size() + 1) : "";
          for (size_t i = 0; i < help.size(); ++i)
            if (help[i] == '\\' && (i + 1 >= help.size() || (help[i + 1] != '\\' && help[i + 1] != 'n'))) problem(n, "bad escape in HELP");
            else if (help[i] == '\\') ++i;
        } else {
          std::string type = rest.size() > name.size() ? rest.substr(name.size() + 1) : "";
          if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" && type != "untyped")
            problem(n, "unknown TYPE " + type);
          if (r.types.count(name)) problem(n, "second TYPE for " + name);
          if (families_with_samples.count(name)) problem(n, "TYPE after samples of " + name);
          r.types[name] = type;
        }
      }
      continue;
    }
    PromSample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (!is_name(s.name, true)) { problem(n, "bad metric name '" + s.name + "'"); continue; }
    std::string labelset;
    if (i < line.size() && line[i] == '{') {
      ++i;
      bool ok = true;
      while (ok && i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos) { ok = false; break; }
        std::string lname = line.substr(i, eq - i);
        if (!is_name(lname, false) || lname.rfind("__", 0) == 0) { problem(n, "bad label name '" + lname + "'"); ok = false; break; }
        if (eq + 1 >= line.size() || line[eq + 1] != '"') { problem(n, "label value not quoted"); ok = false; break; }
        std::string value;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\') {
            if (j + 1 >= line.size()) { ok = false; break; }
            char e = line[++j];
            if (e == '\\') value.push_back('\\');
            else if (e == '"') value.push_back('"');
            else if (e == 'n') value.push_back('\n');
            else { problem(n, "bad escape in a label value"); ok = false; break; }
          } else {
            value.push_back(line[j]);
          }
        }
        if (!ok || j >= line.size()) { ok = false; break; }
        if (s.labels.count(lname)) problem(n, "label " + lname + " twice");
        s.labels[lname] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (!ok || i >= line.size() || line[i] != '}') { problem(n, "malformed label set"); continue; }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') { problem(n, "no value"); continue; }
    std::string value = line.substr(i + 1);
    if (size_t sp = value.find(' '); sp != std::string::npos) value = value.substr(0, sp);  // a timestamp may follow
    if (value == "+Inf") s.value = INFINITY;
    else if (value == "-Inf") s.value = -INFINITY;
    else if (value == "NaN") s.value = NAN;
    else {
      char* e = nullptr;
      s.value = std::strtod(value.c_str(), &e);
      if (value.empty() || *e != '\0') { problem(n, "bad value '" + value + "'"); continue; }
    }
    const std::string family = family_of(s.name);
    families_with_samples.insert(family);
    if (!r.types.count(family)) problem(n, "sample before (or without) TYPE for " + family);
    if (r.types[family] == "counter" && s.value < 0) problem(n, "negative counter");
    for (const auto& [k, v] : s.labels) labelset += k + "=" + v + ",";
    if (!seen_series.insert(s.name + "{" + labelset + "}").second) problem(n, "duplicate series " + s.name);
    r.samples.push_back(s);
  }
  // Histograms: cumulative buckets, +Inf last and equal to _count.
  for (const auto& [family, type] : r.types) {
    if (type != "histogram") continue;
    std::map<std::string, std::vector<std::pair<double, double>>> buckets;  // labels w/o le → (le, count)
    std::map<std::string, double> counts;
    for (const auto& s : r.samples) {
      std::string key;
      for (const auto& [k, v] : s.labels) if (k != "le") key += k + "=" + v + ",";
      if (s.name == family + "_bucket") {
        auto le = s.labels.find("le");
        if (le == s.labels.end()) { r.problems.push_back(family + ": bucket without le"); continue; }
        buckets[key].push_back({le->second == "+Inf" ? INFINITY : std::strtod(le->second.c_str(), nullptr), s.value});
      } else if (s.name == family + "_count") {
        counts[key] = s.value;
      }
    }
    for (const auto& [key, list] : buckets) {
      for (size_t k = 1; k < list.size(); ++k)
        if (list[k].first <= list[k - 1].first || list[k].second < list[k - 1].second)
          r.problems.push_back(family + ": buckets not cumulative in order");
      if (list.empty() || !std::isinf(list.back().first)) r.problems.push_back(family + ": no +Inf bucket");
      else if (!counts.count(key) || counts[key] != list.back().second) r.problems.push_back(family + ": +Inf bucket != _count");
    }
  }
  return r;
}

}  // namespace warden::testing
