// The content-free per-request export for FinOps tools (`warden usage export`): one row per
// request the audit log recorded the end of (outcome and rejected records), in sequence order:
//
//   request_id, time, key_id, policy, tags, endpoint, model, deployment, provider, status,
//   outcome, prompt_tokens, completion_tokens, cached_prompt_tokens, cost_usd, cost_picos,
//   usage_estimated
//
// Contract: only the records' metadata is decrypted — never their content payload — and only
// these fields of it are written, so the export holds no prompt or answer whatever the policy
// logged. Records that cannot be decoded, or whose metadata cannot be opened, are skipped and
// counted: a damaged record, a forgotten key's (crypto-shredded: erasure reaches the export too),
// metadata purged by retention. The figures
// are the audit record's, so they equal the ledgers' for the same requests (common/money.h);
// cost_usd is the exact decimal in CSV and a JSON number in JSONL (cost_picos exact in both).
// The audit store is opened read-only: the export runs beside a running gateway.
#pragma once

#include <cstdint>
#include <ostream>

#include "audit/reader.h"
#include "common/result.h"

namespace warden::audit {

enum class ExportFormat { kJsonl, kCsv };

struct ExportCounts {
  uint64_t rows = 0;
  uint64_t unreadable = 0;  // damaged records, metadata erased (key forgotten), purged or undecryptable
};

// Rows of records timed in [since_ms, until_ms).
Result<ExportCounts> ExportUsage(const AuditReader& reader, Decryptor& decryptor, int64_t since_ms, int64_t until_ms,
                                 ExportFormat format, std::ostream& out);

}  // namespace warden::audit
