// warden-audit: the auditor's tool. Needs no running gateway.
//
//   warden-audit verify  [--dir DIR] [--public-key FILE] [--checkpoints FILE] [--config FILE]
//   warden-audit list    [filters] [--master-key FILE] …
//   warden-audit show SEQ            [--master-key FILE] …
//   warden-audit export --format jsonl [filters] [--master-key FILE] …
//   warden-audit purge   [--before YYYY-MM-DD] …          (gateway stopped)
//   warden-audit forget --key KEY_ID_OR_NAME …             (gateway stopped)
//   warden-audit keys rotate …                             (gateway stopped)
//
// Paths default to the `audit:` section of --config (config/warden.yaml); explicit flags win,
// so an auditor with only the audit directory and the public key runs `verify --dir --public-key`.
// Exit codes: 0 success / chain intact, 1 verification failed or nothing found, 2 usage error,
// 3 the store or a key cannot be opened.
#include <sodium.h>

#include <cstdio>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <iostream>

#include "audit/audit_log.h"
#include "audit/maintenance.h"
#include "audit/reader.h"
#include "common/cli.h"
#include "common/json.h"
#include "common/util.h"
#include "cluster/fleet_erasure.h"
#include "config/config.h"
#include "keys/key_store.h"
#include "store/store.h"

namespace {

using warden::Json;
using warden::cli::Args;
using warden::cli::Opt;
using warden::Status;
namespace audit = warden::audit;

constexpr const char* kUsage =
    "usage: warden-audit <command> [options]\n"
    "  verify   [--public-key FILE] [--checkpoints FILE]   check the chain and signed checkpoints\n"
    "  list     [--key ID] [--since T] [--until T] [--model M] [--status N] [--type T]\n"
    "  show SEQ                                            one record, decrypted\n"
    "  export --format jsonl [list filters]                 one JSON object per record (SIEM)\n"
    "  purge    [--before YYYY-MM-DD]                       remove payloads past their retention\n"
    "  forget --key ID_OR_NAME                              crypto-shred a key's records (GDPR 17)\n"
    "  keys rotate                                          new master key; re-wrap data keys\n"
    "common options: --config FILE (default config/warden.yaml) --dir DIR --master-key FILE\n"
    "                --signing-key FILE\n"
    "T is YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ. purge, forget and keys need the gateway stopped.\n"
    "exit codes: 0 ok, 1 verification failed / not found, 2 usage, 3 store or key unavailable\n";

struct Paths {
  std::string dir, master_key, signing_key, public_key, checkpoints;
  std::string data_dir;  // the gateway's key store (forget resolves names there); "" = unknown
  std::optional<warden::RedisConfig> fleet = {};  // `cluster` configured: forget reaches every replica
};

int Fail(int code, const std::string& message) {
  std::cerr << "warden-audit: " << message << "\n";
  return code;
}

// Paths from --config (when it loads) overridden by explicit flags.
Paths Resolve(const Args& a) {
  Paths p;
  const std::string config_path = Opt(a, "config", "config/warden.yaml");
  if (std::ifstream(config_path)) {
    auto loaded = warden::LoadConfig(config_path);
    if (loaded.ok()) {
      const auto& c = loaded.config->audit;
      p = {c.dir, c.master_key_file, c.signing_key_file, c.signing_key_file + ".pub", c.checkpoint_file,
           loaded.config->data_dir};
      if (p.checkpoints == "-") p.checkpoints.clear();
      if (loaded.config->cluster.enabled()) p.fleet = loaded.config->cluster.redis;
    } else if (a.options.count("config")) {
      std::cerr << "warden-audit: " << config_path << " does not load; pass the paths explicitly\n";
    }
  }
  p.dir = Opt(a, "dir", p.dir);
  p.master_key = Opt(a, "master-key", p.master_key);
  p.signing_key = Opt(a, "signing-key", p.signing_key);
  p.public_key = Opt(a, "public-key", p.public_key);
  p.checkpoints = Opt(a, "checkpoints", a.options.count("dir") && !a.options.count("config") ? "" : p.checkpoints);
  return p;
}

// The audit directories named by --dir: one, or a fleet's several, comma-separated.
std::vector<std::string> Dirs(const std::string& dirs) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t comma = dirs.find(',', start);
    const std::string one = dirs.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!one.empty()) out.push_back(one);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// The replica whose chain a store is, as its newest named checkpoint says (signed; verify
