// The JSON type used across Warden: nlohmann::ordered_json keeps the key order a client or a
// provider sent, so proxied bodies change only where Warden means to change them.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace warden {

using Json = nlohmann::ordered_json;

// The deepest nesting of arrays and objects Warden accepts in JSON it did not write itself
// (client bodies, provider answers and stream chunks, stored files). Deeper documents are refused
// before they are parsed: walking, copying or printing a tree of unbounded depth recurses and
// would overflow the stack (a 200 KB body of 50,000 nested arrays crashed the process).
// Real requests stay far below it (OpenAI's structured-output schemas allow 10 levels).
inline constexpr int kMaxJsonDepth = 128;

enum class JsonError { kNone, kMalformed, kTooDeep };

// Parses `text`; nullopt on malformed JSON or nesting deeper than `max_depth` (`why` says which).
// Invalid UTF-8 in strings is accepted by the parser and replaced on output, see Dump.
std::optional<Json> ParseJson(std::string_view text, JsonError* why = nullptr,
                              int max_depth = kMaxJsonDepth);
// Whether arrays/objects in `text` nest deeper than `max_depth` (strings are skipped; the text
// need not be valid JSON). Linear, no allocation.
bool JsonNestsDeeper(std::string_view text, int max_depth);
// Lenient field access for untrusted JSON (client requests, provider answers): the field when
// `obj` is an object whose `key` holds a value of the wanted type, else `fallback`. (nlohmann's
// value() throws on a type mismatch, which would turn bad input into a 500.)
std::string GetString(const Json& obj, std::string_view key, std::string fallback = "");
bool GetBool(const Json& obj, std::string_view key, bool fallback = false);

// Compact serialisation; invalid UTF-8 is replaced with U+FFFD instead of throwing.
std::string Dump(const Json& value);

}  // namespace warden
