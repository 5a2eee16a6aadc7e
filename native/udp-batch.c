/*
 * Batched UDP for SecureSense's servers (Linux): recvmmsg(2) fills up to `batch` datagrams per
 * system call, and JavaScript hears about a whole batch in one callback instead of one callback,
 * one `rinfo` object and one C++-made Buffer per datagram (node:dgram's cost: most of the user-space
 * time of a CoAP request, see docs/benchmarks.md, round 8). Sends are sendto(2) in the call, with
 * no request object, callback or address lookup.
 *
 * JavaScript side: src/net/batch-udp.ts. Shared memory per socket:
 *   data  ArrayBuffer, batch × slot bytes: datagram i at i × slot (slot = 65536: nothing truncated)
 *   meta  Int32Array, batch × META_INTS: [length, port, kind, flags, ipv4, text length, 0, 0]
 *         kind 4 = IPv4, 5 = IPv4-mapped IPv6, 6 = IPv6; flags bit 0 = truncated (MSG_TRUNC)
 *   text  Uint8Array, batch × TEXT bytes: the sender's address as inet_ntop(3) writes it, with a link-local sender's %zone
 * The buffers are rewritten by the next batch: JavaScript copies what it keeps.
 *
 * Built by scripts/build-native.mjs with the system's C compiler against the running Node's
 * headers (Node-API, and libuv for polling the socket on Node's own event loop).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <net/if.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define META_INTS 8
#define TEXT 64
/* Batches read per readable event before returning to the event loop (timers, other sockets). */
#define ROUNDS 4

typedef struct {
  int fd;
  int v6;
  int closed;
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_ref buffers; /* an array holding data, meta and text: they live as long as the socket */
  unsigned char *data;
  int32_t *meta;
  char *text;
  size_t slot, batch;
  struct mmsghdr *msgs;
  struct iovec *iov;
  struct sockaddr_storage *from;
} udp_socket;

/* Throws an Error with `errno` (negative, as libuv's) and `syscall`; the JS side names it as dgram does. */
static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  napi_value m, e, v;
  napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  napi_create_int32(env, -err, &v);
  napi_set_named_property(env, e, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, e, "syscall", v);
  napi_throw(env, e);
  return NULL;
}