// checks it), else the directory's name.
std::string ChainName(audit::AuditReader& reader, const std::string& dir) {
  std::string name;
  if (auto cps = reader.Checkpoints())
    for (const auto& c : *cps)
      if (!c.replica.empty()) name = c.replica;
  if (!name.empty()) return name;
  const size_t slash = dir.find_last_of('/', dir.size() > 1 ? dir.size() - 2 : 0);
  return slash == std::string::npos ? dir : dir.substr(slash + 1);
}

int VerifyOne(const Args& a, const std::string& dir, const std::string& public_key, const std::string& checkpoints) {
  auto reader = audit::AuditReader::OpenReadOnly(dir);
  if (!reader) return Fail(3, reader.error().message);
  auto pk = audit::LoadPublicKey(public_key);
  if (!pk) return Fail(3, pk.error().message);
  std::vector<audit::Checkpoint> external;
  if (!checkpoints.empty()) {
    std::ifstream in(checkpoints);
    if (!in && a.options.count("checkpoints")) return Fail(3, "cannot read " + checkpoints);
    std::string line;
    size_t n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.empty()) continue;
      auto c = audit::ParseCheckpointLine(line);
      if (!c) return Fail(1, checkpoints + ":" + std::to_string(n) + ": " + c.error().message);
      external.push_back(std::move(*c));
    }
  }
  auto rep = audit::Verify(**reader, *pk, external, [](uint64_t seq) {
    std::cerr << "warden-audit: verified up to seq " << seq << "\n";
  });
  if (!rep.replicas.empty()) std::printf("replica:        %s\n", rep.replicas.begin()->c_str());
  std::printf("records:        %llu (last seq %llu)\n", (unsigned long long)rep.records,
              (unsigned long long)rep.last_seq);
  std::printf("checkpoints:    %llu checked, last signed seq %llu%s\n", (unsigned long long)rep.checkpoints,
              (unsigned long long)rep.last_checkpoint_seq, external.empty() ? "" : " (incl. checkpoint file)");
  if (rep.last_seq > rep.last_checkpoint_seq)
    std::printf("unsigned tail:  %llu record(s) after the last checkpoint\n",
                (unsigned long long)(rep.last_seq - rep.last_checkpoint_seq));
  std::printf("purged:         %llu payload(s) purged by policy (%llu purge record(s))\n",
              (unsigned long long)rep.purged_payloads, (unsigned long long)rep.purge_records);
  std::printf("erasures:       %llu key(s) forgotten\n", (unsigned long long)rep.erasures);
  if (rep.ok()) {
    std::printf("result:         OK — the chain is intact\n");
    return 0;
  }
  std::printf("result:         FAILED — first bad sequence %llu\n", (unsigned long long)rep.first_bad_seq);
  for (const auto& problem : rep.problems) std::printf("  %s\n", problem.c_str());
  return 1;
}

// One chain, or a fleet's chains one after another (--dir A,B,C; --checkpoints, if given, a
// list in the same order): a report per replica, then the worst result.
int Verify(const Args& a, const Paths& p) {
  const std::vector<std::string> dirs = Dirs(p.dir);
  if (dirs.size() <= 1) return VerifyOne(a, p.dir, p.public_key, p.checkpoints);
  const std::vector<std::string> files = Dirs(Opt(a, "checkpoints"));
  if (!files.empty() && files.size() != dirs.size()) return Fail(2, "give one --checkpoints file per --dir, in order");
  // One public key for the fleet (one signing key Secret), or one per --dir, in order.
  const std::vector<std::string> keys = Dirs(p.public_key);
  if (keys.size() != 1 && keys.size() != dirs.size()) return Fail(2, "give one --public-key, or one per --dir in order");
  int worst = 0, failed = 0;
  for (size_t i = 0; i < dirs.size(); ++i) {
    std::printf("== %s\n", dirs[i].c_str());
    const int rc = VerifyOne(a, dirs[i], keys.size() == 1 ? keys[0] : keys[i], files.empty() ? "" : files[i]);
    worst = std::max(worst, rc);
    failed += rc != 0;
  }
  std::printf("== %zu chain(s): %s\n", dirs.size(), failed ? (std::to_string(failed) + " FAILED").c_str() : "all intact");
  return worst;
}

struct Filters {
  std::string key, model, type;
  int status = 0;
  int64_t since_ms = 0, until_ms = INT64_MAX;
};

Json RecordJson(const audit::Record& r, audit::Decryptor* d) {
  const auto& h = r.header;
  Json j{{"seq", h.seq}, {"type", audit::RecordTypeName(h.type)},
         {"time", warden::cli::FormatTime(h.time_ms / 1000)}, {"time_ms", h.time_ms},
         {"key_id", h.key_id}};
  if (!d) return j;
  auto opened = d->Open(r);
  if (opened.meta_state == audit::Decryptor::State::kOk) j["meta"] = opened.meta;
  else j["meta_state"] = audit::StateName(opened.meta_state);
  if (opened.content_state == audit::Decryptor::State::kOk) j["content"] = opened.content;
  else if (opened.content_state != audit::Decryptor::State::kNone)
    j["content_state"] = audit::StateName(opened.content_state);
  return j;
}

