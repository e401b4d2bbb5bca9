#include "crypto/dh.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <string>

#include "crypto/ossl.h"

namespace ikecluster::crypto {

using detail::fatal;

namespace {

std::string length_error(const char* group, std::size_t want, std::size_t got) {
    return std::string(group) + " public value must be " + std::to_string(want) + " octets, got " +
           std::to_string(got);
}

// EVP_PKEY_derive with `mine` against `peer`; `want` is the expected length.
// A failure (OpenSSL refused the peer key or the result) becomes an Error
// naming `what`, with the OpenSSL error queue drained into the message.
Result<Bytes> evp_derive(EVP_PKEY* mine, EVP_PKEY* peer, std::size_t want, const char* what) {
    detail::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, mine, nullptr));
    if (!ctx) fatal("EVP_PKEY_CTX_new_from_pkey");
    std::size_t len = 0;
    if (EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer) != 1 ||
        EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1 || len != want) {
        std::string errs = detail::drain_errors();
        return make_error(0, std::string(what) + ": key derivation failed (" + errs + ")");
    }
    Bytes out(len);
    if (EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1 || len != want) {
        std::string errs = detail::drain_errors();
        return make_error(0, std::string(what) + ": key derivation failed (" + errs + ")");
    }
    return out;
}

// ---------------------------------------------------------------------------
// MODP-2048, RFC 3526 group 14: generator 2, the prime from
// BN_get_rfc3526_prime_2048 (the RFC's constant).

constexpr std::size_t kModpSize = 256;
constexpr std::size_t kModpExponentBytes = 40;

class ModpExchange final : public KeyExchange {
  public:
    static Result<std::unique_ptr<KeyExchange>> create(Random& rng) {
        auto self = std::unique_ptr<ModpExchange>(new ModpExchange());
        self->p_.reset(BN_get_rfc3526_prime_2048(nullptr));
        self->p_minus_1_.reset(BN_new());
        self->g_.reset(BN_new());
        self->x_.reset(BN_secure_new());
        self->ctx_.reset(BN_CTX_secure_new());
        if (!self->p_ || !self->p_minus_1_ || !self->g_ || !self->x_ || !self->ctx_ ||
            !BN_sub(self->p_minus_1_.get(), self->p_.get(), BN_value_one()) ||
            !BN_set_word(self->g_.get(), 2))
            fatal("MODP-2048 setup");
        std::uint8_t buf[kModpExponentBytes];
        do {
            rng.fill(buf);
            if (!BN_bin2bn(buf, sizeof buf, self->x_.get())) fatal("BN_bin2bn");
        } while (BN_cmp(self->x_.get(), BN_value_one()) <= 0);
        OPENSSL_cleanse(buf, sizeof buf);
        BN_set_flags(self->x_.get(), BN_FLG_CONSTTIME);

        detail::BnPtr y(BN_new());
        if (!y || !BN_mod_exp_mont_consttime(y.get(), self->g_.get(), self->x_.get(),
                                             self->p_.get(), self->ctx_.get(), nullptr))
            fatal("MODP-2048 g^x mod p");
        self->public_.resize(kModpSize);
        if (BN_bn2binpad(y.get(), self->public_.data(), kModpSize) != kModpSize)
            fatal("BN_bn2binpad");
        return std::unique_ptr<KeyExchange>(std::move(self));
    }

    DhId group() const override { return DhId::MODP_2048; }
    const Bytes& public_value() const override { return public_; }

