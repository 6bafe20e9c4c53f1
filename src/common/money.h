// Money: every amount Warden keeps — prices, costs, spend, budgets — is an integer number of
// pico-dollars (10^-12 USD). One representation, so a request costs the same figure in its
// audit record, the usage and spend ledgers, /metrics, the admin API, `warden usage` and the
// dashboard, and sums of many cheap requests are exact (a float or whole micro-dollars per
// request drifted: one cheap request was off by +4.9%).
//
// Why pico: a price per million tokens is then an integer number of pico-dollars per token
// ("$0.15 per million" = 150,000), for any price quoted to six decimals of a dollar per
// million; and int64 holds $9.2 million, beyond any request, day or month of one key.
// Arithmetic saturates rather than wraps (a provider's token counts are not trusted).
//
// Text surfaces (CLI, /metrics, logs, error messages) print the exact decimal (FormatUsd).
// JSON surfaces print UsdNumber(), the nearest double, whose shortest form is the exact
// decimal for every amount of at most 15 significant digits (any amount under $1,000 to the
// pico-dollar); where a sum can exceed that, they also give the integer (`cost_picos`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace warden {

using Picos = int64_t;  // pico-dollars
inline constexpr Picos kPicosPerUsd = 1'000'000'000'000;
inline constexpr int kPicoDecimals = 12;

// A non-negative decimal ("0.15", "12", "1.5e-3") times 10^decimals, exactly; nullopt when the
// text is not such a number, has more precision than `decimals` digits after the point, or
// exceeds `max`.
// With `saturate`, a well-formed amount too large for int64 reads as INT64_MAX instead (budgets:
// "$10,000,000 a month" means "never binds" in practice).
std::optional<int64_t> ParseFixedDecimal(std::string_view text, int decimals, int64_t max, bool saturate = false);

// The exact decimal of units × 10^-decimals, trailing zeros trimmed but at least `min_decimals`
// digits after the point: (16200000, 12, 2) → "0.0000162", (5 × 10^12, 12, 2) → "5.00".
std::string FormatFixed(int64_t units, int decimals, int min_decimals = 0);
inline std::string FormatUsd(Picos p, int min_decimals = 2) { return FormatFixed(p, kPicoDecimals, min_decimals); }
inline double UsdNumber(Picos p) { return static_cast<double>(p) / static_cast<double>(kPicosPerUsd); }

// Saturating arithmetic for non-negative amounts.
Picos AddPicos(Picos a, Picos b);
Picos MulPicos(int64_t n, Picos each);  // n × each, n < 0 counts as 0
// ⌊amount × percent / 100⌋ without overflow (budget alert thresholds).
Picos PercentOf(Picos amount, int percent);

// A budget: at most this much per UTC day and per UTC month (0 = no limit for that period).
struct BudgetLimits {
  Picos per_day = 0;
  Picos per_month = 0;
  bool binds() const { return per_day > 0 || per_month > 0; }  // false: it limits nothing
};

}  // namespace warden
