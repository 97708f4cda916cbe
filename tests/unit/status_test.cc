// Status and StatusOr: the one error type every module edge returns.
#include "common/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

namespace taskfarm {
namespace {

TEST(Status, DefaultIsOkWithNoMessage) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.ToString(), "ok");
  EXPECT_EQ(s, Status::Ok());
}

TEST(Status, HelpersCarryTheirCodeAndTheMessageUnchanged) {
  EXPECT_EQ(InvalidArgument("bad flag").code(), Code::kInvalidArgument);
  EXPECT_EQ(Unavailable("x").code(), Code::kUnavailable);
  EXPECT_EQ(DeadlineExceeded("x").code(), Code::kDeadlineExceeded);
  EXPECT_EQ(Cancelled("x").code(), Code::kCancelled);
  EXPECT_EQ(PermissionDenied("x").code(), Code::kPermissionDenied);
  EXPECT_EQ(Internal("x").code(), Code::kInternal);
  Status s = InvalidArgument("tasks.txt:3: unknown task kind");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "tasks.txt:3: unknown task kind");
  EXPECT_EQ(s.ToString(), "invalid_argument: tasks.txt:3: unknown task kind");
}

TEST(Status, AnOkCodeDropsTheMessage) {
  Status s(Code::kOk, "ignored");
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.message(), "");
}

TEST(Status, EqualityComparesCodeAndMessage) {
  EXPECT_EQ(Internal("a"), Internal("a"));
  EXPECT_NE(Internal("a"), Internal("b"));
  EXPECT_NE(Internal("a"), Unavailable("a"));
}

StatusOr<int> Half(int n) {
  if (n % 2 != 0) return InvalidArgument(std::to_string(n) + " is odd");
  return n / 2;
}

TEST(StatusOr, HoldsAValueWithAnOkStatus) {
  StatusOr<int> r = Half(8);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(r.value(), 4);
  EXPECT_EQ(*r, 4);
}

TEST(StatusOr, HoldsTheFailureWhenThereIsNoValue) {
  StatusOr<int> r = Half(7);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status(), InvalidArgument("7 is odd"));
}

TEST(StatusOr, AnOkStatusWithoutAValueBecomesInternal) {
  StatusOr<int> r = Status::Ok();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInternal);
}

TEST(StatusOr, BuildsFromWhatTheValueIsBuiltFromAndGivesAccessThroughArrow) {
  StatusOr<std::string> r = "text";
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 4u);
  r->append("!");
  EXPECT_EQ(*r, "text!");
}

TEST(StatusOr, MovesAMoveOnlyValueOut) {
  StatusOr<std::unique_ptr<int>> r = std::make_unique<int>(5);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 5);
}

TEST(StatusOrDeathTest, ValueOfAFailureAbortsWithItsMessage) {
  StatusOr<int> r = Half(3);
  EXPECT_DEATH((void)r.value(), "invalid_argument: 3 is odd");
}

// The names records carry: each code its own, in Code's order.
TEST(Status, EveryCodeHasItsOwnName) {
  std::set<std::string_view> names;
  for (Code code : kFailureCodes) EXPECT_TRUE(names.insert(CodeName(code)).second) << CodeName(code);
  EXPECT_EQ(CodeName(Code::kOk), "ok");
  EXPECT_EQ(CodeName(Code::kHttpError), "http_error");
  EXPECT_EQ(CodeName(Code::kDeadlineExceeded), "deadline_exceeded");
  EXPECT_EQ(CodeName(Code::kCommandFailed), "command_failed");
  EXPECT_EQ(CodeName(Code::kInternal), "internal");
}

}  // namespace
}  // namespace taskfarm
