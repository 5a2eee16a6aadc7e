/*
 * SecureSense load generator for `securesense bench load` (src/bench/load*.ts builds and drives it).
 *
 * One process, one epoll loop, many nonblocking UDP sockets ("connections"), GnuTLS for DTLS 1.2.
 * Written in C because a JavaScript client spends more CPU per handshake or request than the C
 * servers it is meant to saturate: the figure we want is work per *server* CPU-second, and that needs
 * a client that is not the bottleneck.
 *
 * Two kinds of work:
 *   hs    each connection does a DTLS handshake from a fresh socket, sends close_notify, starts over
 *         (--resume: every handshake offers the session of a first full one, by session ID).
 *   coap  each connection (plain UDP, or a DTLS session made before the load starts) keeps --depth
 *         confirmable GET /PATH requests outstanding; each response sends the next request.
 *         A connection never uses a Message ID twice: a server must treat a second CON with the
 *         same ID from the same endpoint within EXCHANGE_LIFETIME (247 s) as a duplicate (RFC 7252
 *         §4.5), and at these rates one endpoint runs through all 65 536 IDs in about a second. So
 *         once a connection has sent MID_SPACE requests it stops sending, waits for the answers it
 *         is owed, and starts over as a new endpoint: a fresh socket from the next source address
 *         (and, over DTLS, a new session after close_notify, its handshake inside the load). The
 *         result counts these renewals.
 *
 * Protocol with the parent, line by line:
 *   stdout  {"event":"ready"}  once every connection is up (load is already running: the warm-up)
 *   stdin   "START_MS WINDOW_MS"  wall-clock ms (CLOCK_REALTIME) at which the measured window opens
 *   stdout  {"event":"result",...}  when the window has closed; then the process exits.
 * Only operations that complete inside the window count. EOF on stdin ends the process (the parent
 * is gone), and so does --lifetime seconds, whatever happens.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <gnutls/dtls.h>
#include <gnutls/gnutls.h>
#include <math.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 256
#define HIST_BUCKETS 512 /* 16 per power of two: ~4 % steps, up to 2^32 µs */
#define COAP_TIMEOUT_NS 2000000000ull
#define RETRY_PAUSE_NS 100000000ull
#define STDIN_TAG 0xffffffffu
#define MID_SPACE 65536u /* requests one endpoint sends before it is replaced by a new one */

enum kind { HS, COAP };
enum sec { SEC_NONE, SEC_PSK, SEC_RPK, SEC_X509 };
enum state { S_IDLE, S_HANDSHAKE, S_OPEN, S_PAUSE };

struct opts {
  enum kind kind;
  enum sec sec;
  const char *host;
  int port;
  int conns, depth, resume, mutual, lifetime;
  const char *psk_id, *psk_hex, *cert, *key, *rpk_key, *rpk_spki, *path;
};

struct req {
  uint64_t t0;
  uint32_t token;
  int busy;
};

struct conn {
  int fd;
  gnutls_session_t s;
  enum state st;
  uint64_t t0;  /* handshake start */
  uint64_t due; /* next DTLS retransmission check, or end of a pause */
  uint16_t mid;
  uint32_t sent; /* requests (each with a new Message ID) from this endpoint */
  uint32_t seq;
  struct req reqs[MAX_DEPTH];
};

static struct opts o = {.host = "127.0.0.1", .conns = 1, .depth = 1, .lifetime = 120, .path = "time"};
static struct conn *conns;
static int ep;
static struct sockaddr_in server;
static gnutls_psk_client_credentials_t psk_cred;
static gnutls_certificate_credentials_t cert_cred;
static const char *priority;
static gnutls_datum_t resume_data;
static int have_resume_data;

/* the measured window, CLOCK_MONOTONIC ns; 0 = not yet known */
static uint64_t win_start, win_end;
static struct rusage ru_start;
static int have_ru_start;
static uint64_t ok, errors, timeouts, not_resumed, renewals;
static uint64_t hist[HIST_BUCKETS];
static char first_error[160];

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "loadgen: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static int in_window(uint64_t t) { return win_start && t >= win_start && t < win_end; }

static void note_error(const char *what) {
  if (first_error[0]) return;
  snprintf(first_error, sizeof first_error, "%s", what);
  fprintf(stderr, "loadgen: %s\n", what); /* the parent shows it if the load never gets going */
}

