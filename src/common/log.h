// Structured logging: one JSON object per line.
//
// Contract: callers pass named fields, never free text built from request content. The logger
// does not know what a prompt is, so the rule "no prompt text, no secret in logs" is enforced by
// the call sites (and by the secrets test, which greps the log for planted values); Secret has
// no conversion that would let it slip in. Thread-safe: each line is written with one write().
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace warden::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

using Fields = nlohmann::ordered_json;

// Sends lines to `path` (appended, created 0600) instead of stderr; "" or "-" = stderr.
// Returns false (and keeps the previous sink) if the file cannot be opened.
bool SetSink(const std::string& path);
void SetLevel(Level level);
Level ParseLevel(std::string_view name, Level fallback);

void Write(Level level, std::string_view event, Fields fields = Fields::object());
inline void Debug(std::string_view e, Fields f = Fields::object()) { Write(Level::kDebug, e, std::move(f)); }
inline void Info(std::string_view e, Fields f = Fields::object()) { Write(Level::kInfo, e, std::move(f)); }
inline void Warn(std::string_view e, Fields f = Fields::object()) { Write(Level::kWarn, e, std::move(f)); }
inline void Error(std::string_view e, Fields f = Fields::object()) { Write(Level::kError, e, std::move(f)); }

}  // namespace warden::log
