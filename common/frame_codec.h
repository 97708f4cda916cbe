// Bytes <-> Frame for every taskfarm socket. Decoding never trusts the peer:
// oversized, unparsable, empty or wrong-version input is a counted drop.
//
//   auto decoded = DecodeFrame(bytes);
//   if (!decoded.frame) drops.Count(decoded.drop);
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proto/taskfarm.pb.h"

namespace taskfarm {

// Largest frame a peer may send; bigger ones are dropped unread. A TaskBatch
// of 1024 URL tasks is far below this. libzmq's ZMQ_MAXMSGSIZE is set above
// it, so anything bigger still is cut off (and its sender disconnected)
// before it is buffered.
inline constexpr size_t kMaxFrameBytes = 4 * 1024 * 1024;
inline constexpr int64_t kSocketMaxMsgSize = 16 * 1024 * 1024;

enum class DropReason {
  kTooLarge,
  kNotProtobuf,   // bytes that do not parse as a Frame
  kBadVersion,    // a Frame of another protocol version
  kEmptyBody,     // a Frame with no message in it
  kUnexpected,    // a valid message that makes no sense from that sender
  kUnknownTask,   // a result for a task id/attempt that is not leased there
  kUnknownPeer,   // a message from a peer that has not said Hello
  kHandshake,     // a connection that failed ZeroMQ's handshake (e.g. HTTP)
  kInvalidResult, // a result whose fields break the rules of its kind
  kRefusedHello,  // a registration refused (too many workers registered)
  kCount,
};

std::string_view DropReasonName(DropReason reason);

struct DecodedFrame {
  std::optional<pb::Frame> frame;
  DropReason drop = DropReason::kNotProtobuf;  // meaningful when !frame
};

// Serializes with the current protocol version stamped in.
[[nodiscard]] std::string EncodeFrame(pb::Frame frame);

[[nodiscard]] DecodedFrame DecodeFrame(std::string_view bytes);

// The same checks, parsing into a Frame on `arena` (cheap for batches of
// many small messages). Returns null and sets *drop when the input is dropped.
[[nodiscard]] pb::Frame* DecodeFrameOn(std::string_view bytes, google::protobuf::Arena* arena, DropReason* drop);

// Stamps the version into `frame` and serializes it into `out`.
void EncodeFrameTo(pb::Frame* frame, std::string* out);

// Counts of dropped input by reason; cheap to copy.
struct DropCounts {
  std::array<uint64_t, static_cast<size_t>(DropReason::kCount)> by_reason{};
  void Count(DropReason r) { ++by_reason[static_cast<size_t>(r)]; }
  uint64_t Total() const;
  std::string Describe() const;  // "3 (2 not protobuf, 1 too large)"
};

}  // namespace taskfarm
