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
  kNotProtobuf,    // bytes that do not parse as a Frame
  kBadVersion,     // a Frame of another protocol version
  kEmptyBody,      // a Frame with no message in it
  kUnexpected,     // a valid message that makes no sense from that sender
  kUnknownTask,    // a result for a task id/attempt that is not leased there
  kUnknownPeer,    // a message from a peer that has not said Hello
  kHandshake,      // a connection that failed ZeroMQ's handshake (e.g. HTTP)
  kInvalidResult,  // a result whose fields break the rules of its kind
  kRefusedHello,   // a registration refused (too many workers registered)
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

// Splits a batch into messages by encoded size as well as by count, so no
// frame a sender makes exceeds kMaxFrameBytes (the receiver would drop it,
// and with it the tasks or results inside). It adds up each element's
// ByteSizeLong() as the batch fills: nothing is encoded twice to measure it.
// For frames whose body holds repeated message fields numbered below 16
// (TaskBatch.tasks, ResultBatch.outcomes and .started, Rejected.leases).
//
//   FrameBudget budget(max_batch);
//   for (pb::Assignment& a : tasks) {
//     size_t bytes = a.ByteSizeLong();
//     if (!budget.Fits(bytes)) { Send(frame); frame.Clear(); budget.Clear(); }
//     budget.Add(bytes);
//     *frame.mutable_tasks()->add_tasks() = std::move(a);
//   }
//   Send(frame);
class FrameBudget {
 public:
  explicit FrameBudget(size_t max_count, size_t max_bytes = kMaxFrameBytes)
      : max_count_(max_count), max_bytes_(max_bytes) {}
  // Whether one more counted element whose ByteSizeLong() is `element_bytes`
  // keeps the frame within both limits. An empty batch takes any element, so
  // every element goes somewhere: keeping single elements far below the
  // limit is the caller's part (kMaxTaskLineBytes, bounded error strings).
  [[nodiscard]] bool Fits(size_t element_bytes) const {
    return count_ == 0 || (count_ < max_count_ && bytes() + FieldBytes(element_bytes) <= max_bytes_);
  }
  void Add(size_t element_bytes) {
    ++count_;
    body_bytes_ += FieldBytes(element_bytes);
  }
  // An element of another field of the body (ResultBatch.started): it
  // takes room but does not count against max_count.
  void AddUncounted(size_t element_bytes) { body_bytes_ += FieldBytes(element_bytes); }
  void Clear() { count_ = body_bytes_ = 0; }
  [[nodiscard]] size_t count() const { return count_; }
  // The encoded frame's size, exact to within the 4 bytes a shorter length
  // prefix saves: never less than the real size.
  [[nodiscard]] size_t bytes() const { return kOverheadBytes + body_bytes_; }

  // A length-delimited field of `length` bytes with a one-byte tag.
  static size_t FieldBytes(size_t length);

 private:
  // Frame.version (tag + value) and the body's tag and length (at most 5).
  static constexpr size_t kOverheadBytes = 2 + 1 + 5;
  size_t max_count_;
  size_t max_bytes_;
  size_t count_ = 0;
  size_t body_bytes_ = 0;
};

// Counts of dropped input by reason; cheap to copy.
struct DropCounts {
  std::array<uint64_t, static_cast<size_t>(DropReason::kCount)> by_reason{};
  void Count(DropReason r) { ++by_reason[static_cast<size_t>(r)]; }
  uint64_t Total() const;
  std::string Describe() const;  // "3 (2 not protobuf, 1 too large)"
};

}  // namespace taskfarm