static void done_ok(uint64_t t0, uint64_t t1) {
  if (!in_window(t1)) return;
  ok++;
  double us = (double)(t1 - t0) / 1000.0;
  int b = us < 1.0 ? 0 : (int)(16.0 * log2(us));
  if (b >= HIST_BUCKETS) b = HIST_BUCKETS - 1;
  hist[b]++;
}

static void done_error(uint64_t t, const char *what) {
  if (!in_window(t)) return;
  errors++;
  note_error(what);
}

/* --- sockets and DTLS sessions -------------------------------------------------------------------- */

/*
 * Every socket binds to the next source address of 127.1.0.0/16 (all of 127/8 is loopback): at
 * thousands of handshakes a second the kernel would otherwise hand out recently used ports again,
 * and a server still holding the previous association of that address and port would see a
 * ClientHello in the middle of it — an artefact of the generator, not load a fleet would cause.
 */
static uint32_t next_source;

static void open_socket(struct conn *c, uint32_t index) {
  c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) die("socket: %s", strerror(errno));
  struct sockaddr_in src = {.sin_family = AF_INET};
  src.sin_addr.s_addr = htonl(0x7f010000u | (next_source++ & 0xffffu));
  if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind: %s", strerror(errno));
  if (connect(c->fd, (struct sockaddr *)&server, sizeof server) < 0) die("connect: %s", strerror(errno));
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = index};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
}

static void close_conn(struct conn *c) {
  if (c->s) {
    /* close_notify, so that the server frees the association now rather than at its idle timeout */
    if (c->st == S_OPEN) gnutls_bye(c->s, GNUTLS_SHUT_WR);
    gnutls_deinit(c->s);
    c->s = NULL;
  }
  if (c->fd >= 0) close(c->fd); /* also leaves the epoll set */
  c->fd = -1;
  c->st = S_IDLE;
}

static void step_handshake(struct conn *c, uint32_t index);
static void start_requests(struct conn *c);
static void start_conn(struct conn *c, uint32_t index);

static void start_handshake(struct conn *c, uint32_t index) {
  open_socket(c, index);
  unsigned flags = GNUTLS_CLIENT | GNUTLS_DATAGRAM | GNUTLS_NONBLOCK | GNUTLS_NO_TICKETS;
  if (o.sec == SEC_RPK) flags |= GNUTLS_ENABLE_RAWPK;
  int r = gnutls_init(&c->s, flags);
  if (r < 0) die("gnutls_init: %s", gnutls_strerror(r));
  const char *err = NULL;
  if ((r = gnutls_priority_set_direct(c->s, priority, &err)) < 0) die("priority at '%s': %s", err, gnutls_strerror(r));
  if (o.sec == SEC_PSK) gnutls_credentials_set(c->s, GNUTLS_CRD_PSK, psk_cred);
  else gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, cert_cred);
  gnutls_transport_set_int(c->s, c->fd);
  gnutls_dtls_set_mtu(c->s, 1400);
  gnutls_dtls_set_timeouts(c->s, 1000, 3000);
  if (o.resume && have_resume_data) gnutls_session_set_data(c->s, resume_data.data, resume_data.size);
  c->st = S_HANDSHAKE;
  c->t0 = now_ns();
  step_handshake(c, index);
}

static void fail_and_pause(struct conn *c, const char *what) {
  done_error(now_ns(), what);
  close_conn(c);
  /* a refusing server must not turn the loop into a busy spin */
  c->st = S_PAUSE;
  c->due = now_ns() + RETRY_PAUSE_NS;
}