#define CALL(env, call)                                                                            \
  do {                                                                                             \
    if ((call) != napi_ok) {                                                                       \
      const napi_extended_error_info *info_;                                                      \
      napi_get_last_error_info((env), &info_);                                                     \
      napi_throw_error((env), NULL, info_ && info_->error_message ? info_->error_message : #call); \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0)

/* Fills one message's meta and text from its sender's address. */
static void describe(udp_socket *u, size_t i) {
  int32_t *m = u->meta + i * META_INTS;
  char *t = u->text + i * TEXT;
  const struct sockaddr *sa = (const struct sockaddr *)&u->from[i];
  m[0] = (int32_t)u->msgs[i].msg_len;
  m[3] = (u->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? 1 : 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
    m[1] = ntohs(s->sin_port);
    m[2] = 4;
    m[4] = (int32_t)ntohl(s->sin_addr.s_addr);
    m[5] = 0;
  } else {
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
    m[1] = ntohs(s->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
      uint32_t v4;
      memcpy(&v4, &s->sin6_addr.s6_addr[12], 4);
      m[2] = 5;
      m[4] = (int32_t)ntohl(v4);
      m[5] = 0;
    } else {
      m[2] = 6;
      m[4] = 0;
      size_t len = inet_ntop(AF_INET6, &s->sin6_addr, t, TEXT) ? strlen(t) : 0;
      /* A link-local sender's zone, as dgram names it (fe80::1%eth0), so that the answer finds it. */
      if (len > 0 && s->sin6_scope_id != 0 && len + 1 + IF_NAMESIZE < TEXT) {
        char name[IF_NAMESIZE];
        if (if_indextoname(s->sin6_scope_id, name)) len += (size_t)snprintf(t + len, TEXT - len, "%%%s", name);
        else len += (size_t)snprintf(t + len, TEXT - len, "%%%u", s->sin6_scope_id);
      }
      m[5] = (int32_t)len;
    }
  }
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  udp_socket *u = handle->data;
  if (u->closed || status < 0) return;
  napi_env env = u->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  for (int round = 0; round < ROUNDS && !u->closed; round++) {
    for (size_t i = 0; i < u->batch; i++) {
      u->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
      u->msgs[i].msg_hdr.msg_flags = 0;
    }
    int n = recvmmsg(u->fd, u->msgs, (unsigned)u->batch, MSG_DONTWAIT, NULL);
    if (n <= 0) break; /* EAGAIN: drained; an ICMP error on an unconnected socket: nothing to report */
    for (int i = 0; i < n; i++) describe(u, (size_t)i);
    napi_value cb, recv, count, result;
    napi_get_reference_value(env, u->callback, &cb);
    napi_get_global(env, &recv);
    napi_create_int32(env, n, &count);
    /* An exception thrown by the callback reaches process 'uncaughtException', as from a dgram 'message'. */
    napi_make_callback(env, NULL, recv, cb, 1, &count, &result);
    if ((size_t)n < u->batch) break;
  }
  napi_close_handle_scope(env, scope);
}

static udp_socket *unwrap(napi_env env, napi_value v) {
  udp_socket *u = NULL;
  if (napi_get_value_external(env, v, (void **)&u) != napi_ok || u == NULL) {
    napi_throw_type_error(env, NULL, "not a batched UDP socket");
    return NULL;
  }
  return u;
}

/* Parses `host` (an address literal) and `port` into `sa` for socket family v6 or not. */
static int to_sockaddr(int v6, const char *host, int port, struct sockaddr_storage *sa, socklen_t *len) {
  memset(sa, 0, sizeof *sa);
  if (!v6) {
    struct sockaddr_in *s = (struct sockaddr_in *)sa;
    s->sin_family = AF_INET;
    s->sin_port = htons((uint16_t)port);
    *len = sizeof *s;
    return inet_pton(AF_INET, host, &s->sin_addr) == 1 ? 0 : EINVAL;
  }
  struct sockaddr_in6 *s = (struct sockaddr_in6 *)sa;
  s->sin6_family = AF_INET6;
  s->sin6_port = htons((uint16_t)port);
  *len = sizeof *s;
  char plain[INET6_ADDRSTRLEN + 1];
  const char *zone = strchr(host, '%');
  if (zone) {
    /* fe80::1%eth0 (or %2): the zone names the interface of a link-local address. */
    size_t n = (size_t)(zone - host);
    if (n >= sizeof plain) return EINVAL;
    memcpy(plain, host, n);
    plain[n] = 0;
    unsigned index = if_nametoindex(zone + 1);
    if (index == 0) index = (unsigned)strtoul(zone + 1, NULL, 10);
    if (index == 0 || inet_pton(AF_INET6, plain, &s->sin6_addr) != 1) return EINVAL;
    s->sin6_scope_id = index;
    return 0;
  }
  if (inet_pton(AF_INET6, host, &s->sin6_addr) == 1) return 0;
  /* An IPv4 literal on a dual-stack socket: its IPv4-mapped form. */
  struct in_addr v4;
  if (inet_pton(AF_INET, host, &v4) != 1) return EINVAL;
  s->sin6_addr.s6_addr[10] = 0xff;
  s->sin6_addr.s6_addr[11] = 0xff;
  memcpy(&s->sin6_addr.s6_addr[12], &v4, 4);
  return 0;
}

static void free_socket(udp_socket *u) {
  free(u->msgs);
  free(u->iov);
  free(u->from);
  free(u);
}

static void on_closed(uv_handle_t *handle) { free_socket(handle->data); }

/*
 * open(v6, host, port, reusePort, slot, batch, callback)
 *   → { handle, data, meta, text, address, port }
 * Binds a non-blocking UDP socket (an IPv6 one takes IPv4 too) and polls it on Node's loop.
 */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) {
    napi_throw_type_error(env, NULL, "open: 7 arguments");
    return NULL;
  }
  bool v6, reuse;
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t host_len;
  int32_t port, slot, batch;
  CALL(env, napi_get_value_bool(env, argv[0], &v6));
  CALL(env, napi_get_value_string_utf8(env, argv[1], host, sizeof host, &host_len));
  CALL(env, napi_get_value_int32(env, argv[2], &port));
  CALL(env, napi_get_value_bool(env, argv[3], &reuse));
  CALL(env, napi_get_value_int32(env, argv[4], &slot));
  CALL(env, napi_get_value_int32(env, argv[5], &batch));
  if (port < 0 || port > 65535 || slot < 1 || slot > 65536 || batch < 1 || batch > 1024) {
    napi_throw_range_error(env, NULL, "open: port 0..65535, slot 1..65536, batch 1..1024");
    return NULL;
  }
  struct sockaddr_storage sa;
  socklen_t sa_len;
  if (to_sockaddr(v6, host, port, &sa, &sa_len) != 0) return throw_errno(env, EINVAL, "bind");
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  int one = 1, zero = 0;
  if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "setsockopt SO_REUSEPORT");
  }
  if (bind(fd, (struct sockaddr *)&sa, sa_len) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "bind");
  }
  struct sockaddr_storage bound;
  socklen_t bound_len = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &bound_len);
  char bound_text[INET6_ADDRSTRLEN];
  int bound_port;
  if (bound.ss_family == AF_INET6) {
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&bound;
    inet_ntop(AF_INET6, &s->sin6_addr, bound_text, sizeof bound_text);
    bound_port = ntohs(s->sin6_port);
  } else {
    struct sockaddr_in *s = (struct sockaddr_in *)&bound;
    inet_ntop(AF_INET, &s->sin_addr, bound_text, sizeof bound_text);
    bound_port = ntohs(s->sin_port);
  }

  udp_socket *u = calloc(1, sizeof *u);
  if (u) {
    u->msgs = calloc((size_t)batch, sizeof *u->msgs);
    u->iov = calloc((size_t)batch, sizeof *u->iov);
    u->from = calloc((size_t)batch, sizeof *u->from);
  }
  if (!u || !u->msgs || !u->iov || !u->from) {
    if (u) free_socket(u);
    close(fd);
    return throw_errno(env, ENOMEM, "open");
  }
  u->fd = fd;
  u->v6 = v6;
  u->env = env;
  u->slot = (size_t)slot;
  u->batch = (size_t)batch;

  napi_value data_ab, meta_ab, text_ab, meta, text, data, keep, handle, result, v;
  void *p;
  if (napi_create_arraybuffer(env, u->slot * u->batch, &p, &data_ab) != napi_ok) goto fail;
  u->data = p;
  if (napi_create_arraybuffer(env, u->batch * META_INTS * sizeof(int32_t), &p, &meta_ab) != napi_ok) goto fail;
  u->meta = p;
  if (napi_create_arraybuffer(env, u->batch * TEXT, &p, &text_ab) != napi_ok) goto fail;
  u->text = p;
  napi_create_typedarray(env, napi_uint8_array, u->slot * u->batch, data_ab, 0, &data);
  napi_create_typedarray(env, napi_int32_array, u->batch * META_INTS, meta_ab, 0, &meta);
  napi_create_typedarray(env, napi_uint8_array, u->batch * TEXT, text_ab, 0, &text);
  for (size_t i = 0; i < u->batch; i++) {
    u->iov[i].iov_base = u->data + i * u->slot;
    u->iov[i].iov_len = u->slot;
    u->msgs[i].msg_hdr.msg_iov = &u->iov[i];
    u->msgs[i].msg_hdr.msg_iovlen = 1;
    u->msgs[i].msg_hdr.msg_name = &u->from[i];
  }
  napi_create_array_with_length(env, 3, &keep);
  napi_set_element(env, keep, 0, data_ab);
  napi_set_element(env, keep, 1, meta_ab);
  napi_set_element(env, keep, 2, text_ab);
  if (napi_create_reference(env, keep, 1, &u->buffers) != napi_ok) goto fail;
  if (napi_create_reference(env, argv[6], 1, &u->callback) != napi_ok) goto fail;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) goto fail;
  if (uv_poll_init_socket(loop, &u->poll, fd) != 0) goto fail;
  u->poll.data = u;
  uv_poll_start(&u->poll, UV_READABLE, on_readable);
  napi_create_external(env, u, NULL, NULL, &handle);

  napi_create_object(env, &result);
  napi_set_named_property(env, result, "handle", handle);
  napi_set_named_property(env, result, "data", data);
  napi_set_named_property(env, result, "meta", meta);
  napi_set_named_property(env, result, "text", text);
  napi_create_string_utf8(env, bound_text, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, result, "address", v);
  napi_create_int32(env, bound_port, &v);
  napi_set_named_property(env, result, "port", v);
  return result;

