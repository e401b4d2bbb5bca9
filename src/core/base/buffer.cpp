#include "base/buffer.h"

namespace ikecluster {

bool Reader::u8(std::uint8_t& v) {
    if (remaining() < 1) return false;
    v = data_[pos_];
    pos_ += 1;
    return true;
}

bool Reader::u16(std::uint16_t& v) {
    if (remaining() < 2) return false;
    v = load_be16(data_.data() + pos_);
    pos_ += 2;
    return true;
}

bool Reader::u32(std::uint32_t& v) {
    if (remaining() < 4) return false;
    v = load_be32(data_.data() + pos_);
    pos_ += 4;
    return true;
}

bool Reader::u64(std::uint64_t& v) {
    if (remaining() < 8) return false;
    v = load_be64(data_.data() + pos_);
    pos_ += 8;
    return true;
}

bool Reader::bytes(std::size_t n, BytesView& v) {
    if (remaining() < n) return false;
    v = data_.subspan(pos_, n);
    pos_ += n;
    return true;
}

bool Reader::skip(std::size_t n) {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
}

BytesView Reader::rest() {
    BytesView v = data_.subspan(pos_);
    pos_ = data_.size();
    return v;
}

Error Reader::need(std::size_t n, const std::string& what) const {
    return make_error(offset(), "truncated " + what + ": need " + std::to_string(n) +
                                    " bytes, have " + std::to_string(remaining()));
}

void Writer::u16(std::uint16_t v) {
    std::uint8_t b[2];
    store_be16(b, v);
    out_.insert(out_.end(), b, b + 2);
}

void Writer::u32(std::uint32_t v) {
    std::uint8_t b[4];
    store_be32(b, v);
    out_.insert(out_.end(), b, b + 4);
}

void Writer::u64(std::uint64_t v) {
    std::uint8_t b[8];
    store_be64(b, v);
    out_.insert(out_.end(), b, b + 8);
}

void Writer::put_u16_at(std::size_t at, std::uint16_t v) {
    store_be16(out_.data() + at, v);
}
void Writer::put_u32_at(std::size_t at, std::uint32_t v) {
    store_be32(out_.data() + at, v);
}

}  // namespace ikecluster
