// Command-line helpers shared by `warden` and `warden-audit`: "--name value" / "--name=value"
// options, positional arguments, and UTC time formatting.
#pragma once

#include <climits>
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

// --since / --until (either as ParseTime takes) as [since_ms, until_ms) in Unix milliseconds;
// absent options leave the range open (0, INT64_MAX).
struct TimeRange {
  int64_t since_ms = 0;
  int64_t until_ms = INT64_MAX;
};
// The range, or the name of the option ("since" or "until") that is malformed.
struct TimeRangeResult {
  TimeRange range;
  std::string bad_option;  // "" = fine
};
TimeRangeResult ParseTimeRange(const Args& a);

}  // namespace warden::cli