    Result<Bytes> shared_secret(BytesView peer) override {
        if (peer.size() != kModpSize)
            return make_error(0, length_error("MODP_2048 (group 14)", kModpSize, peer.size()));
        detail::BnPtr y(BN_bin2bn(peer.data(), static_cast<int>(peer.size()), nullptr));
        if (!y) fatal("BN_bin2bn");
        // RFC 6989 §2.1: 1 < y < p-1. Rejects 0, 1, p-1 and anything >= p.
        if (BN_cmp(y.get(), BN_value_one()) <= 0)
            return make_error(0, "MODP_2048 (group 14) public value is 0 or 1 (RFC 6989 §2.1)");
        if (BN_cmp(y.get(), p_minus_1_.get()) >= 0)
            return make_error(0,
                              "MODP_2048 (group 14) public value is p-1 or not below the prime "
                              "(RFC 6989 §2.1)");
        detail::SecretBnPtr z(BN_secure_new());
        if (!z ||
            !BN_mod_exp_mont_consttime(z.get(), y.get(), x_.get(), p_.get(), ctx_.get(), nullptr))
            fatal("MODP-2048 y^x mod p");
        Bytes out(kModpSize);
        if (BN_bn2binpad(z.get(), out.data(), kModpSize) != kModpSize) fatal("BN_bn2binpad");
        return out;
    }

  private:
    ModpExchange() = default;
    detail::BnPtr p_, p_minus_1_, g_;
    detail::SecretBnPtr x_;
    detail::BnCtxPtr ctx_;
    Bytes public_;
};

// ---------------------------------------------------------------------------
// ECP-256 / ECP-384, RFC 5903. The public point d*G is computed with
// EC_POINT_mul (OpenSSL 3.0 does not derive it on EVP_PKEY_fromdata); the
// shared secret comes from EVP_PKEY_derive, which returns the x coordinate
// padded to the field size, exactly RFC 5903 §7's format.

struct EcpParams {
    DhId id;
    int nid;
    const char* group_name;  // OSSL_PKEY_PARAM_GROUP_NAME
    const char* label;       // for error messages
    std::size_t coord;       // octets per coordinate
};

constexpr EcpParams kEcp256{DhId::ECP_256, NID_X9_62_prime256v1, "P-256", "ECP_256 (group 19)", 32};
constexpr EcpParams kEcp384{DhId::ECP_384, NID_secp384r1, "P-384", "ECP_384 (group 20)", 48};

class EcpExchange final : public KeyExchange {
  public:
    static Result<std::unique_ptr<KeyExchange>> create(const EcpParams& params, Random& rng) {
        auto self = std::unique_ptr<EcpExchange>(new EcpExchange(params));
        self->group_.reset(EC_GROUP_new_by_curve_name(params.nid));
        self->field_p_.reset(BN_new());
        self->bn_ctx_.reset(BN_CTX_new());
        if (!self->group_ || !self->field_p_ || !self->bn_ctx_ ||
            EC_GROUP_get_curve(self->group_.get(), self->field_p_.get(), nullptr, nullptr,
                               self->bn_ctx_.get()) != 1)
            fatal("EC group setup");
        const BIGNUM* order = EC_GROUP_get0_order(self->group_.get());

        detail::SecretBnPtr d(BN_secure_new());
        if (!d) fatal("BN_secure_new");
        Bytes buf(params.coord);
        bool found = false;
        for (int attempt = 0; attempt < 64 && !found; ++attempt) {
            rng.fill(buf);
            if (!BN_bin2bn(buf.data(), static_cast<int>(buf.size()), d.get())) fatal("BN_bin2bn");
            found = !BN_is_zero(d.get()) && BN_cmp(d.get(), order) < 0;
        }
        OPENSSL_cleanse(buf.data(), buf.size());
        if (!found)
            return make_error(0, std::string(params.label) +
                                     ": no usable private scalar in 64 draws (broken Random?)");

        detail::EcPointPtr pub(EC_POINT_new(self->group_.get()));
        Bytes pub_oct(1 + 2 * params.coord);
        if (!pub ||
            EC_POINT_mul(self->group_.get(), pub.get(), d.get(), nullptr, nullptr,
                         self->bn_ctx_.get()) != 1 ||
            EC_POINT_point2oct(self->group_.get(), pub.get(), POINT_CONVERSION_UNCOMPRESSED,
                               pub_oct.data(), pub_oct.size(),
                               self->bn_ctx_.get()) != pub_oct.size())
            fatal("EC public point");

        detail::PkeyPtr key = self->from_params(d.get(), pub_oct);
        if (!key) fatal("EVP_PKEY_fromdata (EC key pair)");
        self->key_ = std::move(key);
        self->public_.assign(pub_oct.begin() + 1, pub_oct.end());  // drop 0x04
        return std::unique_ptr<KeyExchange>(std::move(self));
    }

