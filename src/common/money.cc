#include "common/money.h"

#include <limits>

namespace warden {
namespace {
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
}

std::optional<int64_t> ParseFixedDecimal(std::string_view text, int decimals, int64_t max, bool saturate) {
  // mantissa digits (integer part then fraction), the fraction's length, and the exponent
  std::string digits;
  size_t i = 0, fraction = 0;
  bool point = false, any = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c >= '0' && c <= '9') {
      any = true;
      if (!(digits.empty() && c == '0')) digits += c;  // leading zeros add nothing
      if (point) ++fraction;
    } else if (c == '.' && !point) {
      point = true;
    } else {
      break;
    }
  }
  if (!any) return std::nullopt;
  long exponent = 0;
  if (i < text.size()) {
    if (text[i] != 'e' && text[i] != 'E') return std::nullopt;
    ++i;
    bool negative = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
    if (i == text.size()) return std::nullopt;
    for (; i < text.size(); ++i) {
      if (text[i] < '0' || text[i] > '9' || exponent > 1000) return std::nullopt;
      exponent = exponent * 10 + (text[i] - '0');
    }
    if (negative) exponent = -exponent;
  }
  // value = digits × 10^(exponent - fraction + decimals)
  long shift = exponent - static_cast<long>(fraction) + decimals;
  if (digits.empty()) return 0;
  while (shift < 0) {  // only zeros may be dropped: anything else is finer than `decimals`
    if (digits.back() != '0') return std::nullopt;
    digits.pop_back();
    ++shift;
    if (digits.empty()) return 0;
  }
  const std::optional<int64_t> too_large = saturate ? std::optional<int64_t>(kMax) : std::nullopt;
  int64_t v = 0;
  for (char c : digits) {
    if (v > (kMax - (c - '0')) / 10) return too_large && *too_large <= max ? too_large : std::nullopt;
    v = v * 10 + (c - '0');
  }
  for (; shift > 0; --shift) {
    if (v > kMax / 10) return too_large && *too_large <= max ? too_large : std::nullopt;
    v *= 10;
  }
  if (v > max) return std::nullopt;
  return v;
}

std::string FormatFixed(int64_t units, int decimals, int min_decimals) {
  const bool negative = units < 0;
  // Work on the magnitude as unsigned (INT64_MIN has no positive int64).
  uint64_t m = negative ? 0 - static_cast<uint64_t>(units) : static_cast<uint64_t>(units);
  std::string fraction(static_cast<size_t>(decimals), '0');
  for (int k = decimals - 1; k >= 0; --k) {
    fraction[static_cast<size_t>(k)] = static_cast<char>('0' + m % 10);
    m /= 10;
  }
  size_t keep = fraction.size();
  while (keep > static_cast<size_t>(min_decimals) && fraction[keep - 1] == '0') --keep;
  fraction.resize(keep);
  std::string out = (negative ? "-" : "") + std::to_string(m);
  if (!fraction.empty()) out += "." + fraction;
  return out;
}

Picos AddPicos(Picos a, Picos b) { return a > kMax - b ? kMax : a + b; }

Picos MulPicos(int64_t n, Picos each) {
  if (n <= 0 || each <= 0) return 0;
  return n > kMax / each ? kMax : n * each;
}

Picos PercentOf(Picos amount, int percent) { return amount / 100 * percent + amount % 100 * percent / 100; }

}  // namespace warden
