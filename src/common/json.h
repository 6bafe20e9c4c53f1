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
// Lenient field access for untrusted JSON (client requests, provider answers): the field when
// `obj` is an object whose `key` holds a value of the wanted type, else `fallback`. (nlohmann's
// value() throws on a type mismatch, which would turn bad input into a 500.)
std::string GetString(const Json& obj, std::string_view key, std::string fallback = "");
bool GetBool(const Json& obj, std::string_view key, bool fallback = false);

// Compact serialisation; invalid UTF-8 is replaced with U+FFFD instead of throwing.
std::string Dump(const Json& value);

}  // namespace warden
