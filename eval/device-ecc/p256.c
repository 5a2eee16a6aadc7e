/* See p256.h: a portable P-256 for counting instructions on a Cortex-M3. */
#include "p256.h"

#define N 8
typedef uint32_t u32;
typedef uint64_t u64;

typedef struct {
  u32 m[N];  /* the modulus */
  u32 r2[N]; /* R² mod m, R = 2^256 */
  u32 one[N]; /* R mod m: 1 in Montgomery form */
  u32 minv;  /* −m⁻¹ mod 2^32 */
} modulus;

static modulus P, Nn;
static u32 B[N];       /* curve b, Montgomery form mod p */
static u32 GX[N], GY[N]; /* base point, Montgomery form mod p */

/* ---- 256-bit integers ---- */

static void from_bytes(u32 a[N], const uint8_t b[32]) {
  for (int i = 0; i < N; i++) {
    const uint8_t *q = b + 28 - 4 * i;
    a[i] = ((u32)q[0] << 24) | ((u32)q[1] << 16) | ((u32)q[2] << 8) | q[3];
  }
}

static void to_bytes(uint8_t b[32], const u32 a[N]) {
  for (int i = 0; i < N; i++) {
    uint8_t *q = b + 28 - 4 * i;
    q[0] = (uint8_t)(a[i] >> 24);
    q[1] = (uint8_t)(a[i] >> 16);
    q[2] = (uint8_t)(a[i] >> 8);
    q[3] = (uint8_t)a[i];
  }
}

static void copy(u32 r[N], const u32 a[N]) {
  for (int i = 0; i < N; i++) r[i] = a[i];
}

static int is_zero(const u32 a[N]) {
  u32 x = 0;
  for (int i = 0; i < N; i++) x |= a[i];
  return x == 0;
}

static int equal(const u32 a[N], const u32 b[N]) {
  u32 x = 0;
  for (int i = 0; i < N; i++) x |= a[i] ^ b[i];
  return x == 0;
}

/* −1, 0, 1 as a <, =, > b. */
static int cmp(const u32 a[N], const u32 b[N]) {
  for (int i = N - 1; i >= 0; i--) {
    if (a[i] != b[i]) return a[i] > b[i] ? 1 : -1;
  }
  return 0;
}

static u32 add(u32 r[N], const u32 a[N], const u32 b[N]) {
  u64 c = 0;
  for (int i = 0; i < N; i++) {
    c += (u64)a[i] + b[i];
    r[i] = (u32)c;
    c >>= 32;
  }
  return (u32)c;
}

static u32 sub(u32 r[N], const u32 a[N], const u32 b[N]) {
  u64 borrow = 0;
  for (int i = 0; i < N; i++) {
    u64 d = (u64)a[i] - b[i] - borrow;
    r[i] = (u32)d;
    borrow = (d >> 32) & 1;
  }
  return (u32)borrow;
}

static int bit(const u32 a[N], int i) { return (a[i >> 5] >> (i & 31)) & 1; }

/* ---- arithmetic modulo m (operands < m) ---- */

static void mod_add(u32 r[N], const u32 a[N], const u32 b[N], const modulus *m) {
  u32 carry = add(r, a, b);
  if (carry || cmp(r, m->m) >= 0) sub(r, r, m->m);
}

static void mod_sub(u32 r[N], const u32 a[N], const u32 b[N], const modulus *m) {
  if (sub(r, a, b)) add(r, r, m->m);
}

/* r = a·b·R⁻¹ mod m (CIOS Montgomery multiplication). r may alias a or b. */
static void mont_mul(u32 r[N], const u32 a[N], const u32 b[N], const modulus *m) {
  u32 t[N + 2] = {0};
  for (int i = 0; i < N; i++) {
    u64 c = 0;
    for (int j = 0; j < N; j++) {
      c = (u64)t[j] + (u64)a[j] * b[i] + (c >> 32);
      t[j] = (u32)c;
    }
    c = (u64)t[N] + (c >> 32);
    t[N] = (u32)c;
    t[N + 1] = (u32)(c >> 32);
    u32 q = t[0] * m->minv;
    c = (u64)t[0] + (u64)q * m->m[0];
    for (int j = 1; j < N; j++) {
      c = (u64)t[j] + (u64)q * m->m[j] + (c >> 32);
      t[j - 1] = (u32)c;
    }
    c = (u64)t[N] + (c >> 32);
    t[N - 1] = (u32)c;
    t[N] = t[N + 1] + (u32)(c >> 32);
  }
  if (t[N] || cmp(t, m->m) >= 0) sub(t, t, m->m);
  copy(r, t);
}

