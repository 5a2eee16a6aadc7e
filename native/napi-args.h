/* Argument helpers shared by the native modules (native/ccm.c, prf.c, p256.c; Node-API). */
#ifndef SECURESENSE_NAPI_ARGS_H
#define SECURESENSE_NAPI_ARGS_H
#include <node_api.h>
#include <stddef.h>

/* A byte range: a Uint8Array's memory, or bytes of our own. */
typedef struct {
  unsigned char *p;
  size_t n;
} bytes;

/* A Uint8Array argument (a Buffer is one); throws a TypeError and returns 0 otherwise. */
static inline int arg_bytes(napi_env env, napi_value v, bytes *out) {
  napi_typedarray_type t;
  void *data;
  if (napi_get_typedarray_info(env, v, &t, &out->n, &data, NULL, NULL) != napi_ok || t != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "a Uint8Array");
    return 0;
  }
  out->p = data;
  return 1;
}

/* The call's first n arguments into argv; throws a TypeError with `message` when fewer were given. */
static inline int get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, const char *message) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= n) return 1;
  napi_throw_type_error(env, NULL, message);
  return 0;
}

/* A JavaScript boolean. */
static inline napi_value js_boolean(napi_env env, int v) {
  napi_value r;
  napi_get_boolean(env, v, &r);
  return r;
}

#endif
