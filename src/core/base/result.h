// Result<T>: a value or an Error. The core never throws across the network
// boundary; every decoder and crypto operation that can fail on peer input
// returns one of these instead.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <variant>

namespace ikecluster {

struct Error {
    // Byte offset into the input where the problem was found (0 when the
    // error is not about a position, e.g. a failed integrity check).
    std::size_t offset = 0;
    // What was wrong, for logs and test assertions ("truncated Notify
    // payload: need 8 bytes, have 5").
    std::string what;
};

template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
    Result(Error err) : v_(std::move(err)) {}  // NOLINT: implicit by design

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const { return std::get<1>(v_); }

  private:
    std::variant<T, Error> v_;
};

// For operations that produce nothing on success.
struct Ok {};
using Status = Result<Ok>;

inline Error make_error(std::size_t offset, std::string what) {
    return Error{offset, std::move(what)};
}

}  // namespace ikecluster