static void to_mont(u32 r[N], const u32 a[N], const modulus *m) { mont_mul(r, a, m->r2, m); }

static void from_mont(u32 r[N], const u32 a[N], const modulus *m) {
  static const u32 one[N] = {1};
  mont_mul(r, a, one, m);
}

/* r = a^(m−2) = a⁻¹ (Montgomery form in and out; m prime). */
static void mod_inv(u32 r[N], const u32 a[N], const modulus *m) {
  u32 e[N], acc[N];
  static const u32 two[N] = {2};
  sub(e, m->m, two);
  copy(acc, m->one);
  for (int i = 255; i >= 0; i--) {
    mont_mul(acc, acc, acc, m);
    if (bit(e, i)) mont_mul(acc, acc, a, m);
  }
  copy(r, acc);
}

static void modulus_init(modulus *m, const uint8_t be[32]) {
  from_bytes(m->m, be);
  /* −m⁻¹ mod 2^32 by Newton's iteration (5 steps double the correct bits 1 → 32). */
  u32 x = 1;
  for (int i = 0; i < 5; i++) x *= 2 - m->m[0] * x;
  m->minv = (u32)0 - x;
  /* R mod m = 2^256 − m (m > 2^255); then R² mod m by 256 doublings. */
  u32 zero[N] = {0};
  sub(m->one, zero, m->m);
  copy(m->r2, m->one);
  for (int i = 0; i < 256; i++) mod_add(m->r2, m->r2, m->r2, m);
}

/* ---- the curve y² = x³ − 3x + b over GF(p), Jacobian coordinates in Montgomery form ---- */

typedef struct {
  u32 x[N], y[N], z[N];
} jpoint; /* z = 0: the point at infinity */

static void fmul(u32 r[N], const u32 a[N], const u32 b[N]) { mont_mul(r, a, b, &P); }
static void fsqr(u32 r[N], const u32 a[N]) { mont_mul(r, a, a, &P); }
static void fadd(u32 r[N], const u32 a[N], const u32 b[N]) { mod_add(r, a, b, &P); }
static void fsub(u32 r[N], const u32 a[N], const u32 b[N]) { mod_sub(r, a, b, &P); }

/* Doubling with a = −3 (dbl-2001-b): 3M + 5S. Infinity stays infinity (z stays 0). */
static void jdouble(jpoint *r, const jpoint *p) {
  u32 delta[N], gamma[N], beta[N], alpha[N], t[N], u[N];
  fsqr(delta, p->z);
  fsqr(gamma, p->y);
  fmul(beta, p->x, gamma);
  fsub(t, p->x, delta);
  fadd(u, p->x, delta);
  fmul(alpha, t, u);
  fadd(t, alpha, alpha);
  fadd(alpha, t, alpha); /* alpha = 3(x − δ)(x + δ) */
  fadd(t, p->y, p->z);
  fsqr(t, t);
  fsub(t, t, gamma);
  fsub(r->z, t, delta); /* z3 = (y + z)² − γ − δ */
  fadd(beta, beta, beta);
  fadd(beta, beta, beta); /* 4β */
  fsqr(t, alpha);
  fadd(u, beta, beta);
  fsub(r->x, t, u); /* x3 = α² − 8β */
  fsub(t, beta, r->x);
  fmul(t, alpha, t);
  fsqr(gamma, gamma);
  fadd(gamma, gamma, gamma);
  fadd(gamma, gamma, gamma);
  fadd(gamma, gamma, gamma); /* 8γ² */
  fsub(r->y, t, gamma);
}

