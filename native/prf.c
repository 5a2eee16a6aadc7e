/*
 * P_SHA256 of the TLS 1.2 PRF (RFC 5246 §5) in one call: HMAC (RFC 2104) over the SHA-256 of the
 * OpenSSL that Node links and exports (SHA-NI where the CPU has it), the key's pads hashed once per
 * call. Our TypeScript HMAC (src/dtls/crypto/sha256.ts)
 * was ~14 % of a PSK handshake's server time (docs/benchmarks.md, round 8).
 *
 * JavaScript side: src/dtls/crypto/native-prf.ts; without this module prf.ts computes it itself.
 */
/* SHA256_* are deprecated in OpenSSL 3 in favour of EVP, whose per-call set-up (~1 µs an HMAC here)
   cost as much as our TypeScript HMAC; the low-level context is a plain struct, copied in a few ns. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include "napi-args.h"
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
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5) {
    napi_throw_type_error(env, NULL, "pSha256: 5 arguments");
    return NULL;
  }
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
  napi_value v;
  napi_get_boolean(env, true, &v);
  return v;
}

static napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor fns[] = {{"pSha256", NULL, js_p_sha256, NULL, NULL, NULL, napi_default, NULL}};
  napi_define_properties(env, exports, 1, fns);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