    DhId group() const override { return params_.id; }
    const Bytes& public_value() const override { return public_; }

    Result<Bytes> shared_secret(BytesView peer) override {
        const std::size_t c = params_.coord;
        if (peer.size() != 2 * c)
            return make_error(0, length_error(params_.label, 2 * c, peer.size()));
        // Coordinates must be field elements; a value >= p is rejected rather
        // than silently reduced.
        detail::BnPtr x(BN_bin2bn(peer.data(), static_cast<int>(c), nullptr));
        detail::BnPtr y(BN_bin2bn(peer.data() + c, static_cast<int>(c), nullptr));
        if (!x || !y) fatal("BN_bin2bn");
        if (BN_cmp(x.get(), field_p_.get()) >= 0 || BN_cmp(y.get(), field_p_.get()) >= 0)
            return make_error(0, std::string(params_.label) +
                                     " public value has a coordinate not below the field prime "
                                     "(RFC 6989 §2.3)");
        Bytes oct(1 + 2 * c);
        oct[0] = POINT_CONVERSION_UNCOMPRESSED;
        std::copy(peer.begin(), peer.end(), oct.begin() + 1);
        // RFC 6989 §2.3: the point must be on the curve and not infinity. The
        // x|y encoding cannot express infinity, but check anyway.
        detail::EcPointPtr point(EC_POINT_new(group_.get()));
        if (!point) fatal("EC_POINT_new");
        if (EC_POINT_oct2point(group_.get(), point.get(), oct.data(), oct.size(), bn_ctx_.get()) !=
                1 ||
            EC_POINT_is_on_curve(group_.get(), point.get(), bn_ctx_.get()) != 1) {
            detail::drain_errors();
            return make_error(0, std::string(params_.label) +
                                     " public value is not a point on the curve (RFC 6989 §2.3)");
        }
        if (EC_POINT_is_at_infinity(group_.get(), point.get()) == 1)
            return make_error(0, std::string(params_.label) +
                                     " public value is the point at infinity (RFC 6989 §2.3)");
        detail::PkeyPtr peer_key = from_params(nullptr, oct);
        if (!peer_key) {
            std::string errs = detail::drain_errors();
            return make_error(0,
                              std::string(params_.label) + " public value rejected (" + errs + ")");
        }
        return evp_derive(key_.get(), peer_key.get(), c, params_.label);
    }

  private:
    explicit EcpExchange(const EcpParams& params) : params_(params) {}

    // An EVP_PKEY for this group from a private scalar (may be null) and an
    // uncompressed public point.
    detail::PkeyPtr from_params(const BIGNUM* priv, const Bytes& pub_oct) const {
        std::unique_ptr<OSSL_PARAM_BLD, detail::Deleter<OSSL_PARAM_BLD_free>> bld(
            OSSL_PARAM_BLD_new());
        if (!bld ||
            OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                            params_.group_name, 0) != 1 ||
            OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub_oct.data(),
                                             pub_oct.size()) != 1 ||
            (priv != nullptr &&
             OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1))
            fatal("OSSL_PARAM_BLD");
        std::unique_ptr<OSSL_PARAM, detail::Deleter<OSSL_PARAM_free>> params(
            OSSL_PARAM_BLD_to_param(bld.get()));
        if (!params) fatal("OSSL_PARAM_BLD_to_param");
        detail::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
        if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) fatal("EVP_PKEY_fromdata_init(EC)");
        EVP_PKEY* raw = nullptr;
        if (EVP_PKEY_fromdata(ctx.get(), &raw,
                              priv != nullptr ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                              params.get()) != 1)
            return nullptr;
        return detail::PkeyPtr(raw);
    }

    EcpParams params_;
    detail::EcGroupPtr group_;
    detail::BnPtr field_p_;
    detail::BnCtxPtr bn_ctx_;
    detail::PkeyPtr key_;
    Bytes public_;
};

