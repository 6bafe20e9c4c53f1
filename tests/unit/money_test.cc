// Money is integer pico-dollars (common/money.h): read exactly from config text, printed
// exactly, summed without drift.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "common/money.h"
#include "config/config.h"

namespace warden {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

TEST(MoneyTest, DecimalsAreReadExactly) {
  EXPECT_EQ(ParseFixedDecimal("0.15", 6, kMax), 150000);  // $0.15 per million = 150,000 picos per token
  EXPECT_EQ(ParseFixedDecimal("0.0375", 6, kMax), 37500);
  EXPECT_EQ(ParseFixedDecimal("12", 6, kMax), 12000000);
  EXPECT_EQ(ParseFixedDecimal(".5", 2, kMax), 50);
  EXPECT_EQ(ParseFixedDecimal("5.", 2, kMax), 500);
  EXPECT_EQ(ParseFixedDecimal("1.5e-3", 12, kMax), 1500000000);
  EXPECT_EQ(ParseFixedDecimal("2E2", 0, kMax), 200);
  EXPECT_EQ(ParseFixedDecimal("0.100000000", 1, kMax), 1);  // trailing zeros are not precision
  EXPECT_EQ(ParseFixedDecimal("0000000000000000000000001", 0, kMax), 1);
  EXPECT_EQ(ParseFixedDecimal("0", 12, kMax), 0);
  EXPECT_EQ(ParseFixedDecimal("0.0e-999", 12, kMax), 0);
  // Finer than the unit, negative, not a number, too large: refused, never rounded.
  for (const char* bad : {"0.0000001", "1e-7", "-1", "+1", "", ".", "1..2", "1e", "1e+", "0x10", "1,5", "nan",
                          "inf", "1 ", "99999999999999999999", "1e9999"})
    EXPECT_FALSE(ParseFixedDecimal(bad, 6, kMax).has_value()) << bad;
  EXPECT_FALSE(ParseFixedDecimal("1000001", 0, 1000000).has_value());
  // Budgets saturate: $10 million a month is more than int64 pico-dollars hold ($9.2 million).
  EXPECT_EQ(ParseFixedDecimal("10000000", 12, kMax, true), kMax);
  EXPECT_EQ(ParseFixedDecimal("1e30", 12, kMax, true), kMax);
  EXPECT_EQ(ParseFixedDecimal("12.5", 12, kMax, true), 12'500'000'000'000);
  EXPECT_FALSE(ParseFixedDecimal("-1", 12, kMax, true).has_value());
  EXPECT_FALSE(ParseFixedDecimal("lots", 12, kMax, true).has_value());
  EXPECT_EQ(ParseFixedDecimal("1000000", 0, 1000000), 1000000);
}

TEST(MoneyTest, AmountsPrintExactly) {
  EXPECT_EQ(FormatUsd(16200000), "0.0000162");
  EXPECT_EQ(FormatUsd(5 * kPicosPerUsd), "5.00");
  EXPECT_EQ(FormatUsd(5 * kPicosPerUsd, 0), "5");
  EXPECT_EQ(FormatUsd(kPicosPerUsd + 1), "1.000000000001");
  EXPECT_EQ(FormatUsd(0), "0.00");
  EXPECT_EQ(FormatUsd(kMax, 0), "9223372.036854775807");
  EXPECT_EQ(FormatFixed(-1500, 3), "-1.5");
  EXPECT_EQ(FormatFixed(std::numeric_limits<int64_t>::min(), 0), "-9223372036854775808");
  // The JSON number is the nearest double: its shortest form is the same decimal.
  EXPECT_EQ(UsdNumber(16200000), 0.0000162);
  EXPECT_EQ(UsdNumber(1050000000000), 1.05);
}

TEST(MoneyTest, ArithmeticSaturatesInsteadOfWrapping) {
  EXPECT_EQ(AddPicos(kMax - 1, 5), kMax);
  EXPECT_EQ(MulPicos(kMax / 2, 3), kMax);
  EXPECT_EQ(MulPicos(-4, 10), 0);
  EXPECT_EQ(PercentOf(10 * kPicosPerUsd, 80), 8 * kPicosPerUsd);
  EXPECT_EQ(PercentOf(kMax, 100), kMax);
  EXPECT_EQ(PercentOf(7, 50), 3);
}

TEST(MoneyTest, TenThousandCheapRequestsSumExactly) {
  // $0.15 per million input tokens: 10,000 requests of 108 tokens are exactly $0.162. Rounding
  // each request to the micro-dollar (the old ledger) made it $0.16; adding doubles drifts too.
  Price price;
  price.input = *ParseFixedDecimal("0.15", 6, kMax);
  Picos sum = 0;
  double floating = 0;
  for (int i = 0; i < 10000; ++i) {
    sum = AddPicos(sum, price.Cost(108, 0, 0));
    floating += 108 * 0.15 / 1e6;
  }
  EXPECT_EQ(sum, 162 * kPicosPerUsd / 1000);
  EXPECT_EQ(FormatUsd(sum), "0.162");
  EXPECT_NE(floating, 0.162);  // what a double sum would have said
  // Cached input at its own price; cached tokens never exceed the prompt.
  price.cached_input = 75000;
  price.output = 600000;
  EXPECT_EQ(price.Cost(100, 40, 10), 60 * 150000 + 40 * 75000 + 10 * 600000);
  EXPECT_EQ(price.Cost(10, 40, 0), 10 * 75000);
}

}  // namespace
}  // namespace warden
