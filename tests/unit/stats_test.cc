// Percentile, Summarize and Median.
#include "common/stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

namespace taskfarm {
namespace {

TEST(PercentileTest, EmptyIsZero) {
  EXPECT_EQ(Percentile({}, 50), 0);
  EXPECT_EQ(Percentile({}, 0), 0);
  EXPECT_EQ(Percentile({}, 100), 0);
}

TEST(PercentileTest, SingleSample) {
  for (double p : {0.0, 1.0, 50.0, 99.0, 100.0}) EXPECT_EQ(Percentile({7.5f}, p), 7.5) << p;
}

TEST(PercentileTest, NearestRankOnOneToHundred) {
  std::vector<float> v(100);
  std::iota(v.begin(), v.end(), 1.0f);  // 1..100
  EXPECT_EQ(Percentile(v, 0), 1);
  EXPECT_EQ(Percentile(v, 1), 1);
  EXPECT_EQ(Percentile(v, 50), 50);
  EXPECT_EQ(Percentile(v, 90), 90);
  EXPECT_EQ(Percentile(v, 99), 99);
  EXPECT_EQ(Percentile(v, 99.5), 100);
  EXPECT_EQ(Percentile(v, 100), 100);
}

TEST(PercentileTest, NearestRankOnSmallSets) {
  // Nearest rank: the smallest value with at least p% of samples <= it.
  const std::vector<float> v = {15, 20, 35, 40, 50};
  EXPECT_EQ(Percentile(v, 5), 15);
  EXPECT_EQ(Percentile(v, 20), 15);
  EXPECT_EQ(Percentile(v, 30), 20);
  EXPECT_EQ(Percentile(v, 40), 20);
  EXPECT_EQ(Percentile(v, 50), 35);
  EXPECT_EQ(Percentile(v, 100), 50);
  EXPECT_EQ(Percentile({1, 2}, 50), 1);
  EXPECT_EQ(Percentile({1, 2}, 51), 2);
}

TEST(PercentileTest, OutOfRangePIsClamped) {
  const std::vector<float> v = {1, 2, 3};
  EXPECT_EQ(Percentile(v, -10), 1);
  EXPECT_EQ(Percentile(v, 250), 3);
}

TEST(PercentileTest, DoublesKeepTheirPrecision) {
  // The report's durations are doubles: no rounding through float.
  const std::vector<double> v = {1000.0001, 1000.0002, 1000.0003};
  EXPECT_EQ(Percentile(v, 50), 1000.0002);
  EXPECT_EQ(Percentile(v, 99), 1000.0003);
  EXPECT_EQ(Percentile(std::vector<double>{}, 50), 0);
}

TEST(SummarizeTest, Empty) {
  std::vector<float> v;
  LatencySummary s = Summarize(v);
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.p50, 0);
  EXPECT_EQ(s.p90, 0);
  EXPECT_EQ(s.p99, 0);
  EXPECT_EQ(s.max, 0);
  EXPECT_EQ(s.mean, 0);
}

TEST(SummarizeTest, UnsortedInput) {
  std::vector<float> v(1000);
  std::iota(v.begin(), v.end(), 1.0f);  // 1..1000
  std::reverse(v.begin(), v.end());
  std::rotate(v.begin(), v.begin() + 317, v.end());
  LatencySummary s = Summarize(v);
  EXPECT_EQ(s.count, 1000u);
  EXPECT_EQ(s.p50, 500);
  EXPECT_EQ(s.p90, 900);
  EXPECT_EQ(s.p99, 990);
  EXPECT_EQ(s.max, 1000);
  EXPECT_DOUBLE_EQ(s.mean, 500.5);
  EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));  // reordered in place
}

TEST(SummarizeTest, SingleSampleAndSkew) {
  std::vector<float> one = {42};
  LatencySummary s = Summarize(one);
  EXPECT_EQ(s.count, 1u);
  EXPECT_EQ(s.p50, 42);
  EXPECT_EQ(s.p99, 42);
  EXPECT_EQ(s.max, 42);
  EXPECT_EQ(s.mean, 42);

  std::vector<float> skew(99, 1.0f);
  skew.push_back(1000.0f);
  s = Summarize(skew);
  EXPECT_EQ(s.p50, 1);
  EXPECT_EQ(s.p99, 1);
  EXPECT_EQ(s.max, 1000);
  EXPECT_DOUBLE_EQ(s.mean, (99.0 + 1000.0) / 100.0);
}

TEST(MedianTest, Values) {
  EXPECT_EQ(Median({}), 0);
  EXPECT_EQ(Median({3}), 3);
  EXPECT_EQ(Median({5, 1}), 3);
  EXPECT_EQ(Median({9, 1, 5}), 5);
  EXPECT_EQ(Median({4, 1, 3, 2}), 2.5);
  EXPECT_EQ(Median({-1, -3, 10, 2, 7}), 2);
  EXPECT_EQ(Median({2, 2, 2, 100}), 2);
}

TEST(MedianTest, DoesNotReorderCallersVector) {
  const std::vector<double> v = {3, 1, 2};
  EXPECT_EQ(Median(v), 2);
  EXPECT_EQ(v, (std::vector<double>{3, 1, 2}));
}

}  // namespace
}  // namespace taskfarm