static void step_handshake(struct conn *c, uint32_t index) {
  int r;
  do { /* a warning alert is not the end of a handshake: go on */
    r = gnutls_handshake(c->s);
  } while (r < 0 && r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED && r != GNUTLS_E_TIMEDOUT &&
           !gnutls_error_is_fatal(r));
  if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
    c->due = now_ns() + (uint64_t)gnutls_dtls_get_timeout(c->s) * 1000000ull;
    return;
  }
  if (r < 0) {
    if (r == GNUTLS_E_TIMEDOUT) {
      if (in_window(now_ns())) timeouts++;
      note_error("handshake timed out");
      close_conn(c);
      c->st = S_PAUSE;
      c->due = now_ns();
      return;
    }
    char what[120];
    snprintf(what, sizeof what, "handshake: %s", gnutls_strerror(r));
    if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
      snprintf(what, sizeof what, "handshake: alert %s", gnutls_alert_get_name(gnutls_alert_get(c->s)));
    }
    fail_and_pause(c, what);
    return;
  }
  uint64_t t1 = now_ns();
  c->st = S_OPEN;
  if (o.resume && !have_resume_data) {
    if ((r = gnutls_session_get_data2(c->s, &resume_data)) < 0) die("session data: %s", gnutls_strerror(r));
    have_resume_data = 1;
  } else if (o.kind == HS) {
    if (o.resume && !gnutls_session_is_resumed(c->s)) {
      if (in_window(t1)) not_resumed++;
      note_error("the server did not resume the session");
    } else {
      done_ok(c->t0, t1);
    }
  }
  if (o.kind == HS) {
    close_conn(c);
    start_handshake(c, index);
  } else {
    start_requests(c);
  }
}

/* --- CoAP -------------------------------------------------------------------------------------------- */

/* CON GET /path: 4-byte header, a 4-byte token, one Uri-Path option per '/'-separated segment
 * (RFC 7252 §3, §5.10.1), so that "a/b" asks for /a/b. */
static void send_request(struct conn *c, int i) {
  unsigned char m[4 + 4 + 2 * 64 + 64];
  struct req *q = &c->reqs[i];
  if (c->sent >= MID_SPACE) { /* every Message ID used: this slot waits for the new endpoint */
    q->busy = 0;
    return;
  }
  c->sent++;
  q->token = (c->seq++ << 8) | (uint32_t)i;
  c->mid++;
  m[0] = 0x44; /* version 1, CON, token length 4 */
  m[1] = 0x01; /* GET */
  m[2] = (unsigned char)(c->mid >> 8);
  m[3] = (unsigned char)c->mid;
  memcpy(m + 4, &q->token, 4);
  size_t n = 8;
  unsigned delta = 11; /* Uri-Path; repeated options have delta 0 */
  for (const char *seg = o.path; *seg;) {
    const char *end = strchr(seg, '/');
    size_t plen = end ? (size_t)(end - seg) : strlen(seg);
    if (plen < 13) {
      m[n++] = (unsigned char)((delta << 4) | plen);
    } else {
      m[n++] = (unsigned char)((delta << 4) | 13);
      m[n++] = (unsigned char)(plen - 13);
    }
    memcpy(m + n, seg, plen);
    n += plen;
    delta = 0;
    seg += plen;
    if (*seg == '/') seg++;
  }
  q->busy = 1;
  q->t0 = now_ns();
  ssize_t r = c->s ? gnutls_record_send(c->s, m, n) : send(c->fd, m, n, 0);
  /* a full socket buffer loses the request like the network would: the timeout resends it */
  if (r < 0 && r != GNUTLS_E_AGAIN && errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED) {
    note_error("send failed");
  }
}

static void start_requests(struct conn *c) {
  c->sent = 0;
  for (int i = 0; i < o.depth; i++) send_request(c, i);
}

/* Once every Message ID has been used and answered (or timed out), a new endpoint takes over. */
static void renew_if_spent(struct conn *c, uint32_t index) {
  if (c->sent < MID_SPACE) return;
  for (int i = 0; i < o.depth; i++)
    if (c->reqs[i].busy) return;
  if (in_window(now_ns())) renewals++;
  close_conn(c);
  start_conn(c, index);
}

static void on_response(struct conn *c, uint32_t index, const unsigned char *m, size_t n) {
  if (n < 4 || (m[0] >> 6) != 1) return;
  unsigned type = (m[0] >> 4) & 3, tkl = m[0] & 15;
  if (m[1] == 0) return; /* an empty ACK: a separate response follows */
  if (type == 0) {       /* a separate response as CON: acknowledge it */
    unsigned char ack[4] = {0x60, 0, m[2], m[3]};
    if (c->s) gnutls_record_send(c->s, ack, 4);
    else send(c->fd, ack, 4, 0);
  }
  if (tkl != 4 || n < 8) return;
  uint32_t token;
  memcpy(&token, m + 4, 4);
  int i = (int)(token & 0xff);
  if (i >= o.depth || !c->reqs[i].busy || c->reqs[i].token != token) return; /* late or duplicate */
  uint64_t t1 = now_ns();
  c->reqs[i].busy = 0;
  if (m[1] == 0x45) done_ok(c->reqs[i].t0, t1);
  else {
    char what[40];
    snprintf(what, sizeof what, "response %u.%02u", m[1] >> 5, m[1] & 31);
    done_error(t1, what);
  }
  send_request(c, i);
  renew_if_spent(c, index);
}