fail:
  if (u->buffers) napi_delete_reference(env, u->buffers);
  if (u->callback) napi_delete_reference(env, u->callback);
  close(fd);
  free_socket(u);
  napi_throw_error(env, NULL, "open: out of memory or no event loop");
  return NULL;
}

/* send(handle, bytes: Uint8Array, port, host) → bytes sent, or −errno (EAGAIN, ENOBUFS: a lost datagram). */
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_socket *u = unwrap(env, argv[0]);
  if (!u) return NULL;
  napi_typedarray_type type;
  size_t length;
  void *bytes;
  CALL(env, napi_get_typedarray_info(env, argv[1], &type, &length, &bytes, NULL, NULL));
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "send: a Uint8Array");
    return NULL;
  }
  int32_t port;
  CALL(env, napi_get_value_int32(env, argv[2], &port));
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t host_len;
  CALL(env, napi_get_value_string_utf8(env, argv[3], host, sizeof host, &host_len));
  if (host_len >= sizeof host - 1) host[0] = 0; /* longer than any address: refused below, not truncated */
  int result;
  struct sockaddr_storage to;
  socklen_t to_len;
  if (u->closed) result = -EBADF;
  else if (port < 1 || port > 65535 || to_sockaddr(u->v6, host, port, &to, &to_len) != 0) result = -EINVAL;
  else {
    ssize_t r = sendto(u->fd, bytes, length, 0, (struct sockaddr *)&to, to_len);
    result = r < 0 ? -errno : (int)r;
  }
  napi_value out;
  napi_create_int32(env, result, &out);
  return out;
}

