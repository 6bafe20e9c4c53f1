#include "audit/usage_export.h"

#include <cmath>
#include <iterator>
#include <string>

#include "common/cli.h"
#include "common/json.h"
#include "common/money.h"

namespace warden::audit {
namespace {

constexpr const char* kColumns[] = {"request_id", "time",       "key_id",       "policy",
                                    "tags",       "endpoint",   "model",        "deployment",
                                    "provider",   "status",     "outcome",      "prompt_tokens",
                                    "completion_tokens", "cached_prompt_tokens", "cost_usd", "cost_picos",
                                    "usage_estimated"};

// "2026-12-05T10:41:11.123Z"
std::string IsoMillis(int64_t ms) {
  std::string t = cli::FormatTime(ms / 1000);
  const int frac = static_cast<int>(ms % 1000);
  t.insert(t.size() - 1, "." + std::string(frac < 100 ? (frac < 10 ? "00" : "0") : "") + std::to_string(frac));
  return t;
}

// A CSV field: quoted when it holds a separator, a quote or a line break (RFC 4180).
std::string Csv(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

int64_t Int(const Json& meta, const char* k) {
  auto it = meta.find(k);
  return it != meta.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}
double Num(const Json& meta, const char* k) {
  auto it = meta.find(k);
  return it != meta.end() && it->is_number() ? it->get<double>() : 0;
}
std::string Str(const Json& meta, const char* k) {
  auto it = meta.find(k);
  return it != meta.end() && it->is_string() ? it->get<std::string>() : "";
}

// The row of one request record: the named fields of its metadata, nothing else.
Json Row(const Record& r, const Json& meta) {
  Json tags = Json::object();
  if (auto t = meta.find("tags"); t != meta.end() && t->is_object())
    for (const auto& [name, value] : t->items())
      if (value.is_string()) tags[name] = value;
  // Records written before `provider` was: the deployment is "provider/model".
  std::string provider = Str(meta, "provider");
  if (provider.empty()) provider = Str(meta, "deployment").substr(0, Str(meta, "deployment").find('/'));
  // Records written before cost_picos carry only the number.
  const Picos cost = meta.contains("cost_picos") ? Int(meta, "cost_picos")
                                                 : std::llround(Num(meta, "cost_usd") * static_cast<double>(kPicosPerUsd));
  auto estimated = meta.find("usage_estimated");
  return Json{{"request_id", Str(meta, "request_id")},
              {"time", IsoMillis(r.header.time_ms)},
              {"key_id", r.header.key_id},
              {"policy", Str(meta, "policy")},
              {"tags", std::move(tags)},
              {"endpoint", Str(meta, "endpoint")},
              {"model", Str(meta, "model")},
              {"deployment", Str(meta, "deployment")},
              {"provider", provider},
              {"status", Int(meta, "status")},
              {"outcome", Str(meta, "outcome").empty() ? std::string("rejected") : Str(meta, "outcome")},
              {"prompt_tokens", Int(meta, "prompt_tokens")},
              {"completion_tokens", Int(meta, "completion_tokens")},
              {"cached_prompt_tokens", Int(meta, "cached_prompt_tokens")},
              {"cost_usd", UsdNumber(cost)},
              {"cost_picos", cost},
              {"usage_estimated", estimated != meta.end() && estimated->is_boolean() && estimated->get<bool>()}};
}

void WriteCsv(const Json& row, std::ostream& out) {
  bool first = true;
  for (const char* c : kColumns) {
    if (!first) out << ',';
    first = false;
    const Json& v = row[c];
    if (std::string_view(c) == "tags") {
      std::string text;  // "project=checkout;team=payments", the usage ledger's form
      for (const auto& [name, value] : v.items()) text += (text.empty() ? "" : ";") + name + "=" + value.get<std::string>();
      out << Csv(text);
    } else if (std::string_view(c) == "cost_usd") {
      out << FormatUsd(row["cost_picos"].get<Picos>(), 0);  // the exact decimal
    } else if (v.is_string()) {
      out << Csv(v.get<std::string>());
    } else {
      out << v.dump();
    }
  }
  out << "\n";
}

}  // namespace

Result<ExportCounts> ExportUsage(const AuditReader& reader, Decryptor& decryptor, int64_t since_ms, int64_t until_ms,
                                 ExportFormat format, std::ostream& out) {
  ExportCounts counts;
  if (format == ExportFormat::kCsv) {
    for (size_t i = 0; i < std::size(kColumns); ++i) out << (i ? "," : "") << kColumns[i];
    out << "\n";
  }
  Status s = reader.ForEachRaw(1, [&](uint64_t, std::string_view raw) {
    auto r = Decode(raw);
    if (!r) {  // damaged: counted (`warden-audit verify` says where); the export goes on
      ++counts.unreadable;
      return true;
    }
    const RecordType type = r->header.type;
    if (type != RecordType::kOutcome && type != RecordType::kRejected) return true;
    if (r->header.time_ms < since_ms || r->header.time_ms >= until_ms) return true;
    Decryptor::Opened opened = decryptor.OpenMeta(*r);
    if (opened.meta_state != Decryptor::State::kOk || !opened.meta.is_object()) {
      ++counts.unreadable;
      return true;
    }
    const Json row = Row(*r, opened.meta);
    if (format == ExportFormat::kJsonl) out << Dump(row) << "\n";
    else WriteCsv(row, out);
    ++counts.rows;
    return true;
  });
  if (!s) return s.error();
  out.flush();
  if (!out) return Error::Internal("the export could not be written");
  return counts;
}

}  // namespace warden::audit
