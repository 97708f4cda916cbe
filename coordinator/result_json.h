// A Result as one line of JSON, as --output and the journal hold it:
// protobuf's JSON mapping (MessageToJsonString with
// preserve_proto_field_names and always_print_primitive_fields, the format
// these files have always had) of the record made ready for scripts by
// NormalizeRecord: every time rounded to the microsecond, and every number
// documented for the record's kind present, 0 included, so a jq sum needs
// no `// 0`. Written by hand because protobuf's printer costs several
// microseconds a record, which is seconds when an interrupted run records
// millions of cancelled tasks. A record with a string that is not plain
// ASCII, or a number that is not finite, goes to protobuf's printer
// instead: the fast path never has to match its UTF-8 rules.
//
//   std::string line;
//   AppendResultJson(result, &line);  // no trailing newline
//
// Field order is protobuf's: fields without presence in field-number order,
// then the proto3 `optional` ones that are set, in field-number order.
// tests/unit/result_json_test.cc sets every field by reflection, so a field added
// to Result without a line here fails that test.
#pragma once

#include <string>

#include "proto/taskfarm.pb.h"

namespace taskfarm {

// Appends the JSON of `result`, as NormalizeRecord would make it, to `out`.
void AppendResultJson(const pb::Result& result, std::string* out);

// The same through protobuf's printer (of a normalized copy): the
// reference, and the fallback.
[[nodiscard]] std::string ResultJsonByProtobuf(const pb::Result& result);

// A time as records hold it: milliseconds rounded to the microsecond (three
// decimals). Not finite, or too large for the rounding to be exact: as is.
[[nodiscard]] double RecordMs(double ms);

// What a record holds beyond what was set: times through RecordMs, and the
// numbers of every record (cpu_user_ms, cpu_sys_ms, cpu_wait_ms,
// worker_max_rss_kb) and of a `url` record (http_status, bytes, timings)
// set, 0 when unknown (a task that never ran, a response that never came).
// start_ms stays absent when the task never started: it is a place on the
// timeline, and 0 would be a false one.
void NormalizeRecord(pb::Result* result);

}  // namespace taskfarm