static void on_readable(struct conn *c, uint32_t index) {
  unsigned char buf[2048];
  if (c->st == S_HANDSHAKE) {
    step_handshake(c, index);
    return;
  }
  if (c->st != S_OPEN) return;
  for (;;) {
    ssize_t n;
    if (c->s) {
      n = gnutls_record_recv(c->s, buf, sizeof buf);
      if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) return;
      if (n < 0 && !gnutls_error_is_fatal((int)n)) continue;
      if (n <= 0) {
        char what[120];
        snprintf(what, sizeof what, "session ended: %s", n == 0 ? "close_notify" : gnutls_strerror((int)n));
        fail_and_pause(c, what);
        return;
      }
    } else {
      n = recv(c->fd, buf, sizeof buf, 0);
      if (n < 0) return; /* EAGAIN, or ICMP port unreachable: the timeout deals with it */
    }
    on_response(c, index, buf, (size_t)n);
    if (c->st != S_OPEN) return; /* renewed: the old socket is closed */
  }
}

/* Retransmission timers of handshakes, request timeouts, the end of pauses. */
static void check_timers(uint64_t t) {
  for (int k = 0; k < o.conns; k++) {
    struct conn *c = &conns[k];
    if (c->st == S_HANDSHAKE && t >= c->due) step_handshake(c, (uint32_t)k);
    else if (c->st == S_PAUSE && t >= c->due) start_conn(c, (uint32_t)k);
    else if (c->st == S_OPEN && o.kind == COAP) {
      for (int i = 0; i < o.depth; i++) {
        if (c->reqs[i].busy && t - c->reqs[i].t0 > COAP_TIMEOUT_NS) {
          if (in_window(t)) timeouts++;
          note_error("request timed out");
          send_request(c, i);
        }
      }
      renew_if_spent(c, (uint32_t)k);
    }
  }
}

static void start_conn(struct conn *c, uint32_t index) {
  if (o.sec != SEC_NONE) {
    start_handshake(c, index);
    return;
  }
  open_socket(c, index);
  c->st = S_OPEN;
  start_requests(c);
}

/* --- set-up ------------------------------------------------------------------------------------------ */

static const char *PRIO_PSK = "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+PSK:-CIPHER-ALL:+AES-128-CCM-8";
static const char *PRIO_X509 =
    "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+AES-128-CCM-8:-KX-ALL:+ECDHE-ECDSA:-GROUP-ALL:+GROUP-SECP256R1";
