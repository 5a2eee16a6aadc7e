/*
 * Ephemeral ECDH on P-256 for the ECDHE_ECDSA handshakes (RFC 8422 §5.4, §5.10): a key pair, and
 * the X coordinate of the shared point, over the elliptic-curve code of the OpenSSL that Node links
 * and exports (its constant-time P-256 multiplication where built for x86-64).
 *
 * node:crypto's ECDH costs ~45 µs a key pair (createECDH builds the curve's group each time) and
 * ~90 µs an agreement; a group kept per thread and the point arithmetic called directly do the same
 * in ~13 and ~41 µs (docs/benchmarks.md, round 9). A server does one of each per handshake.
 *
 * The private scalar travels in a 32-byte JS buffer between the two calls (node:crypto keeps it in
 * OpenSSL's memory instead): the process is one trust domain either way.
 *
 * JavaScript side: src/dtls/crypto/native-p256.ts; without this module ecc.ts uses createECDH.
 */
/* The EC_POINT and EC_GROUP calls below are not deprecated in OpenSSL 3; kept in case a header marks them. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <node_api.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include "napi-args.h"

#define SCALAR 32
#define POINT 65 /* 0x04 ‖ X ‖ Y */
#define COMPRESSED 33 /* 0x02 or 0x03 ‖ X */

/* Per thread (a worker thread has its own): made on first use, kept for the thread's life. */
static _Thread_local EC_GROUP *group;
static _Thread_local BN_CTX *bn_ctx;

static int ready(napi_env env) {
  if (group == NULL) group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  if (bn_ctx == NULL) bn_ctx = BN_CTX_new();
  if (group != NULL && bn_ctx != NULL) return 1;
  ERR_clear_error();
  napi_throw_error(env, NULL, "p256: OpenSSL has no P-256 here");
  return 0;
}

static int exact(napi_env env, const bytes *b, size_t n, const char *what) {
  if (b->n == n) return 1;
  napi_throw_range_error(env, NULL, what);
  return 0;
}

/*
 * p256Keygen(priv, pub) → true. A random scalar in [1, n) into priv (32 bytes, big-endian) and its
 * public point, uncompressed, into pub (65 bytes). Throws when OpenSSL cannot (no randomness).
 */
static napi_value js_keygen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bytes priv, pub;
  if (!get_args(env, info, 2, argv, "p256Keygen: 2 arguments")) return NULL;
  if (!arg_bytes(env, argv[0], &priv) || !arg_bytes(env, argv[1], &pub)) return NULL;
  if (!exact(env, &priv, SCALAR, "p256Keygen: a 32-byte scalar") || !exact(env, &pub, POINT, "p256Keygen: a 65-byte point"))
    return NULL;
  if (!ready(env)) return NULL;
  BIGNUM *d = BN_secure_new();
  EC_POINT *q = EC_POINT_new(group);
  int ok = d != NULL && q != NULL;
  if (ok) BN_set_flags(d, BN_FLG_CONSTTIME);
  /* [0, n) from OpenSSL's private DRBG; zero (probability 2^-256) is drawn again. */
  do ok = ok && BN_priv_rand_range(d, EC_GROUP_get0_order(group));
  while (ok && BN_is_zero(d));
  ok = ok && EC_POINT_mul(group, q, d, NULL, NULL, bn_ctx) && BN_bn2binpad(d, priv.p, SCALAR) == SCALAR &&
       EC_POINT_point2oct(group, q, POINT_CONVERSION_UNCOMPRESSED, pub.p, POINT, bn_ctx) == POINT;
  BN_clear_free(d);
  EC_POINT_free(q);
  if (!ok) {
    ERR_clear_error();
    napi_throw_error(env, NULL, "p256Keygen: OpenSSL failed");
    return NULL;
  }
  return js_boolean(env, 1);
}

/*
 * p256Agree(priv, peer, out) → true, with the X coordinate of priv · peer in out (32 bytes); false,
 * out untouched, when peer is not a point of P-256 or the scalar is not in [1, n). peer is 65 bytes
 * (0x04 ‖ X ‖ Y, DTLS) or 33 (0x02 or 0x03 ‖ X: EDHOC sends X alone, RFC 9528 §3.7). OpenSSL checks
 * that the point is on the curve (for X alone, that it has a Y); P-256's cofactor is 1, so every
 * such point is in the group and no small-subgroup check is needed.
 */
static napi_value js_agree(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  bytes priv, peer, out;
  if (!get_args(env, info, 3, argv, "p256Agree: 3 arguments")) return NULL;
  if (!arg_bytes(env, argv[0], &priv) || !arg_bytes(env, argv[1], &peer) || !arg_bytes(env, argv[2], &out)) return NULL;
  if (!exact(env, &priv, SCALAR, "p256Agree: a 32-byte scalar") || !exact(env, &out, SCALAR, "p256Agree: 32 bytes out"))
    return NULL;
  if (peer.n != POINT && peer.n != COMPRESSED) {
    napi_throw_range_error(env, NULL, "p256Agree: a 65-byte or 33-byte point");
    return NULL;
  }
  if (!ready(env)) return NULL;
  BIGNUM *d = BN_secure_new(), *x = BN_new();
  EC_POINT *p = EC_POINT_new(group), *s = EC_POINT_new(group);
  int ok = d != NULL && x != NULL && p != NULL && s != NULL;
  if (ok) BN_set_flags(d, BN_FLG_CONSTTIME);
  int form = peer.n == POINT ? peer.p[0] == 0x04 : peer.p[0] == 0x02 || peer.p[0] == 0x03;
  ok = ok && form && BN_bin2bn(priv.p, SCALAR, d) != NULL && !BN_is_zero(d) &&
       BN_cmp(d, EC_GROUP_get0_order(group)) < 0 && EC_POINT_oct2point(group, p, peer.p, peer.n, bn_ctx) &&
       EC_POINT_mul(group, s, NULL, p, d, bn_ctx) && !EC_POINT_is_at_infinity(group, s) &&
       EC_POINT_get_affine_coordinates(group, s, x, NULL, bn_ctx) && BN_bn2binpad(x, out.p, SCALAR) == SCALAR;
  BN_clear_free(d);
  BN_clear_free(x);
  EC_POINT_free(p);
  EC_POINT_clear_free(s);
  /* A refused point leaves OpenSSL's error queue filled; node:crypto must not find it later. */
  if (!ok) ERR_clear_error();
  return js_boolean(env, ok);
}

static napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor fns[] = {
      {"p256Keygen", NULL, js_keygen, NULL, NULL, NULL, napi_default, NULL},
      {"p256Agree", NULL, js_agree, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
