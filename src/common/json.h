// The JSON type used across Warden: nlohmann::ordered_json keeps the key order a client or a
// provider sent, so proxied bodies change only where Warden means to change them.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace warden {

using Json = nlohmann::ordered_json;

// Parses `text`; nullopt on malformed JSON (including invalid UTF-8 in strings is accepted by the
// parser and replaced on output, see Dump).
std::optional<Json> ParseJson(std::string_view text);
// Compact serialisation; invalid UTF-8 is replaced with U+FFFD instead of throwing.
std::string Dump(const Json& value);

}  // namespace warden