/* r = p + (qx, qy) with q affine (madd-2007-bl): 7M + 4S; handles infinity and p = ±q. */
static void jadd_affine(jpoint *r, const jpoint *p, const u32 qx[N], const u32 qy[N]) {
  if (is_zero(p->z)) {
    copy(r->x, qx);
    copy(r->y, qy);
    copy(r->z, P.one);
    return;
  }
  u32 z1z1[N], u2[N], s2[N], h[N], hh[N], i4[N], j[N], rr[N], v[N], t[N];
  fsqr(z1z1, p->z);
  fmul(u2, qx, z1z1);
  fmul(s2, qy, p->z);
  fmul(s2, s2, z1z1);
  fsub(h, u2, p->x);
  fsub(rr, s2, p->y);
  if (is_zero(h)) {
    if (is_zero(rr)) {
      jdouble(r, p);
    } else {
      for (int k = 0; k < N; k++) r->x[k] = r->y[k] = r->z[k] = 0;
    }
    return;
  }
  fadd(rr, rr, rr);
  fsqr(hh, h);
  fadd(i4, hh, hh);
  fadd(i4, i4, i4);
  fmul(j, h, i4);
  fmul(v, p->x, i4);
  u32 y1[N];
  copy(y1, p->y);
  fadd(t, p->z, h);
  fsqr(t, t);
  fsub(t, t, z1z1);
  fsub(r->z, t, hh);
  fsqr(t, rr);
  fsub(t, t, j);
  fsub(t, t, v);
  fsub(r->x, t, v);
  fsub(t, v, r->x);
  fmul(t, rr, t);
  fmul(y1, y1, j);
  fadd(y1, y1, y1);
  fsub(r->y, t, y1);
}

/* Affine coordinates (Montgomery form) of a Jacobian point; −1 for infinity. */
static int to_affine(u32 x[N], u32 y[N], const jpoint *p) {
  if (is_zero(p->z)) return -1;
  u32 zi[N], zi2[N];
  mod_inv(zi, p->z, &P);
  fsqr(zi2, zi);
  fmul(x, p->x, zi2);
  fmul(zi2, zi2, zi);
  fmul(y, p->y, zi2);
  return 0;
}

/* k·(qx, qy), left-to-right double-and-add. */
static void scalar_mul(jpoint *r, const u32 k[N], const u32 qx[N], const u32 qy[N]) {
  jpoint acc = {{0}, {0}, {0}};
  int i = 255;
  while (i >= 0 && !bit(k, i)) i--;
  for (; i >= 0; i--) {
    jdouble(&acc, &acc);
    if (bit(k, i)) jadd_affine(&acc, &acc, qx, qy);
  }
  *r = acc;
}

static int on_curve(const u32 x[N], const u32 y[N]) {
  u32 l[N], r[N], t[N];
  fsqr(l, y);
  fsqr(r, x);
  fmul(r, r, x);
  fadd(t, x, x);
  fadd(t, t, x);
  fsub(r, r, t);
  fadd(r, r, B);
  return equal(l, r);
}

/* Scalar in [1, n−1]? */
static int scalar_ok(const u32 k[N]) { return !is_zero(k) && cmp(k, Nn.m) < 0; }

static int point_in(u32 x[N], u32 y[N], const p256_point *p) {
  u32 a[N], b[N];
  from_bytes(a, p->x);
  from_bytes(b, p->y);
  if (cmp(a, P.m) >= 0 || cmp(b, P.m) >= 0) return -1;
  to_mont(x, a, &P);
  to_mont(y, b, &P);
  return on_curve(x, y) ? 0 : -1;
}

static void point_out(p256_point *p, const u32 x[N], const u32 y[N]) {
  u32 a[N];
  from_mont(a, x, &P);
  to_bytes(p->x, a);
  from_mont(a, y, &P);
  to_bytes(p->y, a);
}

