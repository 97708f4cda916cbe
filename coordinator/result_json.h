// A Result as one line of JSON, as --output and the journal hold it: byte
// for byte what protobuf's MessageToJsonString prints with
// preserve_proto_field_names and always_print_primitive_fields (the format
// these files have always had), written by hand because protobuf's printer
// costs several microseconds a record, which is seconds when an interrupted
// run records millions of cancelled tasks. A record with a string that is
// not plain ASCII, or a number that is not finite, goes to protobuf's
// printer instead: the fast path never has to match its UTF-8 rules.
//
//   std::string line;
//   AppendResultJson(result, &line);  // no trailing newline
//
// Field order is protobuf's: fields without presence in field-number order,
// then the proto3 `optional` ones that are set, in field-number order.
// tests/result_json_test.cc sets every field by reflection, so a field added
// to Result without a line here fails that test.
#pragma once

#include <string>

#include "proto/taskfarm.pb.h"

namespace taskfarm {

// Appends the JSON of `result` to `out`.
void AppendResultJson(const pb::Result& result, std::string* out);

// The same through protobuf's printer: the reference, and the fallback.
[[nodiscard]] std::string ResultJsonByProtobuf(const pb::Result& result);

}  // namespace taskfarm