// ---------------------------------------------------------------------------
// Curve25519, RFC 8031 / RFC 7748.

constexpr std::size_t kX25519Size = 32;

class X25519Exchange final : public KeyExchange {
  public:
    static Result<std::unique_ptr<KeyExchange>> create(Random& rng) {
        auto self = std::unique_ptr<X25519Exchange>(new X25519Exchange());
        std::uint8_t priv[kX25519Size];
        rng.fill(priv);
        self->key_.reset(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv, sizeof priv));
        OPENSSL_cleanse(priv, sizeof priv);
        if (!self->key_) fatal("EVP_PKEY_new_raw_private_key(X25519)");
        self->public_.resize(kX25519Size);
        std::size_t len = kX25519Size;
        if (EVP_PKEY_get_raw_public_key(self->key_.get(), self->public_.data(), &len) != 1 ||
            len != kX25519Size)
            fatal("EVP_PKEY_get_raw_public_key(X25519)");
        return std::unique_ptr<KeyExchange>(std::move(self));
    }

    DhId group() const override { return DhId::CURVE25519; }
    const Bytes& public_value() const override { return public_; }

    Result<Bytes> shared_secret(BytesView peer) override {
        static constexpr const char* kLabel = "CURVE25519 (group 31)";
        if (peer.size() != kX25519Size)
            return make_error(0, length_error(kLabel, kX25519Size, peer.size()));
        detail::PkeyPtr peer_key(
            EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size()));
        if (!peer_key) fatal("EVP_PKEY_new_raw_public_key(X25519)");
        auto secret = evp_derive(key_.get(), peer_key.get(), kX25519Size, kLabel);
        // OpenSSL's X25519 derive itself fails when the result is all zero;
        // that is the only way it fails for a 32-octet input. Report it as
        // what it is, and check the output too in case a provider differs.
        static const std::uint8_t kZero[kX25519Size] = {};
        if (!secret.ok() || CRYPTO_memcmp(secret->data(), kZero, kX25519Size) == 0)
            return make_error(0, std::string(kLabel) +
                                     " shared secret is all zero: the peer sent a low-order "
                                     "point (RFC 7748 §6.1, RFC 8031 §2.3)");
        return secret;
    }

  private:
    X25519Exchange() = default;
    detail::PkeyPtr key_;
    Bytes public_;
};

}  // namespace

bool dh_supported(DhId group) {
    return public_value_size(group) != 0;
}

std::size_t public_value_size(DhId group) {
    switch (group) {
        case DhId::MODP_2048:
            return kModpSize;
        case DhId::ECP_256:
            return 2 * kEcp256.coord;
        case DhId::ECP_384:
            return 2 * kEcp384.coord;
        case DhId::CURVE25519:
            return kX25519Size;
        case DhId::NONE:
            return 0;
    }
    return 0;
}

std::size_t shared_secret_size(DhId group) {
    switch (group) {
        case DhId::MODP_2048:
            return kModpSize;
        case DhId::ECP_256:
            return kEcp256.coord;
        case DhId::ECP_384:
            return kEcp384.coord;
        case DhId::CURVE25519:
            return kX25519Size;
        case DhId::NONE:
            return 0;
    }
    return 0;
}

Result<std::unique_ptr<KeyExchange>> make_key_exchange(DhId group, Random& rng) {
    switch (group) {
        case DhId::MODP_2048:
            return ModpExchange::create(rng);
        case DhId::ECP_256:
            return EcpExchange::create(kEcp256, rng);
        case DhId::ECP_384:
            return EcpExchange::create(kEcp384, rng);
        case DhId::CURVE25519:
            return X25519Exchange::create(rng);
        case DhId::NONE:
            break;
    }
    return make_error(
        0, "unsupported key exchange method " + std::to_string(static_cast<unsigned>(group)));
}

}  // namespace ikecluster::crypto
