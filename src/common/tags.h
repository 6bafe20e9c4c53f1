// Attribution tags: labels a client attaches to a request so its cost can be attributed and
// budgeted by team, project or end user. One header, documented in the README:
//
//   x-warden-tags: team=payments, project=checkout
//
// Contract: only names the key's policy lists (`tags: [team, project]`) are accepted. An unlisted
// name, a malformed header, more than kMaxTags tags or a bad value is refused with a 400
// (`invalid_tags`), never silently dropped, so a client learns at once that its spend would not be
// attributed. Tags are taken from this header only — never from the body (`user`, `metadata`),
// which may be content and travels upstream. Values are 1–64 characters of [A-Za-z0-9._:@-],
// starting with a letter or digit: labels, not text (and no spreadsheet formula in the export). They appear in the usage aggregates, the audit record, the access log and the
// usage export; never in metric labels (their values are unbounded).
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "common/result.h"

namespace warden {

inline constexpr size_t kMaxTags = 8;
inline constexpr size_t kMaxTagValue = 64;
inline constexpr std::string_view kTagsHeader = "x-warden-tags";

using Tags = std::vector<std::pair<std::string, std::string>>;  // name → value, sorted by name

// 1–32 of [A-Za-z0-9_-].
bool ValidTagName(std::string_view name);
// The header's tags, each name one of `allowed`; an empty header is no tags.
Result<Tags> ParseTags(std::string_view header, const std::vector<std::string>& allowed);
// "project=checkout;team=payments" (the usage ledger's form) and back; "" is no tags.
std::string TagsText(const Tags& tags);
Tags ParseTagsText(std::string_view text);
// The value of tag `name`, or "".
std::string TagValue(const Tags& tags, std::string_view name);
// The spend ledger's subject for a budget shared by every request with this tag value.
std::string TagBudgetSubject(const std::string& name, const std::string& value);

// Bounds how many distinct values each tag name takes per UTC day in this process: every new
// value costs memory in the usage and spend ledgers, and values are chosen by clients. A request
// bringing a value beyond kMaxValuesPerDay for its tag is refused (400 invalid_tags); values
// already seen today always pass. Thread-safe.
class TagValueCap {
 public:
  static constexpr size_t kMaxValuesPerDay = 10000;
  // Admits all of `tags` or none; `day` is the UTC day ("YYYY-MM-DD"), which resets the count.
  Status Admit(const Tags& tags, const std::string& day);

 private:
  Mutex mu_;
  std::string day_ GUARDED_BY(mu_);
  std::map<std::string, std::set<std::string>> seen_ GUARDED_BY(mu_);  // name → values today
};

}  // namespace warden
