#include "common/cli.h"

#include <ctime>
#include <iostream>

namespace warden::cli {

Args Parse(int argc, char** argv, int first, const char* program) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2), value;
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        std::cerr << program << ": option --" << name << " needs a value\n";
        a.ok = false;
      }
      a.options[name] = value;
    } else {
      a.positional.push_back(arg);
    }
  }
  return a;
}

std::string Opt(const Args& a, const std::string& name, const std::string& fallback) {
  auto it = a.options.find(name);
  return it == a.options.end() ? fallback : it->second;
}

bool OnlyOptions(const Args& a, std::initializer_list<const char*> allowed, const char* program,
                 const char* usage) {
  for (const auto& [name, value] : a.options) {
    bool known = false;
    for (const char* k : allowed) known = known || name == k;
    if (!known) {
      std::cerr << program << ": unknown option --" << name << "\n" << usage;
      return false;
    }
  }
  return true;
}

std::string FormatTime(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<int64_t> ParseTime(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (!end || *end) {
    tm = std::tm{};
    end = strptime(text.c_str(), "%Y-%m-%d", &tm);
    if (!end || *end) return std::nullopt;
  }
  return static_cast<int64_t>(timegm(&tm));
}

TimeRangeResult ParseTimeRange(const Args& a) {
  TimeRangeResult r;
  for (auto [name, out] : {std::pair{"since", &r.range.since_ms}, std::pair{"until", &r.range.until_ms}}) {
    if (!a.options.count(name)) continue;
    const auto t = ParseTime(Opt(a, name));
    if (!t) {
      r.bad_option = name;
      return r;
    }
    *out = *t * 1000;
  }
  return r;
}

}  // namespace warden::cli
