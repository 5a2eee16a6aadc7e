/*
 * AES-128-CCM-8 for DTLS records (RFC 6655) in one call into OpenSSL — the OpenSSL that Node
 * itself links and exports, so the same implementation node:crypto uses, without node:crypto's
 * per-record cost: a Cipheriv object, a KeyObject lookup and five JS-to-native calls with a new
 * Buffer each (createCipheriv, setAAD, update, final, getAuthTag: ~25 % of a PSK handshake's CPU
 * in the profile, docs/benchmarks.md round 8). Two cipher contexts per thread are reused.
 *
 * JavaScript side: src/dtls/crypto/native-ccm.ts. Built by scripts/build-native.mjs against the
 * running Node's headers; without it the record layer uses node:crypto as before.
 */
#include <node_api.h>
#include <openssl/evp.h>
#include "napi-args.h"
#include <string.h>

#define KEY 16
#define NONCE 12
#define TAG 8

static _Thread_local EVP_CIPHER_CTX *enc_ctx, *dec_ctx;

/* A context set up once for AES-128-CCM with a 12-byte nonce and an 8-byte tag; each record then
   only keys it (EVP_*Init_ex with the cipher NULL keeps the cipher and those lengths). */
static EVP_CIPHER_CTX *setup(int enc) {
  EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, "AES-128-CCM", NULL);
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int ok = cipher && c && EVP_CipherInit_ex(c, cipher, NULL, NULL, NULL, enc) == 1 &&
           EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, NONCE, NULL) == 1 &&
           (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG, NULL) == 1);
  EVP_CIPHER_free(cipher); /* the context holds its own reference */
  if (!ok) {
    EVP_CIPHER_CTX_free(c);
    return NULL;
  }
  return c;
}

static int ready(void) {
  if (!enc_ctx) enc_ctx = setup(1);
  if (!dec_ctx) dec_ctx = setup(0);
  return enc_ctx && dec_ctx;
}

static int arg_index(napi_env env, napi_value v, size_t *out) {
  int64_t i;
  if (napi_get_value_int64(env, v, &i) != napi_ok || i < 0) {
    napi_throw_range_error(env, NULL, "an offset or length ≥ 0");
    return 0;
  }
  *out = (size_t)i;
  return 1;
}

/*
 * seal(keys, keyAt, nonce, aad, plaintext, out, at) → true
 * Writes ciphertext ‖ tag (plaintext length + 8 bytes) at out[at]; the key is keys[keyAt, keyAt + 16).
 */
static napi_value js_seal(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  if (!get_args(env, info, 7, argv, "seal: 7 arguments")) return NULL;
  bytes keys, nonce, aad, pt, out;
  size_t key_at, at;
  if (!arg_bytes(env, argv[0], &keys) || !arg_index(env, argv[1], &key_at) || !arg_bytes(env, argv[2], &nonce) ||
      !arg_bytes(env, argv[3], &aad) || !arg_bytes(env, argv[4], &pt) || !arg_bytes(env, argv[5], &out) ||
      !arg_index(env, argv[6], &at))
    return NULL;
  if (key_at > keys.n || keys.n - key_at < KEY || nonce.n != NONCE || aad.n > 1024 || pt.n > 1 << 20 ||
      at > out.n || out.n - at < pt.n + TAG) {
    napi_throw_range_error(env, NULL, "seal: key, nonce, additional data or output out of range");
    return NULL;
  }
  if (!ready()) return js_boolean(env, 0);
  EVP_CIPHER_CTX *c = enc_ctx;
  int n = 0, ok = EVP_EncryptInit_ex(c, NULL, NULL, keys.p + key_at, nonce.p) == 1 &&
                  EVP_EncryptUpdate(c, NULL, &n, NULL, (int)pt.n) == 1 &&
                  (aad.n == 0 || EVP_EncryptUpdate(c, NULL, &n, aad.p, (int)aad.n) == 1);
  /* A record may be empty; OpenSSL's CCM wants the (empty) payload passed with a pointer all the same. */
  unsigned char none[1];
  ok = ok && EVP_EncryptUpdate(c, out.p + at, &n, pt.n ? pt.p : none, (int)pt.n) == 1 &&
       EVP_EncryptFinal_ex(c, out.p + at + pt.n, &n) == 1 &&
       EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG, out.p + at + pt.n) == 1;
  return js_boolean(env, ok);
}

/*
 * open(keys, keyAt, nonce, aad, fragment, from, length, out) → whether the tag verified
 * Opens fragment[from, from + length + 8) (ciphertext ‖ tag) into out[0, length).
 */
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  if (!get_args(env, info, 8, argv, "open: 8 arguments")) return NULL;
  bytes keys, nonce, aad, frag, out;
  size_t key_at, from, len;
  if (!arg_bytes(env, argv[0], &keys) || !arg_index(env, argv[1], &key_at) || !arg_bytes(env, argv[2], &nonce) ||
      !arg_bytes(env, argv[3], &aad) || !arg_bytes(env, argv[4], &frag) || !arg_index(env, argv[5], &from) ||
      !arg_index(env, argv[6], &len) || !arg_bytes(env, argv[7], &out))
    return NULL;
  if (key_at > keys.n || keys.n - key_at < KEY || nonce.n != NONCE || aad.n > 1024 || len > 1 << 20 ||
      from > frag.n || frag.n - from < len + TAG || out.n < len) {
    napi_throw_range_error(env, NULL, "open: key, nonce, additional data, fragment or output out of range");
    return NULL;
  }
  if (!ready()) return js_boolean(env, 0);
  EVP_CIPHER_CTX *c = dec_ctx;
  unsigned char none[1];
  int n = 0;
  /* The tag is checked by OpenSSL (in constant time) in the last update: 1 when it verifies. */
  int ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG, frag.p + from + len) == 1 &&
           EVP_DecryptInit_ex(c, NULL, NULL, keys.p + key_at, nonce.p) == 1 &&
           EVP_DecryptUpdate(c, NULL, &n, NULL, (int)len) == 1 &&
           (aad.n == 0 || EVP_DecryptUpdate(c, NULL, &n, aad.p, (int)aad.n) == 1) &&
           EVP_DecryptUpdate(c, len ? out.p : none, &n, len ? frag.p + from : none, (int)len) == 1;
  if (!ok && len) memset(out.p, 0, len); /* nothing of a forged record's plaintext is left */
  return js_boolean(env, ok);
}

static napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor fns[] = {
      {"seal", NULL, js_seal, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
