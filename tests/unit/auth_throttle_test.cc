// AuthThrottle alone, on a fake clock: per-address and overall windows, expiry, bounded memory.
#include "admin/auth_throttle.h"

#include <gtest/gtest.h>

namespace warden {
namespace {

TEST(AuthThrottleTest, AnAddressIsHeldAfterItsFailuresUntilTheWindowEnds) {
  int64_t now = 1000;
  AuthThrottle t(AuthLimits{3, 100, 60000, 100}, [&] { return now; });
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(t.RetryAfter("10.0.0.1"), 0) << i;
    t.Failed("10.0.0.1");
  }
  EXPECT_EQ(t.RetryAfter("10.0.0.1"), 60);
  EXPECT_EQ(t.RetryAfter("10.0.0.2"), 0) << "another address is not held";
  now += 59500;
  EXPECT_EQ(t.RetryAfter("10.0.0.1"), 1);
  now += 500;
  EXPECT_EQ(t.RetryAfter("10.0.0.1"), 0) << "a new window";
  t.Failed("10.0.0.1");
  EXPECT_EQ(t.RetryAfter("10.0.0.1"), 0);
}

TEST(AuthThrottleTest, FailuresFromManyAddressesHitTheOverallBound) {
  int64_t now = 0;
  AuthThrottle t(AuthLimits{10, 5, 1000, 100}, [&] { return now; });
  for (int i = 0; i < 5; ++i) t.Failed("10.0.0." + std::to_string(i));
  EXPECT_EQ(t.RetryAfter("10.9.9.9"), 1) << "a fresh address is held too once the overall bound is hit";
  now = 1000;
  EXPECT_EQ(t.RetryAfter("10.9.9.9"), 0);
}

TEST(AuthThrottleTest, MemoryIsBoundedWhateverTheNumberOfAddresses) {
  int64_t now = 0;
  AuthThrottle t(AuthLimits{2, 1000000, 60000, 4}, [&] { return now; });
  for (int i = 0; i < 1000; ++i) t.Failed("a" + std::to_string(i));
  // Only the last few addresses are remembered; the most recent one still counts.
  t.Failed("a999");
  EXPECT_GT(t.RetryAfter("a999"), 0);
}

}  // namespace
}  // namespace warden