static int sockopt_int(napi_env env, napi_callback_info info, udp_socket **u, int32_t *value) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return -1;
  *u = unwrap(env, argv[0]);
  if (!*u) return -1;
  if (argc > 1 && napi_get_value_int32(env, argv[1], value) != napi_ok) return -1;
  return 0;
}

/* setRecvBufferSize(handle, bytes); getRecvBufferSize(handle) → what the kernel reports. */
static napi_value js_set_rcvbuf(napi_env env, napi_callback_info info) {
  udp_socket *u;
  int32_t size = 0;
  if (sockopt_int(env, info, &u, &size) != 0) return NULL;
  if (setsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) < 0) return throw_errno(env, errno, "setsockopt SO_RCVBUF");
  return NULL;
}

static napi_value js_get_rcvbuf(napi_env env, napi_callback_info info) {
  udp_socket *u;
  int32_t unused = 0;
  if (sockopt_int(env, info, &u, &unused) != 0) return NULL;
  int size = 0;
  socklen_t len = sizeof size;
  if (getsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &size, &len) < 0) return throw_errno(env, errno, "getsockopt SO_RCVBUF");
  napi_value out;
  napi_create_int32(env, size, &out);
  return out;
}

/* ref(handle, bool): whether the socket keeps the process alive (as dgram's ref/unref). */
static napi_value js_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_socket *u = unwrap(env, argv[0]);
  if (!u) return NULL;
  bool on;
  CALL(env, napi_get_value_bool(env, argv[1], &on));
  if (!u->closed) {
    if (on) uv_ref((uv_handle_t *)&u->poll);
    else uv_unref((uv_handle_t *)&u->poll);
  }
  return NULL;
}

/* close(handle): stops polling and closes the descriptor now (the port is free when this returns). */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_socket *u = unwrap(env, argv[0]);
  if (!u || u->closed) return NULL;
  u->closed = 1;
  napi_delete_reference(env, u->callback);
  napi_delete_reference(env, u->buffers);
  /* uv_close takes the descriptor out of the loop's epoll set now; only then may it be closed
     (after it, the number may be reused, and libuv must not touch it again). */
  uv_close((uv_handle_t *)&u->poll, on_closed);
  close(u->fd);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor fns[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"setRecvBufferSize", NULL, js_set_rcvbuf, NULL, NULL, NULL, napi_default, NULL},
      {"getRecvBufferSize", NULL, js_get_rcvbuf, NULL, NULL, NULL, napi_default, NULL},
      {"ref", NULL, js_ref, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
