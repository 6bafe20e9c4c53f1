#include "redaction/redactor.h"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>

#include "common/secret.h"

namespace warden {

// How a long text is searched (Find), and why it finds what searching the whole text for every
// rule that hits finds (FindReference):
//  - A rule whose matches are at most kWindow bytes long (Rule::max_length, from its pattern) is
//    "bounded". One regular expression, the alternation of every bounded rule, is searched through
//    the text once, match after match (leftmost first): every match of every bounded rule starts
//    inside one of the regions it finds (the search from a position finds the leftmost match
//    start of any alternative, so no match can start between regions). Each region [s, e) is then
//    read by the set of bounded rules over [s, e + kWindow) — which holds any match starting in
//    the region — and the rules that hit search there, with the whole text as context.
//  - Rules without a bound (secrets with open-ended tokens, PEM blocks, …) are found by their own
//    set over the whole text, and each that hits searches the whole text.
//  - After a pass replaced values, FindNear searches bounded rules only around the replacements:
//    a match that touches none of them was there before, and was found or rejected then.
// Texts up to kSmall bytes skip all this: one set, then the rules that hit, whole text (as does
// every text if the alternation is too large for RE2 to compile).
struct Redactor::Compiled {
  std::unique_ptr<RE2::Set> all;       // every rule (short texts, FindReference)
  std::unique_ptr<RE2> regions;        // the alternation of the bounded rules
  std::unique_ptr<RE2::Set> bounded;   // the bounded rules, for a region's window
  std::unique_ptr<RE2::Set> unbounded; // the others, for the whole text
  std::vector<int> bounded_rule, unbounded_rule;  // set entry → rule index
};

namespace {

constexpr size_t kWindow = Redactor::kBoundedLength;
constexpr size_t kSmall = 4096;
constexpr size_t kDenseCluster = 8192;

RE2::Options SetOptions() {
  RE2::Options opts;
  opts.set_max_mem(64 << 20);
  opts.set_log_errors(false);
  return opts;
}

}  // namespace

Redactor::~Redactor() = default;

Result<std::shared_ptr<const Redactor>> Redactor::Build(const std::vector<const RuleSet*>& sets) {
  std::shared_ptr<Redactor> r(new Redactor());
  r->compiled_ = std::make_unique<Compiled>();
  Compiled& c = *r->compiled_;
  c.all = std::make_unique<RE2::Set>(SetOptions(), RE2::UNANCHORED);
  c.bounded = std::make_unique<RE2::Set>(SetOptions(), RE2::UNANCHORED);
  c.unbounded = std::make_unique<RE2::Set>(SetOptions(), RE2::UNANCHORED);
  std::string alternation;
  for (const RuleSet* s : sets) {
    for (const Rule& rule : s->rules) {
      std::string error;
      const int idx = static_cast<int>(r->rules_.size());
      const bool bounded = rule.max_length && *rule.max_length <= kWindow;
      if (c.all->Add(rule.pattern, &error) < 0 ||
          (bounded ? c.bounded : c.unbounded)->Add(rule.pattern, &error) < 0)
        return Error::Internal("redaction rule " + rule.entity + " in " + rule.file + ":" +
                               std::to_string(rule.line) + " cannot join the rule set: " + error);
      (bounded ? c.bounded_rule : c.unbounded_rule).push_back(idx);
      if (bounded) alternation += (alternation.empty() ? "(?:" : "|(?:") + rule.pattern + ")";
      r->rules_.push_back(&rule);
    }
  }
  if (!c.all->Compile() || !c.bounded->Compile() || !c.unbounded->Compile())
    return Error::Internal("the redaction rule sets together exceed RE2's memory budget");
  if (!alternation.empty()) {
    RE2::Options opts = SetOptions();
    opts.set_max_mem(256 << 20);
    opts.set_never_capture(true);
    c.regions = std::make_unique<RE2>(alternation, opts);
    // Too large to compile as one expression (many custom rules): every text is searched the
    // reference way — slower, the same answer.
    if (!c.regions->ok()) c.regions.reset();
  }
  return std::shared_ptr<const Redactor>(std::move(r));
}

Result<std::shared_ptr<const Redactor>> Redactor::ForPolicy(const Policy& policy,
                                                            const RuleSets& sets) {
  std::vector<const RuleSet*> chosen;
  for (const auto& name : policy.redaction_rule_sets) {
    const RuleSet* set = sets.Find(name);
    if (!set) return Error::Internal("policy '" + policy.name + "' names the unknown rule set '" + name + "'");
    chosen.push_back(set);
  }
  return Build(chosen);
}

void Redactor::Collect(int idx, std::string_view text, size_t from, size_t to, size_t own_begin,
                       size_t own_end, const KeepOut& keep_out, std::vector<RedactionMatch>& out) const {
  const Rule& rule = *rules_[static_cast<size_t>(idx)];
  const RE2& re = *rule.re;
  const int groups = re.NumberOfCapturingGroups();
  const re2::StringPiece input(text.data(), text.size());
  re2::StringPiece sub[2];
  size_t pos = from;
  while (pos <= to && re.Match(input, pos, to, RE2::UNANCHORED, sub, groups + 1)) {
    const re2::StringPiece whole = sub[0];
    const size_t whole_begin = static_cast<size_t>(whole.data() - text.data());
    const size_t whole_end = whole_begin + whole.size();
    if (whole_begin >= own_end) break;
    const re2::StringPiece& value = groups == 1 ? sub[1] : sub[0];
    std::optional<std::pair<size_t, size_t>> part;
    if (whole_begin >= own_begin && value.data() != nullptr && !value.empty() &&
        (part = ValidateSpan(rule.validator, std::string_view(value.data(), value.size()))) &&
        part->second > part->first) {
      const size_t b = static_cast<size_t>(value.data() - text.data()) + part->first;
      const size_t e = b + (part->second - part->first);
      bool kept_out = false;
      for (const auto& [kb, ke] : keep_out) kept_out = kept_out || (b < ke && kb < e);
      if (!kept_out) out.push_back({b, e, idx, whole.size()});
    }
    pos = whole.empty() ? whole_end + 1 : whole_end;
  }
}

void Redactor::CollectInRegions(std::string_view text, size_t from, size_t to, size_t last_start,
                                const KeepOut& keep_out, std::vector<RedactionMatch>& out) const {
  const Compiled& c = *compiled_;
  const size_t n = text.size();
  const re2::StringPiece input(text.data(), n);
  std::vector<int> hits;
  // Regions whose windows overlap are read together: one set search over the cluster's window,
  // then the rules that hit search it. Dense text makes one cluster of the rest of the range.
  auto search = [&](size_t begin, size_t end) {
    const size_t window_end = std::min(n, end + kWindow);
    hits.clear();
    // Without its surroundings the window can only hit more rules (\b and ^ at its edges),
    // never fewer: a pattern with \B is never bounded (MaxMatchLength).
    if (c.bounded->Match(re2::StringPiece(text.data() + begin, window_end - begin), &hits))
      for (int i : hits) Collect(c.bounded_rule[static_cast<size_t>(i)], text, begin, window_end, begin, end, keep_out, out);
  };
  re2::StringPiece m;
  bool open = false;
  size_t begin = 0, end = 0;
  size_t pos = from;
  while (pos <= to && c.regions->Match(input, pos, to, RE2::UNANCHORED, &m, 1)) {
    const size_t s = static_cast<size_t>(m.data() - text.data()), e = std::max(s + m.size(), s + 1);
    if (s > last_start) break;
    if (open && s <= end + kWindow) {
      end = std::max(end, e);
    } else {
      if (open) search(begin, end);
      open = true;
      begin = s;
      end = e;
    }
    if (end - begin > kDenseCluster) {  // values everywhere: the rest in one go
      end = std::max(end, std::min(n, last_start + 1));
      break;
    }
    pos = m.empty() ? s + 1 : s + m.size();
  }
  if (open) search(begin, end);
}

std::vector<RedactionMatch> Redactor::Find(std::string_view text, const KeepOut& keep_out) const {
  if (text.size() <= kSmall || !compiled_->regions) return FindReference(text, keep_out);
  std::vector<RedactionMatch> candidates;
  CollectUnbounded(text, keep_out, candidates);
  CollectInRegions(text, 0, text.size(), text.size(), keep_out, candidates);
  return Merge(std::move(candidates));
}

std::vector<RedactionMatch> Redactor::FindNear(std::string_view text, const KeepOut& keep_out,
                                               const KeepOut& changed) const {
  if (text.size() <= kSmall || !compiled_->regions) return FindReference(text, keep_out);
  std::vector<RedactionMatch> candidates;
  CollectUnbounded(text, keep_out, candidates);
  // A new match touches a replacement [b, e): it starts in [b - kWindow, e] (its context character
  // included) and, bounded, ends before e + 1 + kWindow. Replacements that close share one search.
  const size_t n = text.size();
  for (size_t i = 0; i < changed.size();) {
    size_t b = changed[i].first, e = changed[i].second;
    for (++i; i < changed.size() && changed[i].first <= e + 1 + 2 * kWindow; ++i) e = std::max(e, changed[i].second);
    CollectInRegions(text, b - std::min(b, kWindow), std::min(n, e + 1 + kWindow), e, keep_out, candidates);
  }
  return Merge(std::move(candidates));
}

void Redactor::CollectUnbounded(std::string_view text, const KeepOut& keep_out,
                                std::vector<RedactionMatch>& out) const {
  std::vector<int> hits;
  if (compiled_->unbounded->Match(re2::StringPiece(text.data(), text.size()), &hits))
    for (int i : hits) Collect(compiled_->unbounded_rule[static_cast<size_t>(i)], text, 0, text.size(), 0, text.size(), keep_out, out);
}

std::vector<RedactionMatch> Redactor::FindReference(std::string_view text, const KeepOut& keep_out) const {
  std::vector<RedactionMatch> candidates;
  if (text.empty() || rules_.empty()) return candidates;
  std::vector<int> hits;
  if (!compiled_->all->Match(re2::StringPiece(text.data(), text.size()), &hits)) return candidates;
  for (int idx : hits) Collect(idx, text, 0, text.size(), 0, text.size(), keep_out, candidates);
  return Merge(std::move(candidates));
}

std::vector<RedactionMatch> Redactor::Merge(std::vector<RedactionMatch> candidates) const {
  std::vector<RedactionMatch> out;
  // Overlapping candidates (transitively) become one region: nothing of any of them is left in
  // clear ("postgres://u:S3cr3t~pw@db" is both a URL password and an e-mail-like "pw@db").
  // The region is labelled by its best candidate: one found through context words first (a
  // rule whose whole match reaches kContext characters beyond the value; of two, the one with
  // more context), then the longest value, then the earlier rule, then the earlier position.
  constexpr size_t kContext = 3;
  auto better = [&](const RedactionMatch& a, const RedactionMatch& b) {
    const bool ca = a.span >= (a.end - a.begin) + kContext, cb = b.span >= (b.end - b.begin) + kContext;
    if (ca != cb) return ca;
    // Of two context rules, the one that read more ("National Insurance number" over
    // "Insurance number").
    if (ca && a.span != b.span) return a.span > b.span;
    size_t la = a.end - a.begin, lb = b.end - b.begin;
    if (la != lb) return la > lb;
    if (a.rule != b.rule) return a.rule < b.rule;
    return a.begin < b.begin;
  };
  std::sort(candidates.begin(), candidates.end(),
            [](const RedactionMatch& a, const RedactionMatch& b) { return a.begin < b.begin; });
  for (size_t i = 0; i < candidates.size();) {
    RedactionMatch region = candidates[i];
    const RedactionMatch* best = &candidates[i];
    size_t j = i + 1;
    for (; j < candidates.size() && candidates[j].begin < region.end; ++j) {
      region.end = std::max(region.end, candidates[j].end);
      if (better(candidates[j], *best)) best = &candidates[j];
    }
    region.rule = best->rule;
    region.span = best->span;
    out.push_back(region);
    i = j;
  }
  return out;
}

RedactionSession::RedactionSession(std::shared_ptr<const Redactor> redactor, RedactionMode mode)
    : redactor_(std::move(redactor)), mode_(mode) {}

RedactionSession::~RedactionSession() {
  // The mapping holds the original values: wipe them.
  for (auto& [value, placeholder] : to_placeholder_) {
    std::string v = value;
    WipeString(v);
  }
  for (auto& [placeholder, value] : to_value_) WipeString(value);
}

void RedactionSession::Reserve(std::string_view text) {
  for (size_t open = text.find('['); open != std::string_view::npos; open = text.find('[', open + 1)) {
    size_t close = text.find(']', open);
    if (close == std::string_view::npos) return;
    std::string_view token = text.substr(open, close - open + 1);
    size_t us = token.rfind('_');
    bool shaped = token.size() >= 5 && us != std::string_view::npos && us > 1 && us + 2 < token.size();
    for (size_t i = 1; shaped && i + 1 < token.size(); ++i) {
      char c = token[i];
      if (i == us) continue;
      shaped = i < us ? ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') : (c >= '0' && c <= '9');
    }
    if (shaped && !to_value_.count(std::string(token))) reserved_.insert(std::string(token));
  }
}

Status RedactionSession::RedactText(std::string& text) {
  Reserve(text);
  // A value can hide another: "+44 20 7946 0958 123-45-6789" reads as one over-long phone
  // number until the SSN is replaced, and a match that began inside another one is only seen
  // once that one is gone. So passes repeat until a pass finds nothing (placeholders never match
  // a rule); real text settles in two passes, the second of which only re-scans the rules that
  // still hit somewhere. The fuzzer found both cases.
  constexpr int kMaxPasses = 16;
  KeepOut changed;
  for (int pass = 0; pass < kMaxPasses; ++pass) {
    std::vector<RedactionMatch> matches = pass == 0 ? redactor_->Find(text, PlaceholdersIn(text))
                                                    : redactor_->FindNear(text, PlaceholdersIn(text), changed);
    if (matches.empty()) return Status::Ok();
    if (Status s = ReplaceMatches(text, matches, changed); !s) return s;
  }
  // Only contrived text (e.g. thousands of overlapping IPv6-like runs) gets here. Fail closed.
  if (redactor_->FindNear(text, PlaceholdersIn(text), changed).empty()) return Status::Ok();
  WipeString(text);
  return Error::Forbidden("The request could not be redacted reliably (too many overlapping "
                          "sensitive-looking values); nothing was sent.",
                          "content_blocked");
}

KeepOut RedactionSession::PlaceholdersIn(std::string_view text) const {
  KeepOut spans;
  if (to_value_.empty()) return spans;
  for (size_t open = text.find('['); open != std::string_view::npos; open = text.find('[', open + 1)) {
    const size_t close = text.find(']', open);
    if (close == std::string_view::npos) break;
    if (close - open + 1 <= longest_placeholder_ && to_value_.count(std::string(text.substr(open, close - open + 1))))
      spans.emplace_back(open, close + 1);
  }
  return spans;
}

Status RedactionSession::ReplaceMatches(std::string& text, const std::vector<RedactionMatch>& matches,
                                        KeepOut& replaced) {
  replaced.clear();
  std::string out;
  out.reserve(text.size());
  size_t last = 0;
  for (const auto& m : matches) {
    const Rule& rule = *redactor_->rules()[static_cast<size_t>(m.rule)];
    if (mode_ == RedactionMode::kBlock || rule.action == RuleAction::kBlock) {
      WipeString(out);
      return Error::Forbidden("The request contains a value of type " + rule.entity +
                                  ", which this key's policy does not allow to leave the gateway.",
                              "content_blocked");
    }
    out.append(text, last, m.begin - last);
    std::string value = text.substr(m.begin, m.end - m.begin);
    counts_[rule.entity]++;
    const size_t at = out.size();
    if (mode_ == RedactionMode::kMask) {
      out += "[" + rule.entity + "]";
    } else {
      auto it = to_placeholder_.find(value);
      if (it == to_placeholder_.end()) {
        std::string ph;
        do {
          ph = "[" + rule.entity + "_" + std::to_string(++next_[rule.entity]) + "]";
        } while (reserved_.count(ph));
        longest_placeholder_ = std::max(longest_placeholder_, ph.size());
        to_value_[ph] = value;
        it = to_placeholder_.emplace(value, ph).first;
      }
      out += it->second;
    }
    replaced.emplace_back(at, out.size());
    WipeString(value);
    last = m.end;
  }
  out.append(text, last, std::string::npos);
  WipeString(text);
  text = std::move(out);
  return Status::Ok();
}

Status RedactionSession::RedactField(Json& value) {
  if (value.is_string()) return RedactText(value.get_ref<std::string&>());
  if (value.is_array()) {
    for (auto& item : value) {
      if (item.is_string()) {
        if (Status s = RedactText(item.get_ref<std::string&>()); !s) return s;
      } else if (item.is_object()) {
        // A content part: {"type":"text","text":…}; other parts (images, audio) pass as they are.
        if (auto t = item.find("text"); t != item.end() && t->is_string())
          if (Status s = RedactText(t->get_ref<std::string&>()); !s) return s;
      }
    }
  }
  return Status::Ok();
}

Status RedactionSession::RedactRequest(Json& body) {
  Reserve(Dump(body));  // tokens anywhere in the request, before any placeholder is made
  if (auto msgs = body.find("messages"); msgs != body.end() && msgs->is_array()) {
    for (auto& m : *msgs) {
      if (!m.is_object()) continue;
      if (auto c = m.find("content"); c != m.end())
        if (Status s = RedactField(*c); !s) return s;
      if (auto n = m.find("name"); n != m.end() && n->is_string())
        if (Status s = RedactText(n->get_ref<std::string&>()); !s) return s;
      if (auto calls = m.find("tool_calls"); calls != m.end() && calls->is_array()) {
        for (auto& call : *calls) {
          if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) continue;
          Json& fn = call["function"];
          if (auto a = fn.find("arguments"); a != fn.end() && a->is_string())
            if (Status s = RedactText(a->get_ref<std::string&>()); !s) return s;
        }
      }
      if (auto fc = m.find("function_call"); fc != m.end() && fc->is_object())
        if (auto a = fc->find("arguments"); a != fc->end() && a->is_string())
          if (Status s = RedactText(a->get_ref<std::string&>()); !s) return s;
    }
  }
  for (const char* field : {"input", "prompt"}) {
    if (auto f = body.find(field); f != body.end())
      if (Status s = RedactField(*f); !s) return s;
  }
  return Status::Ok();
}

