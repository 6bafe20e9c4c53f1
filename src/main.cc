// warden: the gateway binary.
//
//   warden serve        [--config FILE]   run the gateway
//   warden check-config [--config FILE]   validate the config, print every problem, exit 0/1
//   warden keys create --name NAME [--policy POLICY] [--env ENV] [--expires-in DUR] [--config FILE]
//   warden keys list   [--config FILE]
//   warden keys revoke ID_OR_NAME [--config FILE]
//   warden keys rotate ID_OR_NAME [--grace DUR] [--config FILE]
//   warden redact --policy NAME [--config FILE]   redact stdin with a policy's rule sets
//   warden version
//
// Exit codes: 0 success, 1 invalid config or failed command, 2 usage error, 3 (serve) the audit
// store refuses to open: acknowledged records are missing or the store is damaged.
#include <sys/resource.h>
#include <sys/stat.h>

#include <signal.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "admin/budgets.h"
#include "audit/usage_export.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/money.h"
#include "common/util.h"
#include "config/config.h"
#include "policy/policy.h"
#include "redaction/redactor.h"
#include "cluster/redis.h"
#include "cluster/redis_key_records.h"
#include "cluster/redis_usage.h"
#include "cluster/shared_limits.h"
#include "server/admin_client.h"
#include "server/app.h"
#include "server/load.h"
#include "keys/key_store.h"
#include "limits/spend_ledger.h"
#include "limits/usage_ledger.h"
#include "store/store.h"

