// The hand-written Result printer against protobuf's own (of the
// normalized record): equal byte for byte on the records the coordinator
// writes (cancelled ones of each kind, failures, URLs with timings), on
// every field set, and on awkward strings and numbers; and what
// normalizing promises scripts: times to the microsecond, every number of
// the record's kind present, 0 included.
#include "coordinator/result_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>

namespace taskfarm {
namespace {

std::string Fast(const pb::Result& r) {
  std::string s;
  AppendResultJson(r, &s);
  return s;
}

void ExpectSame(const pb::Result& r) { EXPECT_EQ(Fast(r), ResultJsonByProtobuf(r)) << r.ShortDebugString(); }

pb::Result Cancelled(uint32_t id, const std::string& kind, const std::string& task, const std::string& error) {
  pb::Result r;
  r.set_id(id);
  r.set_kind(kind);
  r.set_ok(false);
  r.set_error(error);
  r.set_error_code("cancelled");
  r.set_task(task);
  return r;
}

TEST(ResultJsonTest, CancelledRecordsOfEachKind) {
  const std::string before = "cancelled before it started: the run was interrupted (SIGINT)";
  ExpectSame(Cancelled(0, "sleep", "sleep 100", before));
  ExpectSame(Cancelled(7, "noop", "noop", before));
  ExpectSame(Cancelled(1999999, "cpu", "cpu primes 1000000", before));
  pb::Result url = Cancelled(42, "url", "url http://127.0.0.1:8080/page/1?delay=100&x=<y>", before);
  url.set_url("http://127.0.0.1:8080/page/1?delay=100&x=<y>");
  ExpectSame(url);
  // Cancelled while running: it had a worker, attempts and earlier failures.
  pb::Result running = Cancelled(5, "sleep", "sleep 20000", "cancelled while running: interrupted by a second SIGINT");
  running.set_worker("w2");
  running.set_host("node-1");
  running.set_attempts(2);
  running.add_failures("attempt 1: worker w1 died (signal 9) while it ran 3 tasks; rerun alone");
  ExpectSame(running);
  ExpectSame(Cancelled(9, "fault", "fault exit 3", "cancelled before it could run again: no worker could start"));
}

TEST(ResultJsonTest, FinishedRecords) {
  pb::Result url;
  url.set_id(3);
  url.set_kind("url");
  url.set_ok(true);
  url.set_worker("w1");
  url.set_attempts(1);
  url.set_duration_ms(101.73400000000001);
  url.set_url("https://example.com/a?b=1&c=\"2\"");
  url.set_http_status(200);
  url.set_bytes(4000000000u);
  pb::UrlTimings* t = url.mutable_timings();
  t->set_namelookup_ms(0.012);
  t->set_connect_ms(0.1);
  t->set_first_byte_ms(100.5);
  t->set_total_ms(101.7);
  t->set_new_connections(1);
  url.set_host("h");
  url.set_start_ms(-3.25);
  url.set_cpu_user_ms(0.3);
  url.set_cpu_sys_ms(1e-7);
  url.set_worker_max_rss_kb(12345);
  url.set_task("url https://example.com/a?b=1&c=\"2\"");
  url.set_cpu_wait_ms(0);
  ExpectSame(url);

  pb::Result failed = url;
  failed.set_ok(false);
  failed.clear_bytes();
  failed.set_http_status(503);
  failed.set_attempts(3);
  failed.set_error("HTTP 503 \"Service Unavailable\"\n\tfrom <server> \\ retry\x01\x1f\x7f");
  failed.set_error_code("unavailable");
  failed.add_failures("attempt 1: HTTP 503");
  failed.add_failures("attempt 2: connection reset\r\n");
  ExpectSame(failed);

  pb::Result cpu;
  cpu.set_id(11);
  cpu.set_kind("cpu");
  cpu.set_ok(true);
  cpu.set_worker("w3");
  cpu.set_attempts(1);
  cpu.set_duration_ms(1234.5678901234567);
  cpu.set_result(78498);
  cpu.set_task("cpu primes 1000000");
  cpu.set_cpu_user_ms(1230);
  cpu.set_cpu_wait_ms(4.5);
  ExpectSame(cpu);

  ExpectSame(pb::Result());  // every default
}

// Sets every field of `m`, nested messages included, through reflection:
// a field added to the proto is set here without anyone remembering to.
void SetEveryField(google::protobuf::Message* m, int seed) {
  const google::protobuf::Descriptor* d = m->GetDescriptor();
  const google::protobuf::Reflection* refl = m->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = d->field(i);
    int v = seed + i;
    using FD = google::protobuf::FieldDescriptor;
    if (f->is_repeated()) {
      ASSERT_EQ(f->cpp_type(), FD::CPPTYPE_STRING) << "teach this test (and result_json.cc) about " << f->name();
      refl->AddString(m, f, "first " + std::to_string(v));
      refl->AddString(m, f, "second");
      continue;
    }
    switch (f->cpp_type()) {
      case FD::CPPTYPE_UINT32:
        refl->SetUInt32(m, f, static_cast<uint32_t>(v) * 1000003u);
        break;
      case FD::CPPTYPE_INT32:
        refl->SetInt32(m, f, -v);
        break;
      case FD::CPPTYPE_DOUBLE:
        refl->SetDouble(m, f, v * 1.1);
        break;
      case FD::CPPTYPE_BOOL:
        refl->SetBool(m, f, true);
        break;
      case FD::CPPTYPE_STRING:
        refl->SetString(m, f, f->name() + " <" + std::to_string(v) + ">");
        break;
      case FD::CPPTYPE_MESSAGE:
        SetEveryField(refl->MutableMessage(m, f), seed + 100);
        break;
      default:
        FAIL() << "teach this test (and result_json.cc) about " << f->name();
    }
  }
}

TEST(ResultJsonTest, EveryFieldSet) {
  pb::Result r;
  SetEveryField(&r, 1);
  ExpectSame(r);
  // And each field alone: presence decides what is printed.
  const google::protobuf::Descriptor* d = r.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    pb::Result one;
    const google::protobuf::FieldDescriptor* f = d->field(i);
    one.GetReflection()->SwapFields(&one, &r, {f});
    ExpectSame(one);
    one.GetReflection()->SwapFields(&one, &r, {f});
  }
}