bool Matches(const Json& j, const Filters& f) {
  if (!f.key.empty() && j["key_id"] != f.key) return false;
  if (!f.type.empty() && j["type"] != f.type) return false;
  const int64_t t = j["time_ms"].get<int64_t>();
  if (t < f.since_ms || t >= f.until_ms) return false;
  const Json meta = j.value("meta", Json::object());
  if (!f.model.empty() && meta.value("model", "") != f.model) return false;
  if (f.status && meta.value("status", 0) != f.status) return false;
  return true;
}

int ListOrExport(const Args& a, const Paths& p, bool jsonl) {
  Filters f;
  f.key = Opt(a, "key");
  f.model = Opt(a, "model");
  f.type = Opt(a, "type");
  f.status = std::atoi(Opt(a, "status", "0").c_str());
  const warden::cli::TimeRangeResult when = warden::cli::ParseTimeRange(a);
  if (!when.bad_option.empty())
    return Fail(2, "--" + when.bad_option + " must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
  f.since_ms = when.range.since_ms;
  f.until_ms = when.range.until_ms;
  auto master = audit::MasterKey::Load(p.master_key);
  if (!master) return Fail(3, master.error().message + " (list and export decrypt with the master key)");
  if (!jsonl)
    std::printf("%-8s %-9s %-20s %-14s %-14s %-6s %-10s %s\n", "SEQ", "TYPE", "TIME", "KEY", "MODEL",
                "STATUS", "OUTCOME", "REQUEST");
  auto emit = [&](const Json& j) {
    if (jsonl) {
      std::cout << warden::Dump(j) << "\n";
      return;
    }
    const Json meta = j.value("meta", Json::object());
    std::string status = meta.contains("status") ? std::to_string(meta.value("status", 0)) : "";
    std::printf("%-8llu %-9s %-20s %-14s %-14s %-6s %-10s %s\n", (unsigned long long)j["seq"].get<uint64_t>(),
                j["type"].get<std::string>().c_str(), j["time"].get<std::string>().c_str(),
                j["key_id"].get<std::string>().c_str(), meta.value("model", "").c_str(), status.c_str(),
                meta.value("outcome", meta.value("action", j.value("meta_state", ""))).c_str(),
                meta.value("request_id", "").c_str());
  };
  // One chain streams in sequence order; a fleet's (--dir A,B,C) merge in time order, each
  // record naming its replica (held in memory: narrow with --since/--until for a long period).
  const std::vector<std::string> dirs = Dirs(p.dir);
  const bool merged = dirs.size() > 1;
  std::vector<Json> all;
  uint64_t shown = 0;
  for (const std::string& dir : dirs) {
    auto reader = audit::AuditReader::OpenReadOnly(dir);
    if (!reader) return Fail(3, dir + ": " + reader.error().message);
    audit::Decryptor d(**reader, *master);
    const std::string replica = merged ? ChainName(**reader, dir) : "";
    Status s = (*reader)->ForEachRaw(1, [&](uint64_t seq, std::string_view raw) {
      auto r = audit::Decode(raw);
      if (!r) {
        std::cerr << "warden-audit: " << dir << ": seq " << seq << " cannot be decoded; run verify\n";
        return true;
      }
      Json j = RecordJson(*r, &d);
      if (!Matches(j, f)) return true;
      ++shown;
      if (!merged) {
        emit(j);
        return true;
      }
      j["replica"] = replica;
      all.push_back(std::move(j));
      return true;
    });
    if (!s) return Fail(3, s.error().message);
  }
  std::stable_sort(all.begin(), all.end(), [](const Json& x, const Json& y) {
    return x["time_ms"].get<int64_t>() < y["time_ms"].get<int64_t>();
  });
  for (const Json& j : all) emit(j);
  if (!jsonl) std::fprintf(stderr, "%llu record(s)\n", (unsigned long long)shown);
  return 0;
}

int Show(const Args& a, const Paths& p) {
  if (a.positional.size() != 2) return Fail(2, "usage: warden-audit show SEQ");
  char* end = nullptr;
  unsigned long long seq = std::strtoull(a.positional[1].c_str(), &end, 10);
  if (!end || *end || seq == 0) return Fail(2, "SEQ must be a positive number");
  auto reader = audit::AuditReader::OpenReadOnly(p.dir);
  if (!reader) return Fail(3, reader.error().message);
  auto r = (*reader)->Get(seq);
  if (!r) return Fail(1, "seq " + a.positional[1] + ": " + r.error().message);
  if (!*r) return Fail(1, "no record with seq " + a.positional[1]);
  auto master = audit::MasterKey::Load(p.master_key);
  std::unique_ptr<audit::Decryptor> d;
  if (master) d = std::make_unique<audit::Decryptor>(**reader, *master);
  else std::cerr << "warden-audit: " << master.error().message << "; showing the header only\n";
  std::cout << RecordJson(**r, d.get()).dump(2) << "\n";
  return 0;
}

warden::Result<std::unique_ptr<audit::AuditLog>> OpenForWrite(const Paths& p) {
  audit::AuditOptions o;
  o.dir = p.dir;
  o.master_key_file = p.master_key;
  o.signing_key_file = p.signing_key;
  o.checkpoint_file = p.checkpoints;
  if (access((p.dir + "/CURRENT").c_str(), F_OK) != 0 || access(p.master_key.c_str(), R_OK) != 0 ||
      access(p.signing_key.c_str(), R_OK) != 0)
    return warden::Error::NotFound("no audit store with its master and signing keys at " + p.dir,
                                   "audit_not_found");
  return audit::AuditLog::Open(o);
}

int Purge(const Args& a, const Paths& p) {
  int64_t before = warden::UnixSeconds();
  if (a.options.count("before")) {
    auto t = warden::cli::ParseTime(Opt(a, "before"));
    if (!t) return Fail(2, "--before must be YYYY-MM-DD");
    before = *t;
  }
  auto log = OpenForWrite(p);
  if (!log) return Fail(3, log.error().message);
  const uint32_t day = audit::DayOf(before * 1000);
  auto rep = audit::AuditMaintenance(**log).Purge(day, "warden-audit");
  if (!rep) return Fail(3, rep.error().message);
  std::printf("purged %llu content and %llu metadata payload(s) that expired before %s; purge record seq %llu\n",
              (unsigned long long)rep->content_removed, (unsigned long long)rep->meta_removed,
              warden::cli::FormatTime(int64_t{day} * 86400).substr(0, 10).c_str(),
              (unsigned long long)rep->purge_seq);
  return 0;
}

// The key id `forget` means: an id with a data key in the audit store, else a name (or id) of
// exactly one key in the gateway's key store (read-only, beside a running gateway too).
warden::Result<std::string> ResolveKeyToForget(const std::string& id_or_name, audit::AuditReader& reader,
                                       const Paths& p) {
  auto direct = reader.DataKey(id_or_name);
  if (!direct) return direct.error();
  if (*direct) return id_or_name;
  auto forgotten = reader.ForgottenKeys();
  if (forgotten && forgotten->count(id_or_name))
    return warden::Error::BadRequest("key " + id_or_name + " was already forgotten: nothing to erase", "",
                                     "already_forgotten");
  std::vector<warden::KeyRecord> keys;
  if (!p.data_dir.empty())
    if (auto store = warden::Store::OpenReadOnly(p.data_dir))
      if (auto list = warden::KeyStore::ListIn(**store)) keys = std::move(*list);
  std::vector<std::string> ids;
  for (const auto& k : keys)
    if (k.id == id_or_name || k.name == id_or_name) ids.push_back(k.id);
  if (ids.size() > 1) {
    std::string all;
    for (const auto& id : ids) all += (all.empty() ? "" : ", ") + id;
    return warden::Error::BadRequest("several keys are named " + id_or_name + " (" + all + "); give one id", "",
                                     "ambiguous_key_name");
  }
  if (ids.empty())
    return warden::Error::NotFound("no key with id or name " + id_or_name +
                                       (keys.empty() ? " in the audit store (the key store was not readable: pass "
                                                       "--config so names resolve, or give the key id)"
                                                     : " in the audit store or the key store"),
                                   "key_not_found");
  return ids[0];
}

int Forget(const Args& a, const Paths& p) {
  const std::string arg = Opt(a, "key");
  if (arg.empty()) return Fail(2, "usage: warden-audit forget --key KEY_ID_OR_NAME");
  auto log = OpenForWrite(p);
  if (!log) return Fail(3, log.error().message);
  auto key = ResolveKeyToForget(arg, (*log)->reader(), p);
  if (p.fleet) {
    // A fleet: every replica must forget, one that is down too. The request goes to Redis
    // first (cluster/fleet_erasure.h); then this replica's chain, if it holds the key's records.
    const bool an_id = arg.size() == 12 && arg.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!key && !(an_id && key.error().code == "key_not_found")) return Fail(1, key.error().message);
    const std::string id = key ? *key : arg;
    warden::StandaloneRedis redis(*p.fleet);
    if (Status s = warden::AnnounceErasure(redis.redis(), p.fleet->key_prefix, id); !s)
      return Fail(3, "the fleet could not be told, nothing was erased: " + s.error().message);
    if (!key) {
      std::printf("asked every replica to forget key %s (this one holds none of its records); each erases its "
                  "own, a stopped one before it serves again\n", id.c_str());
      return 0;
    }
    std::printf("asked every replica to forget key %s; erasing this replica's records\n", id.c_str());
  }
  if (!key) return Fail(1, key.error().message);
  if (Status s = audit::AuditMaintenance(**log).Forget(*key, "warden-audit"); !s) return Fail(1, s.error().message);
  // Say it is done only once it is: none of the key's records opens any more.
  auto master = audit::MasterKey::Load(p.master_key);
  if (!master) return Fail(3, master.error().message);
  audit::Decryptor d((*log)->reader(), *master);
  uint64_t records = 0, still_open = 0;
  Status scan = (*log)->reader().ForEachRaw(1, [&](uint64_t, std::string_view raw) {
    auto r = audit::Decode(raw);
    if (!r || r->header.key_id != *key) return true;
    ++records;
    auto opened = d.Open(*r);
    if (opened.meta_state == audit::Decryptor::State::kOk || opened.content_state == audit::Decryptor::State::kOk)
      ++still_open;
    return true;
  });
  if (!scan) return Fail(3, scan.error().message);
  if (still_open)
    return Fail(3, std::to_string(still_open) + " record(s) of key " + *key +
                       " still open after the erasure: it did NOT take effect");
  std::printf("forgot key %s: its data key is destroyed; none of its %llu record(s) can be opened any more\n",
              key->c_str(), static_cast<unsigned long long>(records));
  return 0;
}

