// Bounds-checked big-endian reading and writing. Every read states how many
// bytes it needs; a short buffer yields an Error naming the absolute offset,
// never an out-of-bounds access.
#pragma once

#include <cstdint>
#include <string>

#include "base/bytes.h"
#include "base/result.h"

namespace ikecluster {

class Reader {
  public:
    // `base` is the absolute offset of data[0] within the whole message, so
    // errors from nested payload decoders still point at the right byte.
    explicit Reader(BytesView data, std::size_t base = 0) : data_(data), base_(base) {}

    std::size_t remaining() const { return data_.size() - pos_; }
    std::size_t offset() const { return base_ + pos_; }  // absolute
    std::size_t pos() const { return pos_; }             // relative
    bool empty() const { return remaining() == 0; }

    // Each returns false (and leaves the reader unchanged) when fewer bytes
    // remain than needed; `need()` builds the matching Error.
    bool u8(std::uint8_t& v);
    bool u16(std::uint16_t& v);
    bool u32(std::uint32_t& v);
    bool u64(std::uint64_t& v);
    bool bytes(std::size_t n, BytesView& v);
    bool skip(std::size_t n);
    BytesView rest();

    Error need(std::size_t n, const std::string& what) const;

  private:
    BytesView data_;
    std::size_t base_;
    std::size_t pos_ = 0;
};

class Writer {
  public:
    explicit Writer(Bytes& out) : out_(out) {}
    void u8(std::uint8_t v) { out_.push_back(v); }
    void u16(std::uint16_t v);
    void u32(std::uint32_t v);
    void u64(std::uint64_t v);
    void bytes(BytesView v) { out_.insert(out_.end(), v.begin(), v.end()); }
    std::size_t size() const { return out_.size(); }
    // Overwrites a 16/32-bit field written earlier (length back-patching).
    void put_u16_at(std::size_t at, std::uint16_t v);
    void put_u32_at(std::size_t at, std::uint32_t v);

  private:
    Bytes& out_;
};

inline std::uint16_t load_be16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
inline std::uint32_t load_be32(const std::uint8_t* p) {
    return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}
inline std::uint64_t load_be64(const std::uint8_t* p) {
    return std::uint64_t(load_be32(p)) << 32 | load_be32(p + 4);
}
inline void store_be16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
inline void store_be32(std::uint8_t* p, std::uint32_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
}
inline void store_be64(std::uint8_t* p, std::uint64_t v) {
    store_be32(p, static_cast<std::uint32_t>(v >> 32));
    store_be32(p + 4, static_cast<std::uint32_t>(v));
}

}  // namespace ikecluster
