#include "common/util.h"

#include <gtest/gtest.h>

#include <set>

namespace warden {
namespace {

TEST(UtilTest, RequestIdsAreWellFormedAndDistinct) {
  InitCrypto();
  std::set<std::string> seen;
  for (int i = 0; i < 20000; ++i) {
    std::string id = NewRequestId();
    ASSERT_EQ(id.size(), 4u + 24u);
    ASSERT_EQ(id.rfind("req_", 0), 0u);
    ASSERT_TRUE(seen.insert(id).second) << "repeated request id " << id;
  }
}

TEST(UtilTest, Blake2bKeyedAndUnkeyedDiffer) {
  InitCrypto();
  EXPECT_EQ(Blake2b("abc").size(), 32u);
  EXPECT_EQ(Blake2b("abc"), Blake2b("abc"));
  EXPECT_NE(Blake2b("abc"), Blake2b("abd"));
  EXPECT_NE(Blake2b("abc", 32, std::string(32, 'k')), Blake2b("abc"));
  // Known answer: BLAKE2b-512("abc") from RFC 7693, appendix A.
  EXPECT_EQ(ToHex(Blake2b("abc", 64)).substr(0, 32), "ba80a53f981c4d0d6a2797b69f12f6e9");
}

}  // namespace
}  // namespace warden
