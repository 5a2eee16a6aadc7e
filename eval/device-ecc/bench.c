/*
 * Runs each P-256 operation of p256.c a few times with different scalars and reports what each
 * cost. On the Cortex-M3 (qemu, -icount) the cost is the SysTick count, which the measuring script
 * turns into instructions with a calibration loop of a known instruction count; on the host (x86,
 * the cross-check build) it prints the keys and signatures so that the script can check them with
 * an independent implementation (node:crypto).
 */
#include "p256.h"

void out(const char *s);
uint32_t ticks(void);  /* an up-counting tick counter */
void done(int code);

#define RUNS 4

static uint32_t rng = 0x2545f491u;
static uint32_t xorshift(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}
/* A scalar below 2^255 (hence below n) and non-zero: toy randomness, enough to vary the bits. */
static void scalar(uint8_t k[32]) {
  for (int i = 0; i < 32; i++) k[i] = (uint8_t)xorshift();
  k[0] &= 0x7f;
  k[31] |= 1;
}

static char line[400];
static int pos;
static void put(const char *s) {
  while (*s && pos < (int)sizeof line - 2) line[pos++] = *s++;
}
static void put_u(uint32_t v) {
  char b[11];
  int i = 10;
  b[i] = 0;
  do {
    b[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put(b + i);
}
static void put_hex(const uint8_t *p, int n) {
  static const char h[] = "0123456789abcdef";
  char b[3] = {0, 0, 0};
  for (int i = 0; i < n; i++) {
    b[0] = h[p[i] >> 4];
    b[1] = h[p[i] & 15];
    put(b);
  }
}
static void flush(void) {
  line[pos++] = '\n';
  line[pos] = 0;
  out(line);
  pos = 0;
}

/* RFC 6979 appendix A.2.5: the P-256 key pair. */
static const uint8_t RFC_D[32] = {0xc9, 0xaf, 0xa9, 0xd8, 0x45, 0xba, 0x75, 0x16, 0x6b, 0x5c, 0x21,
                                  0x57, 0x67, 0xb1, 0xd6, 0x93, 0x4e, 0x50, 0xc3, 0xdb, 0x36, 0xe8,
                                  0x9b, 0x12, 0x7b, 0x8a, 0x62, 0x2b, 0x12, 0x0f, 0x67, 0x21};
static const uint8_t RFC_UX[32] = {0x60, 0xfe, 0xd4, 0xba, 0x25, 0x5a, 0x9d, 0x31, 0xc9, 0x61, 0xeb,
                                   0x74, 0xc6, 0x35, 0x6d, 0x68, 0xc0, 0x49, 0xb8, 0x92, 0x3b, 0x61,
                                   0xfa, 0x6c, 0xe6, 0x69, 0x62, 0x2e, 0x60, 0xf2, 0x9f, 0xb6};

static int same(const uint8_t *a, const uint8_t *b) {
  int d = 0;
  for (int i = 0; i < 32; i++) d |= a[i] ^ b[i];
  return d == 0;
}

static void report(const char *op, int run, uint32_t t) {
  put("op ");
  put(op);
  put(" ");
  put_u((uint32_t)run);
  put(" ");
  put_u(t);
  flush();
}

int bench_main(void) {
  p256_point pub, peer;
  uint8_t d[32], d2[32], k[32], h[32], r[32], s[32], z1[32], z2[32];
  int bad = 0;
  p256_init();

  if (p256_keygen(RFC_D, &pub) || !same(pub.x, RFC_UX)) bad++;
  put("check rfc6979-keygen ");
  put(bad ? "FAIL" : "ok");
  flush();

  for (int run = 0; run < RUNS; run++) {
    scalar(d);
    scalar(d2);
    scalar(k);
    scalar(h);
    h[0] |= 0x80; /* digests use all 256 bits */
    uint32_t t0 = ticks();
    int e1 = p256_keygen(d, &pub);
    uint32_t t1 = ticks();
    report("keygen", run, (t1 - t0) & 0x00FFFFFFu);
    e1 |= p256_keygen(d2, &peer);
    t0 = ticks();
    int e2 = p256_ecdh(d, &peer, z1);
    t1 = ticks();
    report("ecdh", run, (t1 - t0) & 0x00FFFFFFu);
    e2 |= p256_ecdh(d2, &pub, z2);
    if (e1 || e2 || !same(z1, z2)) bad++;
    t0 = ticks();
    int e3 = p256_sign(d, k, h, r, s);
    t1 = ticks();
    report("sign", run, (t1 - t0) & 0x00FFFFFFu);
    t0 = ticks();
    int e4 = p256_verify(&pub, h, r, s);
    t1 = ticks();
    report("verify", run, (t1 - t0) & 0x00FFFFFFu);
    h[5] ^= 1;
    int e5 = p256_verify(&pub, h, r, s);
    h[5] ^= 1;
    if (e3 || e4 || !e5) bad++;
    put("sig ");
    put_hex(pub.x, 32);
    put(" ");
    put_hex(pub.y, 32);
    put(" ");
    put_hex(h, 32);
    put(" ");
    put_hex(r, 32);
    put(" ");
    put_hex(s, 32);
    flush();
  }
  put(bad ? "result FAIL " : "result ok ");
  put_u((uint32_t)bad);
  flush();
  return bad;
}
