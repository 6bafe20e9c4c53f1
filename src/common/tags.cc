#include "common/tags.h"

#include <algorithm>
#include <cctype>

namespace warden {
namespace {

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}
bool ValueChar(char c) { return NameChar(c) || c == '.' || c == ':' || c == '@'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Error Invalid(const std::string& why) {
  return Error::BadRequest("Invalid " + std::string(kTagsHeader) + " header: " + why + ".", "", "invalid_tags");
}

}  // namespace

bool ValidTagName(std::string_view name) {
  return !name.empty() && name.size() <= 32 && std::all_of(name.begin(), name.end(), NameChar);
}

Result<Tags> ParseTags(std::string_view header, const std::vector<std::string>& allowed) {
  Tags tags;
  header = Trim(header);
  if (header.empty()) return tags;
  while (true) {
    const size_t comma = header.find(',');
    const std::string_view item = Trim(header.substr(0, comma));
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return Invalid("each tag is name=value, separated by commas");
    const std::string_view name = Trim(item.substr(0, eq)), value = Trim(item.substr(eq + 1));
    if (!ValidTagName(name)) return Invalid("a tag name is 1 to 32 letters, digits, '_' or '-'");
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
      return Invalid(allowed.empty() ? "this key's policy allows no tags"
                                     : "'" + std::string(name) + "' is not a tag this key's policy allows");
    // Starting with a letter or digit: a spreadsheet opening the CSV export takes a cell that
    // starts with - or @ for a formula.
    if (value.empty() || value.size() > kMaxTagValue || !std::all_of(value.begin(), value.end(), ValueChar) ||
        !std::isalnum(static_cast<unsigned char>(value.front())))
      return Invalid("the value of '" + std::string(name) + "' must be 1 to " + std::to_string(kMaxTagValue) +
                     " letters, digits or . _ : @ -, starting with a letter or digit");
    for (const auto& t : tags)
      if (t.first == name) return Invalid("'" + std::string(name) + "' is given twice");
    if (tags.size() == kMaxTags) return Invalid("at most " + std::to_string(kMaxTags) + " tags");
    tags.emplace_back(name, value);
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  std::sort(tags.begin(), tags.end());
  return tags;
}

std::string TagsText(const Tags& tags) {
  std::string out;
  for (const auto& [name, value] : tags) {
    if (!out.empty()) out += ';';
    out += name + "=" + value;
  }
  return out;
}

Tags ParseTagsText(std::string_view text) {
  Tags tags;
  while (!text.empty()) {
    const size_t semi = text.find(';');
    const std::string_view item = text.substr(0, semi);
    const size_t eq = item.find('=');
    if (eq != std::string_view::npos) tags.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    if (semi == std::string_view::npos) break;
    text.remove_prefix(semi + 1);
  }
  return tags;
}

std::string TagValue(const Tags& tags, std::string_view name) {
  for (const auto& [n, v] : tags)
    if (n == name) return v;
  return "";
}

std::string TagBudgetSubject(const std::string& name, const std::string& value) { return "tag:" + name + "=" + value; }

Status TagValueCap::Admit(const Tags& tags, const std::string& day) {
  if (tags.empty()) return Status::Ok();
  MutexLock lock(mu_);
  if (day != day_) {
    day_ = day;
    seen_.clear();
  }
  for (const auto& [name, value] : tags) {
    const auto it = seen_.find(name);
    if (it != seen_.end() && it->second.size() >= kMaxValuesPerDay && !it->second.count(value))
      return Invalid("'" + name + "' has taken " + std::to_string(kMaxValuesPerDay) +
                     " different values today on this gateway; no new value is accepted until tomorrow (UTC)");
  }
  for (const auto& [name, value] : tags) seen_[name].insert(value);
  return Status::Ok();
}

}  // namespace warden