TEST(ResultJsonTest, EveryNumberOfTheKindIsPresentZeroIncluded) {
  pb::Result cpu;
  cpu.set_id(1);
  cpu.set_kind("cpu");
  cpu.set_ok(true);
  cpu.set_result(9592);
  cpu.set_cpu_user_ms(2.5);  // no cpu_sys_ms, cpu_wait_ms, worker_max_rss_kb: 0
  EXPECT_EQ(Fast(cpu),
            R"({"id":1,"kind":"cpu","ok":true,"worker":"","attempts":0,"duration_ms":0,"failures":[],"result":9592,)"
            R"("cpu_user_ms":2.5,"cpu_sys_ms":0,"worker_max_rss_kb":0,"cpu_wait_ms":0})");
  ExpectSame(cpu);

  // A url task that never got a response (cancelled before it started):
  // status, bytes and timings 0, not missing; start_ms missing (it never
  // started, and 0 would place it on the timeline).
  pb::Result url =
      Cancelled(2, "url", "url http://h/", "cancelled before it started: the run was interrupted (SIGINT)");
  url.set_url("http://h/");
  std::string json = Fast(url);
  for (const char* field : {R"("http_status":0)", R"("bytes":0)", R"("total_ms":0)", R"("cpu_user_ms":0)",
                            R"("cpu_sys_ms":0)", R"("cpu_wait_ms":0)", R"("worker_max_rss_kb":0)"}) {
    EXPECT_NE(json.find(field), std::string::npos) << field << " missing from " << json;
  }
  EXPECT_EQ(json.find("start_ms"), std::string::npos) << json;
  ExpectSame(url);

  // Numbers of other kinds stay out of a record: no http_status on a sleep.
  pb::Result sleep = Cancelled(3, "sleep", "sleep 10", "cancelled before it started: x");
  EXPECT_EQ(Fast(sleep).find("http_status"), std::string::npos) << Fast(sleep);
  EXPECT_EQ(Fast(sleep).find("timings"), std::string::npos) << Fast(sleep);
}

TEST(ResultJsonTest, TimesAreRoundedToTheMicrosecond) {
  pb::Result r;
  r.set_kind("url");
  r.set_start_ms(10.63232421875);  // a double's noise, as a wall clock difference gives it
  r.set_duration_ms(101.73400000000001);
  r.set_cpu_wait_ms(0.0004999);
  r.mutable_timings()->set_total_ms(1.23456789);
  std::string json = Fast(r);
  EXPECT_NE(json.find(R"("start_ms":10.632)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("duration_ms":101.734,)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("cpu_wait_ms":0})"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("total_ms":1.235,)"), std::string::npos) << json;
  ExpectSame(r);
  EXPECT_EQ(RecordMs(2000.1234999), 2000.123);
  EXPECT_EQ(RecordMs(-3.2506), -3.251);
  EXPECT_TRUE(std::isnan(RecordMs(std::numeric_limits<double>::quiet_NaN())));
  EXPECT_EQ(RecordMs(4e15), 4e15);  // too large to round exactly: as is
}

TEST(ResultJsonTest, EveryAsciiCharacterInAString) {
  for (int c = 1; c < 0x80; ++c) {
    pb::Result r;
    r.set_error(std::string("a") + static_cast<char>(c) + "b");
    ExpectSame(r);
  }
  pb::Result nul;
  nul.set_error(std::string("a\0b", 3));
  ExpectSame(nul);
}

TEST(ResultJsonTest, NonAsciiAndNonFiniteTakeProtobufsPath) {
  pb::Result r;
  r.set_error("caf\xc3\xa9 \xe2\x80\xa8 line separator");
  ExpectSame(r);
  pb::Result n;
  n.set_duration_ms(std::numeric_limits<double>::quiet_NaN());
  n.set_start_ms(-std::numeric_limits<double>::infinity());
  ExpectSame(n);
}

TEST(ResultJsonTest, Doubles) {
  std::vector<double> values = {0.0,
                                -0.0,
                                1,
                                -1,
                                0.1,
                                0.5,
                                1.5,
                                100,
                                1e14,
                                999999999999999,
                                1e15,
                                1e16,
                                -1e15,
                                123456789.123456789,
                                0.30000000000000004,
                                1e-5,
                                2.5e-5,
                                1e-7,
                                5e-324,
                                std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::min(),
                                1e21,
                                4294967296.0,
                                18446744073709551616.0};
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> ms(0, 100000);
  for (int i = 0; i < 2000; ++i) {
    values.push_back(ms(rng));
    values.push_back(std::round(ms(rng) * 1000) / 1000);  // microsecond-rounded, like curl's times
    values.push_back(-ms(rng));
    uint64_t bits = rng();
    double any;
    std::memcpy(&any, &bits, sizeof(any));
    if (std::isfinite(any)) values.push_back(any);
  }
  for (double v : values) {
    pb::Result r;
    r.set_duration_ms(v);
    r.set_start_ms(v);
    ASSERT_EQ(Fast(r), ResultJsonByProtobuf(r)) << v;
  }
}

}  // namespace
}  // namespace taskfarm