static const char *PRIO_RPK =
    "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+AES-128-CCM-8:-KX-ALL:+ECDHE-ECDSA:-GROUP-ALL:+GROUP-SECP256R1:"
    "-CTYPE-ALL:+CTYPE-SRV-RAWPK:+CTYPE-CLI-RAWPK";

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* The server is not authenticated: the generator measures the server, and verifying costs only us. */
static void setup_credentials(void) {
  int r;
  if (o.sec == SEC_PSK) {
    if (!o.psk_id || !o.psk_hex) die("--psk-id and --psk-hex are needed");
    size_t len = strlen(o.psk_hex) / 2;
    unsigned char *k = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++) {
      int hi = hexval(o.psk_hex[2 * i]), lo = hexval(o.psk_hex[2 * i + 1]);
      if (hi < 0 || lo < 0) die("--psk-hex: not hexadecimal");
      k[i] = (unsigned char)(hi << 4 | lo);
    }
    gnutls_datum_t key = {k, (unsigned)len};
    if ((r = gnutls_psk_allocate_client_credentials(&psk_cred)) < 0) die("psk: %s", gnutls_strerror(r));
    if ((r = gnutls_psk_set_client_credentials(psk_cred, o.psk_id, &key, GNUTLS_PSK_KEY_RAW)) < 0)
      die("psk: %s", gnutls_strerror(r));
    priority = PRIO_PSK;
  } else if (o.sec == SEC_X509 || o.sec == SEC_RPK) {
    if ((r = gnutls_certificate_allocate_credentials(&cert_cred)) < 0) die("certificate: %s", gnutls_strerror(r));
    if (o.sec == SEC_X509 && o.mutual) {
      if (!o.cert || !o.key) die("--mutual x509 needs --cert and --key");
      if ((r = gnutls_certificate_set_x509_key_file(cert_cred, o.cert, o.key, GNUTLS_X509_FMT_PEM)) < 0)
        die("%s: %s", o.cert, gnutls_strerror(r));
    }
    if (o.sec == SEC_RPK) {
      if (!o.rpk_key || !o.rpk_spki) die("rpk needs --rpk-key and --rpk-spki");
      r = gnutls_certificate_set_rawpk_key_file(cert_cred, o.rpk_spki, o.rpk_key, GNUTLS_X509_FMT_PEM, NULL, 0, NULL,
                                                0, 0, 0);
      if (r < 0) die("%s: %s", o.rpk_key, gnutls_strerror(r));
    }
    priority = o.sec == SEC_RPK ? PRIO_RPK : PRIO_X509;
  }
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
    if (OPT("--kind")) {
      if (strcmp(v, "hs") == 0) o.kind = HS;
      else if (strcmp(v, "coap") == 0) o.kind = COAP;
      else die("--kind: hs or coap");
    } else if (OPT("--sec")) {
      if (strcmp(v, "none") == 0) o.sec = SEC_NONE;
      else if (strcmp(v, "psk") == 0) o.sec = SEC_PSK;
      else if (strcmp(v, "rpk") == 0) o.sec = SEC_RPK;
      else if (strcmp(v, "x509") == 0) o.sec = SEC_X509;
      else die("--sec: none, psk, rpk or x509");
    } else if (OPT("--host")) o.host = v;
    else if (OPT("--port")) o.port = atoi(v);
    else if (OPT("--conns")) o.conns = atoi(v);
    else if (OPT("--depth")) o.depth = atoi(v);
    else if (OPT("--lifetime")) o.lifetime = atoi(v);
    else if (OPT("--psk-id")) o.psk_id = v;
    else if (OPT("--psk-hex")) o.psk_hex = v;
    else if (OPT("--cert")) o.cert = v;
    else if (OPT("--key")) o.key = v;
    else if (OPT("--rpk-key")) o.rpk_key = v;
    else if (OPT("--rpk-spki")) o.rpk_spki = v;
    else if (OPT("--path")) o.path = v;
    else if (strcmp(a, "--resume") == 0) o.resume = 1;
    else if (strcmp(a, "--mutual") == 0) o.mutual = 1;
    else die("unknown or incomplete option %s", a);
#undef OPT
  }
  if (o.port <= 0 || o.port > 65535) die("--port is needed");
  if (o.conns < 1 || o.conns > 10000) die("--conns: 1..10000");
  if (o.depth < 1 || o.depth > MAX_DEPTH) die("--depth: 1..%d", MAX_DEPTH);
  if (strlen(o.path) > 60) die("--path: at most 60 bytes");
  if (o.kind == HS && o.sec == SEC_NONE) die("--kind hs needs --sec psk|rpk|x509");
  if (o.kind == HS && o.depth != 1) die("--depth is for --kind coap");
  memset(&server, 0, sizeof server);
  server.sin_family = AF_INET;
  server.sin_port = htons((uint16_t)o.port);
  if (inet_pton(AF_INET, o.host, &server.sin_addr) != 1) die("--host: an IPv4 address");
  /* load goes to loopback only */
  if ((ntohl(server.sin_addr.s_addr) >> 24) != 127) die("--host: a loopback address (127.0.0.0/8)");
}

/* --- the window and the result ---------------------------------------------------------------------- */

static uint64_t realtime_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (uint64_t)t.tv_sec * 1000ull + (uint64_t)t.tv_nsec / 1000000ull;
}

