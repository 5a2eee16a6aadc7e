/*
 * A small portable P-256 (NIST curve secp256r1) in C, written to count the work of the curve on a
 * Cortex-M3 (the CC2538's core) — the paper's "software ECC" — not to protect secrets: scalar
 * multiplication is plain double-and-add (not constant time) and the nonces come from a toy PRNG.
 *
 * Arithmetic: 8 × 32-bit limbs, little-endian; Montgomery multiplication (CIOS) modulo p and n;
 * inversion by Fermat's little theorem; Jacobian coordinates with the a = −3 doubling and mixed
 * (Jacobian + affine) addition; verification by Shamir's trick (u1·G + u2·Q in one pass).
 * Hashing is left out: callers pass the 32-byte SHA-256 digest (its cost is counted separately).
 */
#ifndef P256_H
#define P256_H
#include <stdint.h>

typedef struct {
  uint8_t x[32];
  uint8_t y[32];
} p256_point;

void p256_init(void);
/* Public key = d·G for a private scalar d in [1, n−1] (32 bytes, big-endian). 0 on success. */
int p256_keygen(const uint8_t d[32], p256_point *pub);
/* Shared secret x(d·Q) after checking Q is on the curve. 0 on success. */
int p256_ecdh(const uint8_t d[32], const p256_point *peer, uint8_t secret[32]);
/* ECDSA signature (r, s) of a digest with private scalar d and nonce k. 0 on success. */
int p256_sign(const uint8_t d[32], const uint8_t k[32], const uint8_t digest[32], uint8_t r[32], uint8_t s[32]);
/* 0 when (r, s) is a valid signature of digest under pub. */
int p256_verify(const p256_point *pub, const uint8_t digest[32], const uint8_t r[32], const uint8_t s[32]);

#endif
