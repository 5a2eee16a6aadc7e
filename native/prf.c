/*
 * P_SHA256 of the TLS 1.2 PRF (RFC 5246 §5) in one call: HMAC (RFC 2104) over the SHA-256 of the
 * OpenSSL that Node links and exports (SHA-NI where the CPU has it), the key's pads hashed once per
 * call. Our TypeScript HMAC (src/dtls/crypto/sha256.ts)
 * was ~14 % of a PSK handshake's server time (docs/benchmarks.md, round 8).
 *
 * Also the running SHA-256 of the handshake transcript and the cookie's HMAC (below).
 *
 * JavaScript side: src/dtls/crypto/native-prf.ts; without this module prf.ts, sha256.ts compute it.
 */
/* SHA256_* are deprecated in OpenSSL 3 in favour of EVP, whose per-call set-up (~1 µs an HMAC here)
   cost as much as our TypeScript HMAC; the low-level context is a plain struct, copied in a few ns. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include "napi-args.h"
#include <stdint.h>
#include <string.h>

#define HASH 32
#define BLOCK 64

/* HMAC-SHA256 with the key's pads hashed once (RFC 2104): the inner and outer states. */
typedef struct {
  SHA256_CTX inner, outer;
} hmac_key;

static void hmac_setkey(hmac_key *k, const unsigned char *key, size_t key_len) {
  unsigned char kb[BLOCK], pad[BLOCK];
  memset(kb, 0, sizeof kb);
  if (key_len > BLOCK) {
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, key, key_len);
    SHA256_Final(kb, &c);
    OPENSSL_cleanse(&c, sizeof c);
  } else if (key_len) {
    memcpy(kb, key, key_len);
  }
  for (int i = 0; i < BLOCK; i++) pad[i] = kb[i] ^ 0x36;
  SHA256_Init(&k->inner);
  SHA256_Update(&k->inner, pad, BLOCK);
  for (int i = 0; i < BLOCK; i++) pad[i] = kb[i] ^ 0x5c;
  SHA256_Init(&k->outer);
  SHA256_Update(&k->outer, pad, BLOCK);
  OPENSSL_cleanse(kb, sizeof kb);
  OPENSSL_cleanse(pad, sizeof pad);
}

static void hmac(const hmac_key *k, const bytes *bytess, int count, unsigned char out[HASH]) {
  SHA256_CTX c = k->inner;
  for (int i = 0; i < count; i++)
    if (bytess[i].n) SHA256_Update(&c, bytess[i].p, bytess[i].n);
  SHA256_Final(out, &c);
  c = k->outer;
  SHA256_Update(&c, out, HASH);
  SHA256_Final(out, &c);
  OPENSSL_cleanse(&c, sizeof c);
}

/*
 * pSha256(secret, label, seed, seed2, out) → true (there is nothing left to fail once the arguments are read)
 * Fills out with P_SHA256(secret, label ‖ seed ‖ seed2).
 */
static napi_value js_p_sha256(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv, "pSha256: 5 arguments")) return NULL;
  bytes secret, seed[4], out;
  if (!arg_bytes(env, argv[0], &secret) || !arg_bytes(env, argv[1], &seed[1]) || !arg_bytes(env, argv[2], &seed[2]) ||
      !arg_bytes(env, argv[3], &seed[3]) || !arg_bytes(env, argv[4], &out))
    return NULL;
  if (out.n > 1 << 16) {
    napi_throw_range_error(env, NULL, "pSha256: at most 65536 bytes of output");
    return NULL;
  }
  hmac_key k;
  hmac_setkey(&k, secret.p, secret.n);
  unsigned char a[HASH], block[HASH];
  unsigned char *o = (unsigned char *)out.p;
  /* A(1) = HMAC(secret, label ‖ seed ‖ seed2); then HMAC(secret, A(i) ‖ label ‖ seed ‖ seed2), A(i+1) = HMAC(secret, A(i)) */
  hmac(&k, seed + 1, 3, a);
  for (size_t filled = 0; filled < out.n;) {
    seed[0].p = a;
    seed[0].n = HASH;
    hmac(&k, seed, 4, block);
    size_t take = out.n - filled < HASH ? out.n - filled : HASH;
    memcpy(o + filled, block, take);
    filled += take;
    if (filled < out.n) hmac(&k, seed, 1, a);
  }
  OPENSSL_cleanse(&k, sizeof k);
  OPENSSL_cleanse(a, sizeof a);
  OPENSSL_cleanse(block, sizeof block);
  return js_boolean(env, 1);
}

/*
 * Running SHA-256 and HMAC-SHA256 whose state lives in a JavaScript Uint8Array (the handshake
 * transcript, the cookie key): copied into an aligned local struct and back around each call, so the
 * array needs no alignment and holds nothing but the hash state. The TypeScript SHA-256 of these two
 * was ~4.4 % of a PSK handshake's server time (docs/benchmarks.md, round 8).
 */
static int arg_state(napi_env env, napi_value v, size_t need, bytes *out) {
  if (!arg_bytes(env, v, out)) return 0;
  if (out->n < need) {
    napi_throw_range_error(env, NULL, "hash state: the array is too short");
    return 0;
  }
  return 1;
}

