// Redactor: finds sensitive values with a policy's rule sets, replaces them before a request
// leaves, and restores placeholders in what comes back.
//
// Finding runs every pattern in one pass (RE2::Set says which rules hit), then only the rules
// that hit locate their matches; candidates must pass the rule's validator. Overlapping
// candidates merge into one region, so no part of any of them stays in clear; the region takes
// the label of its best candidate: one found through context words (`postgres://user:PASS@`
// over the accidental e-mail `PASS@host`), then the longest, then the earlier rule, then the
// earlier position. No match may touch a placeholder already made.
//
// A RedactionSession holds one request's mapping (value ↔ placeholder) in memory only and wipes
// it when destroyed. Placeholders are `[ENTITY_N]`, stable within the request (the same value
// gets the same placeholder everywhere in it). `mask` mode writes `[ENTITY]` and keeps no
// mapping; `block` mode refuses the request (403 content_blocked, naming the entity type,
// never the value).
//
// Thread-safety: a Redactor is immutable and shared; a RedactionSession and a StreamRestorer
// belong to one request.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/result.h"
#include "policy/policy.h"
#include "redaction/rules.h"

namespace re2 {
class RE2;
}

namespace warden {

struct RedactionMatch {
  size_t begin = 0;
  size_t end = 0;  // exclusive
  int rule = 0;    // index into Redactor::rules()
  size_t span = 0;  // length of the rule's whole match, context included (the value may be less)
};

// A range of text no match may touch: [begin, end).
using KeepOut = std::vector<std::pair<size_t, size_t>>;

class Redactor {
 public:
  // A rule whose matches are at most this many bytes long (Rule::max_length) is searched in long
  // texts only where it can match (redactor.cc); a longer or unbounded one searches the whole text.
  static constexpr size_t kBoundedLength = 1200;

  // Compiles the union of `sets` (in order) into one RE2::Set. Fails if the set exceeds RE2's
  // memory budget.
  static Result<std::shared_ptr<const Redactor>> Build(const std::vector<const RuleSet*>& sets);
  // The redactor for `policy`: its rule sets, in the order it lists them. Every named set must be
  // in `sets` (LoadAll checks that at start-up).
  static Result<std::shared_ptr<const Redactor>> ForPolicy(const Policy& policy, const RuleSets& sets);
  ~Redactor();

  // The values to redact in `text`, in text order, none touching a range in `keep_out`.
  std::vector<RedactionMatch> Find(std::string_view text, const KeepOut& keep_out = {}) const;
  // The same, in a text where a previous pass replaced values at `changed` (placeholder spans in
  // text order): what is new can only touch those, so bounded rules are searched only there.
  std::vector<RedactionMatch> FindNear(std::string_view text, const KeepOut& keep_out,
                                       const KeepOut& changed) const;
  // The same answer as Find, found the slow way — every rule that hits searches the whole text:
  // the reference the tests and the fuzzer hold Find and FindNear to.
  std::vector<RedactionMatch> FindReference(std::string_view text, const KeepOut& keep_out = {}) const;
  const std::vector<const Rule*>& rules() const { return rules_; }

 private:
  Redactor() = default;
  // Rule `idx`'s accepted matches whose whole match starts in [own_begin, own_end), searching
  // [from, to) of `text` with the whole text as context.
  void Collect(int idx, std::string_view text, size_t from, size_t to, size_t own_begin, size_t own_end,
               const KeepOut& keep_out, std::vector<RedactionMatch>& out) const;
  // Bounded rules' matches starting in regions found in [from, to) that start at or before
  // `last_start` (redactor.cc explains the regions).
  void CollectInRegions(std::string_view text, size_t from, size_t to, size_t last_start, const KeepOut& keep_out,
                        std::vector<RedactionMatch>& out) const;
  void CollectUnbounded(std::string_view text, const KeepOut& keep_out, std::vector<RedactionMatch>& out) const;
  // Overlapping candidates merged into regions, each labelled by its best candidate.
  std::vector<RedactionMatch> Merge(std::vector<RedactionMatch> candidates) const;
  std::vector<const Rule*> rules_;
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

class RedactionSession {
 public:
  RedactionSession(std::shared_ptr<const Redactor> redactor, RedactionMode mode);
  ~RedactionSession();
  RedactionSession(const RedactionSession&) = delete;
  RedactionSession& operator=(const RedactionSession&) = delete;

  // Redacts one text in place.
  Status RedactText(std::string& text);
  // Redacts every text of an OpenAI-shaped request the upstream would read: message content
  // (strings and text parts), names, tool call and function call arguments, tool results,
  // embeddings `input`, legacy `prompt`.
  Status RedactRequest(Json& body);

  // Replaces every placeholder of this request in `text` with its original value.
  std::string Restore(std::string_view text) const;
  // Restores message content, tool call arguments and legacy `text` in a chat/completions
  // response body.
  void RestoreResponse(Json& body) const;

  // Where this session's placeholders stand in `text`: no rule may match inside or across them
  // (a URL-password rule matched its own "[URL_PASSWORD_1]" on every pass, and the prompt was
  // refused as unredactable).
  KeepOut PlaceholdersIn(std::string_view text) const;

  bool reversible() const { return !to_value_.empty(); }
  size_t longest_placeholder() const { return longest_placeholder_; }
  const std::map<std::string, int>& counts() const { return counts_; }  // entity → values redacted

 private:
  Status RedactField(Json& value);
  // Remembers every placeholder-shaped token already present in `text`, so a placeholder this
  // session makes never equals text the client wrote (found by fuzzing: a prompt containing
  // "[CREDIT_CARD_1]" and a card number restored both to the card).
  void Reserve(std::string_view text);
  // Replaces `matches` in `text`; `replaced` gets where their placeholders now stand.
  Status ReplaceMatches(std::string& text, const std::vector<RedactionMatch>& matches, KeepOut& replaced);
  std::shared_ptr<const Redactor> redactor_;
  RedactionMode mode_;
  std::map<std::string, std::string> to_placeholder_;  // value → placeholder
  std::map<std::string, std::string> to_value_;        // placeholder → value
  std::map<std::string, int> next_;                    // entity → last number used
  std::map<std::string, int> counts_;
  std::set<std::string> reserved_;  // placeholder-shaped tokens found in the request itself
  size_t longest_placeholder_ = 0;
};

// Restores placeholders in a text that arrives in pieces (a streamed answer), holding back only
// the shortest tail that could still be the start of a placeholder, so the text is never
// delayed by more than a placeholder's length.
class StreamRestorer {
 public:
  explicit StreamRestorer(const RedactionSession* session) : session_(session) {}
  std::string Push(std::string_view piece);
  std::string Flush();
  bool holding() const { return !held_.empty(); }

 private:
  const RedactionSession* session_;
  std::string held_;
};

// Restores placeholders in a stream of chat.completion.chunk events: one StreamRestorer per
// choice and field (the content, and each tool call's arguments). When a choice finishes
// (finish_reason), whatever its restorers still hold is put into that same chunk.
class ChunkRestorer {
 public:
  explicit ChunkRestorer(const RedactionSession* session) : session_(session) {}
  void Apply(Json& chunk);
  // A chunk with any text still held (the stream ended without finish_reason), else nullopt.
  std::optional<Json> Drain();

 private:
  StreamRestorer& For(int choice, int tool);
  const RedactionSession* session_;
  std::map<std::pair<int, int>, StreamRestorer> restorers_;  // (choice, -1 = content | tool index)
  Json skeleton_ = Json::object();  // id, object, created, model of the last chunk
};

}  // namespace warden