int Keys(const Args& a, const Paths& p) {
  if (a.positional.size() != 2 || a.positional[1] != "rotate") return Fail(2, "usage: warden-audit keys rotate");
  auto log = OpenForWrite(p);
  if (!log) return Fail(3, log.error().message);
  // The new key goes to <file>.new first: if anything fails before the rename, the old key file
  // still matches the store (the store is switched in one atomic batch).
  warden::Secret bytes(warden::RandomBytes(audit::kDataKeyBytes));
  const std::string next_path = p.master_key + ".new";
  if (Status s = warden::WriteKeyFile(next_path, bytes, "the new audit master key"); !s)
    return Fail(3, s.error().message);
  audit::MasterKey next = audit::MasterKey::FromBytes(std::move(bytes));
  const std::string old_id = (*log)->master_key_id(), new_id = next.id;
  if (Status s = audit::AuditMaintenance(**log).RotateMasterKey(std::move(next), "warden-audit"); !s) {
    ::unlink(next_path.c_str());
    return Fail(3, s.error().message);
  }
  if (std::rename(next_path.c_str(), p.master_key.c_str()) != 0)
    return Fail(3, "the store now uses master key " + new_id + " but " + next_path +
                       " could not be renamed to " + p.master_key + "; rename it by hand");
  std::printf("rotated the audit master key %s -> %s; data keys re-wrapped\n", old_id.c_str(), new_id.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 3;
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string cmd = argv[1];
  Args a = warden::cli::Parse(argc, argv, 1, "warden-audit");
  if (!a.ok) return 2;
  if (!warden::cli::OnlyOptions(a, {"config", "dir", "master-key", "signing-key", "public-key",
                                    "checkpoints", "key", "since", "until", "model", "status", "type",
                                    "format", "before"},
                                "warden-audit", kUsage))
    return 2;
  Paths p = Resolve(a);
  if (p.dir.empty()) return Fail(2, "no audit directory: pass --dir or --config");
  if (cmd == "verify") return Verify(a, p);
  if (cmd == "list") return ListOrExport(a, p, false);
  if (cmd == "export") {
    if (Opt(a, "format", "jsonl") != "jsonl") return Fail(2, "--format must be jsonl");
    return ListOrExport(a, p, true);
  }
  if (cmd == "show") return Show(a, p);
  if (cmd == "purge") return Purge(a, p);
  if (cmd == "forget") return Forget(a, p);
  if (cmd == "keys") return Keys(a, p);
  if (cmd == "help" || cmd == "--help") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "warden-audit: unknown command '" << cmd << "'\n" << kUsage;
  return 2;
}