/* An offset: an integer 0..2^32-1 (napi_get_value_uint32 would wrap -1 and truncate 1.5). */
static int arg_u32(napi_env env, napi_value v, uint32_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) {
    napi_throw_type_error(env, NULL, "a non-negative integer");
    return 0;
  }
  *out = (uint32_t)d;
  return 1;
}

/* sha256Init(state): a fresh SHA-256 in state (at least sha256StateLength bytes). */
static napi_value js_sha256_init(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bytes st;
  if (!get_args(env, info, 1, argv, "sha256Init: 1 argument")) return NULL;
  if (!arg_state(env, argv[0], sizeof(SHA256_CTX), &st)) return NULL;
  SHA256_CTX c;
  SHA256_Init(&c);
  memcpy(st.p, &c, sizeof c);
  return js_boolean(env, 1);
}

/* sha256Update(state, a, b): hashes a, then b (a handshake message's header and body in one call). */
static napi_value js_sha256_update(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  bytes st, a, b;
  if (!get_args(env, info, 3, argv, "sha256Update: 3 arguments")) return NULL;
  if (!arg_state(env, argv[0], sizeof(SHA256_CTX), &st) || !arg_bytes(env, argv[1], &a) ||
      !arg_bytes(env, argv[2], &b))
    return NULL;
  SHA256_CTX c;
  memcpy(&c, st.p, sizeof c);
  if (a.n) SHA256_Update(&c, a.p, a.n);
  if (b.n) SHA256_Update(&c, b.p, b.n);
  memcpy(st.p, &c, sizeof c);
  return js_boolean(env, 1);
}

/* The output range out[off, off + 32), checked. */
static int arg_out(napi_env env, napi_value vout, napi_value voff, unsigned char **p) {
  bytes out;
  uint32_t off;
  if (!arg_bytes(env, vout, &out) || !arg_u32(env, voff, &off)) return 0;
  if (off > out.n || out.n - off < HASH) {
    napi_throw_range_error(env, NULL, "hash output: 32 bytes do not fit at that offset");
    return 0;
  }
  *p = out.p + off;
  return 1;
}

/* sha256DigestInto(state, out, off): the digest so far at out[off, off + 32); hashing may go on. */
static napi_value js_sha256_digest(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  bytes st;
  unsigned char *o;
  if (!get_args(env, info, 3, argv, "sha256DigestInto: 3 arguments")) return NULL;
  if (!arg_state(env, argv[0], sizeof(SHA256_CTX), &st) || !arg_out(env, argv[1], argv[2], &o)) return NULL;
  SHA256_CTX c;
  memcpy(&c, st.p, sizeof c);
  SHA256_Final(o, &c);
  OPENSSL_cleanse(&c, sizeof c);
  return js_boolean(env, 1);
}

/* hmacSha256Key(state, key): the key's compressed pads in state (at least hmacStateLength bytes). */
static napi_value js_hmac_key(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bytes st, key;
  if (!get_args(env, info, 2, argv, "hmacSha256Key: 2 arguments")) return NULL;
  if (!arg_state(env, argv[0], sizeof(hmac_key), &st) || !arg_bytes(env, argv[1], &key)) return NULL;
  hmac_key k;
  hmac_setkey(&k, key.p, key.n);
  memcpy(st.p, &k, sizeof k);
  OPENSSL_cleanse(&k, sizeof k);
  return js_boolean(env, 1);
}

/* hmacSha256Into(state, msg, from, to, out, off): HMAC of msg[from, to) at out[off, off + 32). */
static napi_value js_hmac(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  bytes st, msg;
  uint32_t from, to;
  unsigned char *o;
  if (!get_args(env, info, 6, argv, "hmacSha256Into: 6 arguments")) return NULL;
  if (!arg_state(env, argv[0], sizeof(hmac_key), &st) || !arg_bytes(env, argv[1], &msg) ||
      !arg_u32(env, argv[2], &from) || !arg_u32(env, argv[3], &to) || !arg_out(env, argv[4], argv[5], &o))
    return NULL;
  if (from > to || to > msg.n) {
    napi_throw_range_error(env, NULL, "hmacSha256Into: the range is outside the message");
    return NULL;
  }
  hmac_key k;
  memcpy(&k, st.p, sizeof k);
  bytes part = {msg.p + from, to - from};
  hmac(&k, &part, 1, o);
  OPENSSL_cleanse(&k, sizeof k);
  return js_boolean(env, 1);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value sha_len, hmac_len;
  napi_create_uint32(env, sizeof(SHA256_CTX), &sha_len);
  napi_create_uint32(env, sizeof(hmac_key), &hmac_len);
  const napi_property_descriptor fns[] = {
      {"pSha256", NULL, js_p_sha256, NULL, NULL, NULL, napi_default, NULL},
      {"sha256Init", NULL, js_sha256_init, NULL, NULL, NULL, napi_default, NULL},
      {"sha256Update", NULL, js_sha256_update, NULL, NULL, NULL, napi_default, NULL},
      {"sha256DigestInto", NULL, js_sha256_digest, NULL, NULL, NULL, napi_default, NULL},
      {"hmacSha256Key", NULL, js_hmac_key, NULL, NULL, NULL, napi_default, NULL},
      {"hmacSha256Into", NULL, js_hmac, NULL, NULL, NULL, napi_default, NULL},
      {"sha256StateLength", NULL, NULL, NULL, NULL, sha_len, napi_enumerable, NULL},
      {"hmacStateLength", NULL, NULL, NULL, NULL, hmac_len, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