static const uint8_t P_BE[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t N_BE[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
                                 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
static const uint8_t B_BE[32] = {0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd,
                                 0x55, 0x76, 0x98, 0x86, 0xbc, 0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53,
                                 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2, 0x60, 0x4b};
static const uint8_t GX_BE[32] = {0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6,
                                  0xe5, 0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb,
                                  0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96};
static const uint8_t GY_BE[32] = {0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb,
                                  0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31,
                                  0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5};

void p256_init(void) {
  u32 t[N];
  modulus_init(&P, P_BE);
  modulus_init(&Nn, N_BE);
  from_bytes(t, B_BE);
  to_mont(B, t, &P);
  from_bytes(t, GX_BE);
  to_mont(GX, t, &P);
  from_bytes(t, GY_BE);
  to_mont(GY, t, &P);
}

int p256_keygen(const uint8_t d[32], p256_point *pub) {
  u32 k[N], x[N], y[N];
  jpoint q;
  from_bytes(k, d);
  if (!scalar_ok(k)) return -1;
  scalar_mul(&q, k, GX, GY);
  if (to_affine(x, y, &q)) return -1;
  point_out(pub, x, y);
  return 0;
}

int p256_ecdh(const uint8_t d[32], const p256_point *peer, uint8_t secret[32]) {
  u32 k[N], qx[N], qy[N], x[N], y[N];
  jpoint s;
  from_bytes(k, d);
  if (!scalar_ok(k) || point_in(qx, qy, peer)) return -1;
  scalar_mul(&s, k, qx, qy);
  if (to_affine(x, y, &s)) return -1;
  from_mont(k, x, &P);
  to_bytes(secret, k);
  return 0;
}

/* A value < 2^256 reduced mod n (one subtraction suffices: 2n > 2^256). */
static void reduce_n(u32 a[N]) {
  if (cmp(a, Nn.m) >= 0) sub(a, a, Nn.m);
}

int p256_sign(const uint8_t d[32], const uint8_t kb[32], const uint8_t digest[32], uint8_t rb[32], uint8_t sb[32]) {
  u32 dk[N], k[N], e[N], x[N], y[N], r[N], s[N], t[N];
  jpoint kg;
  from_bytes(dk, d);
  from_bytes(k, kb);
  if (!scalar_ok(dk) || !scalar_ok(k)) return -1;
  scalar_mul(&kg, k, GX, GY);
  if (to_affine(x, y, &kg)) return -1;
  from_mont(r, x, &P);
  reduce_n(r);
  if (is_zero(r)) return -1;
  from_bytes(e, digest);
  reduce_n(e);
  /* s = k⁻¹(e + r·d) mod n, in Montgomery form mod n. */
  to_mont(e, e, &Nn);
  to_mont(t, r, &Nn);
  to_mont(dk, dk, &Nn);
  mont_mul(t, t, dk, &Nn);
  mod_add(t, t, e, &Nn);
  to_mont(k, k, &Nn);
  mod_inv(k, k, &Nn);
  mont_mul(s, k, t, &Nn);
  from_mont(s, s, &Nn);
  if (is_zero(s)) return -1;
  to_bytes(rb, r);
  to_bytes(sb, s);
  return 0;
}

int p256_verify(const p256_point *pub, const uint8_t digest[32], const uint8_t rb[32], const uint8_t sb[32]) {
  u32 qx[N], qy[N], r[N], s[N], e[N], w[N], u1[N], u2[N], gqx[N], gqy[N], x[N], y[N];
  from_bytes(r, rb);
  from_bytes(s, sb);
  if (!scalar_ok(r) || !scalar_ok(s) || point_in(qx, qy, pub)) return -1;
  from_bytes(e, digest);
  reduce_n(e);
  to_mont(w, s, &Nn);
  mod_inv(w, w, &Nn);
  to_mont(e, e, &Nn);
  mont_mul(u1, e, w, &Nn);
  from_mont(u1, u1, &Nn);
  to_mont(u2, r, &Nn);
  mont_mul(u2, u2, w, &Nn);
  from_mont(u2, u2, &Nn);
  /* G + Q in affine form for Shamir's trick (one inversion). */
  jpoint acc = {{0}, {0}, {0}}, gq;
  copy(gq.x, GX);
  copy(gq.y, GY);
  copy(gq.z, P.one);
  jadd_affine(&gq, &gq, qx, qy);
  int have_gq = to_affine(gqx, gqy, &gq) == 0;
  int i = 255;
  while (i >= 0 && !bit(u1, i) && !bit(u2, i)) i--;
  for (; i >= 0; i--) {
    jdouble(&acc, &acc);
    int b1 = bit(u1, i), b2 = bit(u2, i);
    if (b1 && b2) {
      if (have_gq) jadd_affine(&acc, &acc, gqx, gqy);
      else { /* Q = −G: G + Q is infinity, adding it is a no-op */ }
    } else if (b1) {
      jadd_affine(&acc, &acc, GX, GY);
    } else if (b2) {
      jadd_affine(&acc, &acc, qx, qy);
    }
  }
  if (to_affine(x, y, &acc)) return -1;
  from_mont(x, x, &P);
  reduce_n(x);
  return equal(x, r) ? 0 : -1;
}
