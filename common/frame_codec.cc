// Frame encoding and hostile-input-safe decoding.
#include "common/frame_codec.h"

#include <iterator>

namespace taskfarm {

std::string_view DropReasonName(DropReason reason) {
  // In DropReason's order, as DropCounts::by_reason counts them.
  static constexpr std::string_view kNames[] = {"too large",           "not protobuf",       "wrong protocol version",
                                                "empty message",       "unexpected message", "result for unknown lease",
                                                "unregistered sender", "failed handshake",   "invalid result",
                                                "refused registration"};
  static_assert(std::size(kNames) == static_cast<size_t>(DropReason::kCount), "every DropReason has a name");
  size_t i = static_cast<size_t>(reason);
  return i < std::size(kNames) ? kNames[i] : "?";
}

std::string EncodeFrame(pb::Frame frame) {
  frame.set_version(pb::PROTOCOL_VERSION_CURRENT);
  return frame.SerializeAsString();
}

DecodedFrame DecodeFrame(std::string_view bytes) {
  DecodedFrame out;
  if (bytes.size() > kMaxFrameBytes) {
    out.drop = DropReason::kTooLarge;
    return out;
  }
  pb::Frame frame;
  if (bytes.empty() || !frame.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    out.drop = DropReason::kNotProtobuf;
    return out;
  }
  if (frame.version() != pb::PROTOCOL_VERSION_CURRENT) {
    out.drop = DropReason::kBadVersion;
    return out;
  }
  if (frame.body_case() == pb::Frame::BODY_NOT_SET) {
    out.drop = DropReason::kEmptyBody;
    return out;
  }
  out.frame = std::move(frame);
  return out;
}

pb::Frame* DecodeFrameOn(std::string_view bytes, google::protobuf::Arena* arena, DropReason* drop) {
  if (bytes.size() > kMaxFrameBytes) {
    *drop = DropReason::kTooLarge;
    return nullptr;
  }
  auto* frame = google::protobuf::Arena::CreateMessage<pb::Frame>(arena);
  if (bytes.empty() || !frame->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    *drop = DropReason::kNotProtobuf;
    return nullptr;
  }
  if (frame->version() != pb::PROTOCOL_VERSION_CURRENT) {
    *drop = DropReason::kBadVersion;
    return nullptr;
  }
  if (frame->body_case() == pb::Frame::BODY_NOT_SET) {
    *drop = DropReason::kEmptyBody;
    return nullptr;
  }
  return frame;
}

void EncodeFrameTo(pb::Frame* frame, std::string* out) {
  frame->set_version(pb::PROTOCOL_VERSION_CURRENT);
  frame->SerializeToString(out);
}

size_t FrameBudget::FieldBytes(size_t length) {
  size_t varint = 1;
  for (size_t v = length; v >= 0x80; v >>= 7) ++varint;
  return 1 + varint + length;
}

uint64_t DropCounts::Total() const {
  uint64_t total = 0;
  for (uint64_t n : by_reason) total += n;
  return total;
}

std::string DropCounts::Describe() const {
  std::string parts;
  for (size_t i = 0; i < by_reason.size(); ++i) {
    if (by_reason[i] == 0) continue;
    if (!parts.empty()) parts += ", ";
    parts += std::to_string(by_reason[i]) + " " + std::string(DropReasonName(static_cast<DropReason>(i)));
  }
  return std::to_string(Total()) + (parts.empty() ? "" : " (" + parts + ")");
}

}  // namespace taskfarm