std::string RedactionSession::Restore(std::string_view text) const {
  if (to_value_.empty() || text.find('[') == std::string_view::npos) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find('[', i);
    if (open == std::string_view::npos) break;
    size_t close = text.find(']', open);
    if (close == std::string_view::npos || close - open + 1 > longest_placeholder_) {
      out.append(text.substr(i, open + 1 - i));
      i = open + 1;
      continue;
    }
    auto it = to_value_.find(std::string(text.substr(open, close - open + 1)));
    out.append(text.substr(i, open - i));
    if (it != to_value_.end()) {
      out += it->second;
      i = close + 1;
    } else {
      out.push_back('[');
      i = open + 1;
    }
  }
  out.append(text.substr(std::min(i, text.size())));
  return out;
}

void RedactionSession::RestoreResponse(Json& body) const {
  if (to_value_.empty()) return;
  auto restore = [&](Json& v) {
    if (v.is_string()) v = Restore(v.get_ref<const std::string&>());
  };
  auto choices = body.find("choices");
  if (choices == body.end() || !choices->is_array()) return;
  for (auto& c : *choices) {
    if (!c.is_object()) continue;
    if (auto t = c.find("text"); t != c.end()) restore(*t);
    auto msg = c.find("message");
    if (msg == c.end() || !msg->is_object()) continue;
    if (auto content = msg->find("content"); content != msg->end()) restore(*content);
    if (auto calls = msg->find("tool_calls"); calls != msg->end() && calls->is_array())
      for (auto& call : *calls)
        if (call.is_object() && call.contains("function") && call["function"].is_object())
          if (auto a = call["function"].find("arguments"); a != call["function"].end()) restore(*a);
    if (auto fc = msg->find("function_call"); fc != msg->end() && fc->is_object())
      if (auto a = fc->find("arguments"); a != fc->end()) restore(*a);
  }
}