namespace {

using warden::Config;
using warden::ConfigProblem;

constexpr const char* kDefaultConfig = "config/warden.yaml";
constexpr const char* kUsage =
    "usage: warden <command> [options]\n"
    "  serve         [--config FILE]   run the gateway (default config: config/warden.yaml)\n"
    "  check-config  [--config FILE]   validate the config and report every problem\n"
    "  keys create --name NAME [--policy POLICY] [--env development|staging|production]\n"
    "              [--expires-in DURATION] [--config FILE]\n"
    "  keys list     [--config FILE]\n"
    "  keys revoke ID_OR_NAME [--config FILE]\n"
    "  keys rotate ID_OR_NAME [--grace DURATION] [--config FILE]   (DURATION: 90s, 30m, 12h, 30d)\n"
    "  usage [--by key|policy|model|deployment|provider|day|tag:NAME] [--since DATE] [--until DATE]\n"
    "        [--format table|json|csv] [--config FILE]   tokens, requests and cost (works beside\n"
    "                                                    a running gateway; up to ~1 s behind it)\n"
    "  usage budgets [--format table|json|csv] [--config FILE]   per key with a budget: spent\n"
    "                                                    today and this month, limit, remaining\n"
    "  usage export [--since T] [--until T] [--format jsonl|csv] [--config FILE]   one content-free\n"
    "        row per request from the audit log (T: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)\n"
    "  redact --policy NAME [--config FILE]   redact stdin with the policy's rules (placeholder\n"
    "                                         mode prints the text sent upstream; counts on stderr)\n"
    "  version\n";

using warden::cli::Args;
using warden::cli::FormatTime;
using warden::cli::Opt;

Args ParseArgs(int argc, char** argv, int first) { return warden::cli::Parse(argc, argv, first, "warden"); }
bool OnlyOptions(const Args& a, std::initializer_list<const char*> allowed) {
  return warden::cli::OnlyOptions(a, allowed, "warden", kUsage);
}

size_t ErrorCount(const warden::Loaded& loaded) {
  size_t errors = 0;
  for (const ConfigProblem& p : loaded.problems) errors += p.severity == ConfigProblem::Severity::kError;
  return errors;
}

// Loads the config, policies and rule sets, printing every problem; !ok() on errors.
warden::Loaded Load(const Args& a, bool print_ok) {
  warden::Loaded loaded = warden::LoadAll(Opt(a, "config", kDefaultConfig));
  for (const ConfigProblem& p : loaded.problems) std::cerr << p.ToString() << "\n";
  if (!loaded.ok()) {
    std::cerr << "warden: the configuration has " << ErrorCount(loaded) << " error(s)\n";
    return loaded;
  }
  if (print_ok)
    std::cerr << "warden: " << loaded.config->path << ", " << loaded.policies->Names().size()
              << " policies and " << loaded.rule_sets->Names().size() << " redaction rule sets in "
              << loaded.config->policies_dir << " are valid"
              << (loaded.config->cluster.enabled()
                      ? " (a fleet: shared state in " + warden::RedisDisplayName(loaded.config->cluster.redis) +
                            ", reached when serving)"
                      : std::string())
              << "\n";
  return loaded;
}

// "90s", "30m", "12h", "30d" → seconds; nullopt if malformed.
std::optional<int64_t> ParseDays(const std::string& text) {
  if (text.size() < 2) return std::nullopt;
  char unit = text.back();
  int64_t mult = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
  char* end = nullptr;
  long long n = std::strtoll(text.c_str(), &end, 10);
  if (mult == 0 || end != text.c_str() + text.size() - 1 || n < 0 || n > 100LL * 365 * 86400 / mult)
    return std::nullopt;
  return n * mult;
}

// SIGHUP: re-reads the config file, the policies and the rule sets. Any error keeps the running
// configuration and logs why (file:line problems on stderr, as check-config prints them); the
// process never stops over a bad reload.
void Reload(const Args& a, warden::App& app) {
  warden::log::Info("reloading", {{"signal", "SIGHUP"}});
  warden::Loaded loaded = Load(a, false);  // problems on stderr, as check-config prints them
  if (!loaded.ok()) {
    warden::log::Error("reload_failed", {{"errors", ErrorCount(loaded)},
                                         {"message", "the configuration has errors; the running one is kept"}});
    return;
  }
  auto restart = app.Reload(loaded);
  if (!restart) {
    warden::log::Error("reload_failed", {{"error", restart.error().message},
                                         {"message", "the running configuration is kept"}});
    return;
  }
  warden::log::Fields fields{{"policies", loaded.policies->Names().size()},
                            {"models", loaded.config->models.size()},
                            {"providers", loaded.config->providers.size()}};
  if (!restart->empty()) fields["restart_needed"] = *restart;
  warden::log::Info("reloaded", fields);
}

int Serve(const Args& a) {
  if (!OnlyOptions(a, {"config"})) return 2;
  warden::Loaded loaded = Load(a, false);
  if (!loaded.ok()) return 1;
  auto config = loaded.config;
  if (!warden::log::SetSink(config->server.access_log)) {
    std::cerr << "warden: cannot open the log file " << config->server.access_log << "\n";
    return 1;
  }
  warden::log::SetLevel(warden::log::ParseLevel(config->server.log_level, warden::log::Level::kInfo));

  // Signals are taken synchronously by the main thread (sigwait); every thread started from
  // here on inherits the blocked mask. SIGPIPE is ignored: a client that goes away is an
  // ordinary write error.
  signal(SIGPIPE, SIG_IGN);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto app = warden::App::Create(loaded);
  if (!app) {
    warden::log::Error("startup_failed", {{"error", app.error().message}, {"code", app.error().code}});
    std::cerr << "warden: " << app.error().message << "\n";
    // An audit store that lost acknowledged records or is damaged: not a config mistake, and
    // not something a restart fixes (systemd: RestartPreventExitStatus=3).
    const bool audit_integrity = app.error().code == "audit_records_missing" || app.error().code == "audit_corrupt" ||
                                 app.error().code == "audit_high_water_unreadable";
    return audit_integrity ? 3 : 1;
  }
  if (warden::Status s = (*app)->Start(); !s) {
    warden::log::Error("startup_failed", {{"error", s.error().message}});
    std::cerr << "warden: " << s.error().message << "\n";
    return 1;
  }
  warden::log::Info("listening", {{"host", config->server.host},
                                  {"port", (*app)->port()},
                                  {"config", config->path},
                                  {"data_dir", config->data_dir},
                                  {"admin_port", (*app)->admin_port()},
                                  {"version", WARDEN_VERSION}});
  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) Reload(a, **app);
  warden::log::Info("stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
  (*app)->Stop();
  warden::log::Info("stopped");
  return 0;
}

// Key actions from the command line are audit records too (the gateway is stopped: the CLI
// holds the stores). A failure is reported, not fatal: the key action itself has happened.
void RecordKeyAction(const Config& config, const std::string& action, const std::string& key_id,
                     const std::string& previous = "") {
  if (!config.audit.enabled) return;
  // Stdout belongs to the command's own output (`keys create` prints the key there, scripts
  // capture it). A checkpoint the CLI would publish to stdout is still stored; the gateway's
  // next published checkpoint covers these records.
  Config cli_config = config;
  if (cli_config.audit.checkpoint_file == "-") cli_config.audit.checkpoint_file.clear();
  auto log = warden::OpenAuditLog(cli_config);
  warden::Status s = log ? warden::Status::Ok() : warden::Status(log.error());
  if (log) {
    warden::Json details{{"key_id", key_id}, {"actor", "cli"}};
    if (!previous.empty()) details["previous"] = previous;
    auto seq = (*log)->AppendAdmin(action, std::move(details));
    if (!seq) s = seq.error();
  }
  if (!s) std::cerr << "warden: warning: the audit record of this action was not written: " << s.error().message << "\n";
}

int Keys(const Args& a) {
  if (a.positional.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string& sub = a.positional[0];
  if (!OnlyOptions(a, {"config", "name", "policy", "env", "expires-in", "grace"})) return 2;
  warden::Loaded loaded = Load(a, false);
  if (!loaded.ok()) return 1;
  // The key store itself, or — when a running single-node gateway holds the data directory —
  // that gateway's admin API (which records each action in the audit log itself).
  auto handle = warden::OpenKeyStore(*loaded.config);
  std::unique_ptr<warden::KeyAdmin> through_admin;
  if (!handle && handle.error().code == "store_locked") {
    auto admin = warden::AdminKeys(*loaded.config);
    if (!admin) {
      std::cerr << "warden: " << handle.error().message << ", and " << admin.error().message << "\n";
      return 1;
    }
    through_admin = std::move(*admin);
    std::cerr << "warden: the gateway is running; going through its admin API\n";
  } else if (!handle) {
    std::cerr << "warden: " << handle.error().message << "\n";
    return 1;
  }
  warden::KeyAdmin& keys = through_admin ? *through_admin : static_cast<warden::KeyAdmin&>(*handle->keys);
  auto record_action = [&](const char* action, const std::string& key_id, const std::string& previous = "") {
    if (!through_admin) RecordKeyAction(*loaded.config, action, key_id, previous);
  };
  if (sub == "create") {
    std::string name = Opt(a, "name");
    if (name.empty() || a.positional.size() != 1) {
      std::cerr << "usage: warden keys create --name NAME [--policy POLICY]\n";
      return 2;
    }
    std::string policy = Opt(a, "policy", "default");
    if (!loaded.policies->Find(policy)) {
      std::cerr << "warden: no policy named '" << policy << "' in " << loaded.config->policies_dir << "\n";
      return 1;
    }
    warden::KeyOptions options;
    if (a.options.count("env")) {
      auto env = warden::ParseKeyEnv(Opt(a, "env"));
      if (!env) {
        std::cerr << "warden: --env must be development, staging or production\n";
        return 2;
      }
      options.env = *env;
    }
    if (a.options.count("expires-in")) {
      auto secs = ParseDays(Opt(a, "expires-in"));
      if (!secs || *secs == 0) {
        std::cerr << "warden: --expires-in must be a duration such as 12h or 30d\n";
        return 2;
      }
      options.expires_at = warden::UnixSeconds() + *secs;
    }
    auto created = keys.Create(name, policy, options);
    if (!created) {
      std::cerr << "warden: " << created.error().message << "\n";
      return 1;
    }
    std::cerr << "Created key " << created->record.id << " (name " << created->record.name
              << ", policy " << created->record.policy << ", "
              << warden::KeyEnvName(created->record.env)
              << (created->record.expires_at ? ", expires " + FormatTime(created->record.expires_at) : "")
              << "). It is shown once; store it now, Warden keeps only a hash:\n";
    std::cout << created->key.Reveal() << std::endl;
    record_action("key_created", created->record.id);
    return 0;
  }
  if (sub == "list") {
    auto list = keys.List();
    if (!list) {
      std::cerr << "warden: " << list.error().message << "\n";
      return 1;
    }
    std::printf("%-14s %-24s %-14s %-12s %-22s %s\n", "ID", "NAME", "POLICY", "ENV", "CREATED",
                "STATUS");
    const int64_t now = warden::UnixSeconds();
    for (const auto& r : *list) {
      std::string status = !r.active()     ? "revoked " + FormatTime(r.revoked_at)
                           : r.expired(now) ? "expired " + FormatTime(r.expires_at)
                           : r.expires_at   ? "active until " + FormatTime(r.expires_at)
                                            : "active";
      if (!r.replaced_by.empty()) status += " (rotated to " + r.replaced_by + ")";
      std::printf("%-14s %-24s %-14s %-12s %-22s %s\n", r.id.c_str(), r.name.c_str(),
                  r.policy.c_str(), warden::KeyEnvName(r.env), FormatTime(r.created_at).c_str(),
                  status.c_str());
    }
    return 0;
  }
  if (sub == "revoke") {
    if (a.positional.size() != 2) {
      std::cerr << "usage: warden keys revoke ID_OR_NAME\n";
      return 2;
    }
    auto revoked = keys.Revoke(a.positional[1]);
    if (!revoked) {
      std::cerr << "warden: " << revoked.error().message << "\n";
      return 1;
    }
    std::cerr << "Revoked key " << revoked->id << " (" << revoked->name << ")\n";
    record_action("key_revoked", revoked->id);
    return 0;
  }
  if (sub == "rotate") {
    if (a.positional.size() != 2) {
      std::cerr << "usage: warden keys rotate ID_OR_NAME [--grace DURATION]\n";
      return 2;
    }
    auto grace = ParseDays(Opt(a, "grace", "24h"));
    if (!grace) {
      std::cerr << "warden: --grace must be a duration such as 0s, 12h or 7d\n";
      return 2;
    }
    auto rotated = keys.Rotate(a.positional[1], *grace);
    if (!rotated) {
      std::cerr << "warden: " << rotated.error().message << "\n";
      return 1;
    }
    std::cerr << "Rotated to key " << rotated->record.id << "; the old key stays valid for "
              << Opt(a, "grace", "24h") << ". The new key is shown once:\n";
    std::cout << rotated->key.Reveal() << std::endl;
    record_action("key_rotated", rotated->record.id, a.positional[1]);
    return 0;
  }
  std::cerr << "warden: unknown keys command '" << sub << "'\n" << kUsage;
  return 2;
}

// Applies a policy's redaction to stdin and prints what the upstream would receive. Counts per
// entity type go to stderr; the values never do. Exit 3 when the policy would block the text.
int Redact(const Args& a) {
  if (!OnlyOptions(a, {"config", "policy"}) || Opt(a, "policy").empty()) {
    std::cerr << "usage: warden redact --policy NAME [--config FILE] < text\n";
    return 2;
  }
  warden::Loaded loaded = Load(a, false);
  if (!loaded.ok()) return 1;
  const warden::Policy* policy = loaded.policies->Find(Opt(a, "policy"));
  if (!policy) {
    std::cerr << "warden: no policy named '" << Opt(a, "policy") << "'\n";
    return 1;
  }
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (policy->redaction_rule_sets.empty()) {
    std::cout << text;
    std::cerr << "warden: policy '" << policy->name << "' redacts nothing\n";
    return 0;
  }
  auto redactor = warden::Redactor::ForPolicy(*policy, *loaded.rule_sets);
  if (!redactor) {
    std::cerr << "warden: " << redactor.error().message << "\n";
    return 1;
  }
  warden::RedactionSession session(*redactor, policy->redaction_mode);
  warden::Status s = session.RedactText(text);
  if (!s) {
    std::cerr << "warden: " << s.error().message << "\n";
    return 3;
  }
  std::cout << text;
  for (const auto& [entity, n] : session.counts()) std::cerr << entity << ": " << n << "\n";
  return 0;
}

}  // namespace

// What `warden usage` reads, beside running gateways: a single node's data store (read-only,
// as of its last flush, about a second), or a fleet's Redis (the whole fleet's figures).
struct Ledgers {
  std::unique_ptr<warden::Store> store;           // a single node
  std::unique_ptr<warden::StandaloneRedis> redis;  // a fleet
  std::unique_ptr<warden::UsageBackend> shared_usage;
  std::unique_ptr<warden::UsageLedger> usage;
  std::unique_ptr<warden::SpendSource> spend;
  std::unique_ptr<warden::KeyStore> keys;  // for listing only (no hashing key)
};

// The config (problems printed) and its ledgers; nullopt after saying why.
std::optional<Ledgers> LoadLedgers(const Args& a, warden::Loaded& loaded) {
  loaded = Load(a, false);
  if (!loaded.ok()) return std::nullopt;
  const warden::Config& c = *loaded.config;
  Ledgers l;
  if (c.cluster.enabled()) {
    const std::string& prefix = c.cluster.redis.key_prefix;
    l.redis = std::make_unique<warden::StandaloneRedis>(c.cluster.redis);
    l.shared_usage = warden::RedisUsage(&l.redis->redis(), prefix);
    l.usage = std::make_unique<warden::UsageLedger>(l.shared_usage.get(), warden::UnixSeconds);
    l.spend = std::make_unique<warden::SharedLimits>(&l.redis->redis(), prefix, "cli", warden::UnixSeconds);
    l.keys = std::make_unique<warden::KeyStore>(warden::RedisKeyRecords(&l.redis->redis(), prefix), warden::Secret());
    return l;
  }
  auto store = warden::Store::OpenReadOnly(c.data_dir);
  if (!store) {
    std::cerr << "warden: " << store.error().message << "\n";
    return std::nullopt;
  }
  l.store = std::move(*store);
  l.usage = std::make_unique<warden::UsageLedger>(l.store.get(), warden::UnixSeconds);
  l.spend = std::make_unique<warden::SpendLedger>(l.store.get(), warden::UnixSeconds);
  l.keys = std::make_unique<warden::KeyStore>(l.store.get(), warden::Secret());
  return l;
}

// `warden usage budgets`: every budget in force (admin/budgets.h: each active key whose policy has a
// budget, each tag value with a per-tag budget that spent this month), with what it spent today
// and this month (UTC) from the spend ledger, the limit and what is left. Read-only, beside a
// running gateway (as current as the ledger's last flush, about a second).
int UsageBudgets(const Args& a) {
  if (!OnlyOptions(a, {"config", "format"}) || a.positional.size() != 1) return 2;
  const std::string format = Opt(a, "format", "table");
  if (format != "table" && format != "json" && format != "csv") {
    std::cerr << kUsage;
    return 2;
  }
  warden::Loaded loaded;
  std::optional<Ledgers> ledgers = LoadLedgers(a, loaded);
  if (!ledgers) return 1;
  auto keys = ledgers->keys->List();
  if (!keys) {
    std::cerr << "warden: " << keys.error().message << "\n";
    return 1;
  }
  auto budgets = warden::BudgetsInForce(*keys, *loaded.policies, ledgers->usage.get(), *ledgers->spend,
                                        warden::UnixSeconds());
  if (!budgets) {
    std::cerr << "warden: " << budgets.error().message << "\n";
    return 1;
  }
  // One budget period: spent, limit, left ("" when the policy sets no such limit).
  auto period = [&](warden::Picos spent, warden::Picos limit) -> std::array<std::string, 3> {
    using warden::FormatUsd;
    if (limit <= 0) return {FormatUsd(spent), "", ""};
    return {FormatUsd(spent), FormatUsd(limit), FormatUsd(warden::Remaining(limit, spent))};
  };
  warden::Json rows = warden::Json::array();
  for (const warden::BudgetStatus& b : *budgets) {
    const auto day = period(b.spend.day, b.limits.per_day), month = period(b.spend.month, b.limits.per_month);
    // A tag's budget is named "tag:<name>=<value>" in the key_id column.
    rows.push_back(warden::Json{{"key_id", b.kind == "tag" ? "tag:" + b.id : b.id}, {"name", b.name},
                                {"policy", b.policy->name},
                                {"day", {{"spent_usd", day[0]}, {"limit_usd", day[1]}, {"remaining_usd", day[2]}}},
                                {"month", {{"spent_usd", month[0]}, {"limit_usd", month[1]}, {"remaining_usd", month[2]}}}});
  }
  if (format == "json") {
    std::cout << rows.dump(2) << "\n";
    return 0;
  }
  const char* columns[] = {"spent_usd", "limit_usd", "remaining_usd"};
  std::cout << (format == "csv" ? "key_id,name,policy" : "key_id\tname\tpolicy");
  for (const char* when : {"day", "month"})
    for (const char* c : columns) std::cout << (format == "csv" ? "," : "\t") << when << "_" << c;
  std::cout << "\n";
  for (const auto& r : rows) {
    // Key names are letters, digits, '-', '_' and '.', tag values those and ':' '@': nothing to quote.
    const char* sep = format == "csv" ? "," : "\t";
    std::cout << r["key_id"].get<std::string>() << sep << r["name"].get<std::string>() << sep
              << r["policy"].get<std::string>();
    for (const char* when : {"day", "month"})
      for (const char* c : columns) {
        const std::string v = r[when][c].get<std::string>();
        std::cout << sep << (v.empty() && format == "table" ? "-" : v);
      }
    std::cout << "\n";
  }
  return 0;
}

// `warden usage export`: one content-free row per request from the audit log (audit/usage_export.h),
// JSON lines or CSV on stdout; read-only, beside a running gateway.
int UsageExport(const Args& a) {
  if (!OnlyOptions(a, {"config", "since", "until", "format"}) || a.positional.size() != 1) return 2;
  const std::string format = Opt(a, "format", "jsonl");
  if (format != "jsonl" && format != "csv") {
    std::cerr << "warden: --format must be jsonl or csv\n";
    return 2;
  }
  const warden::cli::TimeRangeResult when = warden::cli::ParseTimeRange(a);
  if (!when.bad_option.empty()) {
    std::cerr << "warden: --" << when.bad_option << " takes YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ\n";
    return 2;
  }
  warden::Loaded loaded = Load(a, false);
  if (!loaded.ok()) return 1;
  const warden::AuditConfig& audit = loaded.config->audit;
  auto reader = warden::audit::AuditReader::OpenReadOnly(audit.dir);
  if (!reader) {
    std::cerr << "warden: " << reader.error().message << "\n";
    return 1;
  }
  auto master = warden::audit::MasterKey::Load(audit.master_key_file);
  if (!master) {
    std::cerr << "warden: " << master.error().message << " (the export decrypts the records' metadata)\n";
    return 1;
  }
  warden::audit::Decryptor decryptor(**reader, *master);
  auto counts = warden::audit::ExportUsage(
      **reader, decryptor, when.range.since_ms, when.range.until_ms,
      format == "csv" ? warden::audit::ExportFormat::kCsv : warden::audit::ExportFormat::kJsonl, std::cout);
  if (!counts) {
    std::cerr << "warden: " << counts.error().message << "\n";
    return 1;
  }
  std::cerr << counts->rows << " request(s)";
  if (counts->unreadable) std::cerr << "; " << counts->unreadable
                                    << " record(s) skipped (damaged, key forgotten or metadata purged; "
                                       "warden-audit verify checks the chain)";
  std::cerr << "\n";
  return 0;
}

int Usage(const Args& a) {
  if (a.positional.size() == 1 && a.positional[0] == "budgets") return UsageBudgets(a);
  if (a.positional.size() == 1 && a.positional[0] == "export") return UsageExport(a);
  if (!OnlyOptions(a, {"config", "by", "since", "until", "format"}) || !a.positional.empty()) return 2;
  auto by = warden::ParseUsageGroup(Opt(a, "by", "model"));
  const std::string format = Opt(a, "format", "table");
  if (!by || (format != "table" && format != "json" && format != "csv")) {
    std::cerr << kUsage;
    return 2;
  }
  std::string since = Opt(a, "since"), until = Opt(a, "until");
  for (std::string* d : {&since, &until}) {
    if (!d->empty() && !warden::cli::ParseTime(*d)) {
      std::cerr << "warden: --since and --until take a date YYYY-MM-DD\n";
      return 2;
    }
    if (d->size() > 10) d->resize(10);
  }
  warden::Loaded loaded;
  std::optional<Ledgers> ledgers = LoadLedgers(a, loaded);
  if (!ledgers) return 1;
  auto rows = ledgers->usage->Query(*by, since, until);
  if (!rows) {
    std::cerr << "warden: " << rows.error().message << "\n";
    return 1;
  }
  const std::string group = by->Name();
  if (format == "json") {
    std::cout << warden::UsageJson(*by, *rows).dump(2) << "\n";
    return 0;
  }
  auto cost = [](warden::Picos p) { return warden::FormatUsd(p); };  // exact
  if (format == "csv") {
    // Values are config names, key ids and dates: no commas or quotes to escape.
    std::cout << group << ",requests,prompt_tokens,completion_tokens,cached_prompt_tokens,cost_usd,estimated_requests\n";
    for (const auto& r : *rows)
      std::cout << r.group << "," << r.totals.requests << "," << r.totals.prompt_tokens << ","
                << r.totals.completion_tokens << "," << r.totals.cached_prompt_tokens << ","
                << cost(r.totals.cost) << "," << r.totals.estimated_requests << "\n";
    return 0;
  }
  size_t width = group.size();
  for (const auto& r : *rows) width = std::max(width, r.group.size());
  auto pad = [](std::string s, size_t w, bool right) {
    if (s.size() < w) s = right ? std::string(w - s.size(), ' ') + s : s + std::string(w - s.size(), ' ');
    return s;
  };
  std::cout << pad(group, width, false) << "  " << pad("requests", 10, true) << "  " << pad("prompt", 12, true)
            << "  " << pad("completion", 12, true) << "  " << pad("cost_usd", 14, true) << "  estimated\n";
  warden::UsageTotals total;
  for (const auto& r : *rows) {
    total.Add(r.totals);
    std::cout << pad(r.group.empty() ? "-" : r.group, width, false) << "  " << pad(std::to_string(r.totals.requests), 10, true)
              << "  " << pad(std::to_string(r.totals.prompt_tokens), 12, true) << "  "
              << pad(std::to_string(r.totals.completion_tokens), 12, true) << "  "
              << pad(cost(r.totals.cost), 14, true) << "  " << r.totals.estimated_requests << "\n";
  }
  std::cout << pad("total", width, false) << "  " << pad(std::to_string(total.requests), 10, true) << "  "
            << pad(std::to_string(total.prompt_tokens), 12, true) << "  "
            << pad(std::to_string(total.completion_tokens), 12, true) << "  "
            << pad(cost(total.cost), 14, true) << "  " << total.estimated_requests << "\n";
  return 0;
}

int main(int argc, char** argv) {
  // Everything Warden creates — the data directory, RocksDB's files, keys, logs it opens — is
  // private to its user: directories 0700, files 0600.
  umask(077);
  // No core dumps, whatever the shell's ulimit says: a dump would hold client and provider
  // keys, the audit master key and prompts in clear. (The systemd unit sets LimitCORE=0 too.)
  const rlimit no_core{0, 0};
  (void)setrlimit(RLIMIT_CORE, &no_core);
  warden::InitCrypto();
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = argv[1];
  Args args = ParseArgs(argc, argv, 2);
  if (!args.ok) return 2;
  if (command == "serve" && args.positional.empty()) return Serve(args);
  if (command == "check-config" && args.positional.empty()) {
    if (!OnlyOptions(args, {"config"})) return 2;
    return Load(args, true).ok() ? 0 : 1;
  }
  if (command == "keys") return Keys(args);
  if (command == "usage") return Usage(args);
  if (command == "redact" && args.positional.empty()) return Redact(args);
  if (command == "version" || command == "--version") {
    std::cout << "warden " << WARDEN_VERSION << "\n";
    return 0;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "warden: unknown command '" << command << "'\n" << kUsage;
  return 2;
}