/* "START_MS WINDOW_MS" on stdin: the window in wall-clock ms, turned into monotonic ns. */
static int read_command(void) {
  char line[128];
  ssize_t n = read(0, line, sizeof line - 1);
  if (n <= 0) return -1;
  line[n] = 0;
  unsigned long long start_ms = 0, window_ms = 0;
  if (sscanf(line, "%llu %llu", &start_ms, &window_ms) != 2 || window_ms == 0) die("bad command: %s", line);
  uint64_t wall = realtime_ms(), mono = now_ns();
  int64_t delta_ms = (int64_t)start_ms - (int64_t)wall;
  win_start = (uint64_t)((int64_t)mono + delta_ms * 1000000ll);
  win_end = win_start + window_ms * 1000000ull;
  return 0;
}

static double tv_s(struct timeval t) { return (double)t.tv_sec + (double)t.tv_usec / 1e6; }

static void print_result(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = tv_s(ru.ru_utime) + tv_s(ru.ru_stime) - tv_s(ru_start.ru_utime) - tv_s(ru_start.ru_stime);
  printf("{\"event\":\"result\",\"ok\":%llu,\"errors\":%llu,\"timeouts\":%llu,\"notResumed\":%llu,"
         "\"renewals\":%llu,\"seconds\":%.6f,\"cpuSeconds\":%.6f,\"hist\":[",
         (unsigned long long)ok, (unsigned long long)errors, (unsigned long long)timeouts,
         (unsigned long long)not_resumed, (unsigned long long)renewals, (double)(win_end - win_start) / 1e9, cpu);
  int first = 1;
  for (int b = 0; b < HIST_BUCKETS; b++) {
    if (!hist[b]) continue;
    printf("%s[%d,%llu]", first ? "" : ",", b, (unsigned long long)hist[b]);
    first = 0;
  }
  printf("],\"firstError\":\"");
  for (const char *p = first_error; *p; p++) {
    if (*p == '"' || *p == '\\') putchar('\\');
    putchar(*p >= 32 ? *p : ' ');
  }
  printf("\"}\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  alarm((unsigned)o.lifetime);
  int r = gnutls_global_init();
  if (r < 0) die("gnutls_global_init: %s", gnutls_strerror(r));
  setup_credentials();
  if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) die("epoll: %s", strerror(errno));
  struct epoll_event in = {.events = EPOLLIN, .data.u32 = STDIN_TAG};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in) < 0) die("epoll stdin: %s", strerror(errno));
  conns = calloc((size_t)o.conns, sizeof *conns);
  for (int k = 0; k < o.conns; k++) conns[k].fd = -1;

  /* resumption needs a session first: one connection makes it, then the others start */
  int started = 0;
  if (!(o.resume && o.kind == HS)) {
    for (int k = 0; k < o.conns; k++) start_conn(&conns[k], (uint32_t)k);
    started = 1;
  } else {
    start_conn(&conns[0], 0);
  }
  int ready = 0;
  uint64_t last_timers = 0;
  struct epoll_event evs[256];
  for (;;) {
    uint64_t t = now_ns();
    if (win_end && t >= win_end) break;
    int n = epoll_wait(ep, evs, 256, 5);
    if (n < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
    for (int e = 0; e < n; e++) {
      uint32_t idx = evs[e].data.u32;
      if (idx == STDIN_TAG) {
        if (read_command() < 0) return 0; /* the parent is gone */
        epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
        continue;
      }
      if (conns[idx].fd >= 0) on_readable(&conns[idx], idx);
    }
    t = now_ns();
    if (t - last_timers > 5000000ull) {
      check_timers(t);
      last_timers = t;
    }
    if (!started && have_resume_data) {
      for (int k = 1; k < o.conns; k++) start_conn(&conns[k], (uint32_t)k);
      started = 1;
    }
    if (!ready && started) {
      int up = 1;
      if (o.kind == COAP) {
        for (int k = 0; k < o.conns; k++) up &= conns[k].st == S_OPEN;
      }
      if (up) {
        ready = 1;
        printf("{\"event\":\"ready\"}\n");
        fflush(stdout);
      }
    }
    if (win_start && !have_ru_start && t >= win_start) {
      getrusage(RUSAGE_SELF, &ru_start);
      have_ru_start = 1;
    }
  }
  print_result();
  return 0;
}