namespace {
bool PlaceholderChar(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }
}  // namespace

std::string StreamRestorer::Push(std::string_view piece) {
  held_.append(piece);
  // Hold back from the last '[' if what follows it could still grow into a placeholder.
  size_t hold = held_.size();
  size_t open = held_.rfind('[');
  if (open != std::string::npos && held_.find(']', open) == std::string::npos &&
      held_.size() - open < session_->longest_placeholder()) {
    bool could_be = true;
    for (size_t i = open + 1; i < held_.size() && could_be; ++i) could_be = PlaceholderChar(held_[i]);
    if (could_be) hold = open;
  }
  std::string ready = session_->Restore(std::string_view(held_).substr(0, hold));
  held_.erase(0, hold);
  return ready;
}

std::string StreamRestorer::Flush() {
  std::string rest = session_->Restore(held_);
  held_.clear();
  return rest;
}

StreamRestorer& ChunkRestorer::For(int choice, int tool) {
  return restorers_.try_emplace({choice, tool}, session_).first->second;
}

namespace {
// The tool call entry with `index` in a delta's tool_calls, created if absent.
Json& ToolCall(Json& delta, int index) {
  Json& calls = delta["tool_calls"];
  if (!calls.is_array()) calls = Json::array();
  for (auto& c : calls)
    if (c.is_object() && c.value("index", 0) == index) return c;
  calls.push_back(Json{{"index", index}, {"function", {{"arguments", ""}}}});
  return calls.back();
}
}  // namespace

