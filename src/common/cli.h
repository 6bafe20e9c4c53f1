// Command-line helpers shared by `warden` and `warden-audit`: "--name value" / "--name=value"
// options, positional arguments, and UTC time formatting.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace warden::cli {

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;  // --name value
  bool ok = true;
};

// Parses argv[first..]; a trailing option without a value is reported on stderr (ok = false).
Args Parse(int argc, char** argv, int first, const char* program);
std::string Opt(const Args& a, const std::string& name, const std::string& fallback = "");
// False (after printing the offender and `usage` to stderr) if an option is not in `allowed`.
bool OnlyOptions(const Args& a, std::initializer_list<const char*> allowed, const char* program,
                 const char* usage);
// "2026-11-24T10:00:00Z" for a Unix time in seconds.
std::string FormatTime(int64_t unix_seconds);
// "2026-11-24" or "2026-11-24T10:00:00Z" → Unix seconds (UTC); nullopt if malformed.
std::optional<int64_t> ParseTime(const std::string& text);

}  // namespace warden::cli
