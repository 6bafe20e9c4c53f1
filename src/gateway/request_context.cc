#include "gateway/request_context.h"

namespace warden {

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kCompleted: return "completed";
    case Outcome::kFailed: return "failed";
    case Outcome::kRejected: return "rejected";
    case Outcome::kClientGone: return "client_gone";
    case Outcome::kPartial: return "partial";
  }
  return "unknown";
}

}  // namespace warden