void ChunkRestorer::Apply(Json& chunk) {
  if (!chunk.is_object()) return;
  for (const char* k : {"id", "object", "created", "model", "system_fingerprint"})
    if (auto it = chunk.find(k); it != chunk.end()) skeleton_[k] = *it;
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array()) return;
  for (auto& c : *choices) {
    if (!c.is_object()) continue;
    const int idx = c.value("index", 0);
    Json& delta = c["delta"];
    if (!delta.is_object()) delta = Json::object();
    if (auto content = delta.find("content"); content != delta.end() && content->is_string())
      *content = For(idx, -1).Push(content->get_ref<const std::string&>());
    if (auto calls = delta.find("tool_calls"); calls != delta.end() && calls->is_array()) {
      for (auto& call : *calls) {
        if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) continue;
        auto args = call["function"].find("arguments");
        if (args != call["function"].end() && args->is_string())
          *args = For(idx, call.value("index", 0)).Push(args->get_ref<const std::string&>());
      }
    }
    auto finish = c.find("finish_reason");
    if (finish == c.end() || finish->is_null()) continue;
    for (auto& [key, restorer] : restorers_) {
      if (key.first != idx || !restorer.holding()) continue;
      std::string rest = restorer.Flush();
      if (key.second < 0) {
        std::string content = delta.contains("content") && delta["content"].is_string() ? delta["content"].get<std::string>() : "";
        delta["content"] = content + rest;
      } else {
        Json& call = ToolCall(delta, key.second);
        Json& fn = call["function"];
        std::string args = fn.contains("arguments") && fn["arguments"].is_string() ? fn["arguments"].get<std::string>() : "";
        fn["arguments"] = args + rest;
      }
    }
  }
}

std::optional<Json> ChunkRestorer::Drain() {
  std::map<int, Json> deltas;
  for (auto& [key, restorer] : restorers_) {
    if (!restorer.holding()) continue;
    Json& delta = deltas[key.first];
    if (!delta.is_object()) delta = Json::object();
    if (key.second < 0) delta["content"] = restorer.Flush();
    else ToolCall(delta, key.second)["function"]["arguments"] = restorer.Flush();
  }
  if (deltas.empty()) return std::nullopt;
  Json chunk = skeleton_;
  chunk["choices"] = Json::array();
  for (auto& [idx, delta] : deltas)
    chunk["choices"].push_back(Json{{"index", idx}, {"delta", delta}, {"finish_reason", nullptr}});
  return chunk;
}

}  // namespace warden
