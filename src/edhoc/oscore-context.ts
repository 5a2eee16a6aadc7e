/**
 * What a completed EDHOC session hands to OSCORE (RFC 9528 Appendix A.1): the input parameters
 * of an OSCORE Security Context (RFC 8613 §3.2). The OSCORE layer maps this record onto its own.
 */
export interface OscoreContextInput {
  /** EDHOC_Exporter( 0, h'', key length of the OSCORE AEAD ) — 16 bytes for AES-CCM-16-64-128. */
  readonly masterSecret: Buffer;
  /** EDHOC_Exporter( 1, h'', 8 ). */
  readonly masterSalt: Buffer;
  /** Our OSCORE Sender ID: the connection identifier the PEER chose (C_R for the Initiator). */
  readonly senderId: Buffer;
  /** Our OSCORE Recipient ID: the connection identifier WE chose (C_I for the Initiator). */
  readonly recipientId: Buffer;
  /** COSE algorithm of the OSCORE AEAD: the EDHOC suite's AEAD (10 = AES-CCM-16-64-128). */
  readonly aeadAlgorithm: number;
  /** COSE algorithm of the OSCORE HKDF: HKDF with the EDHOC suite's hash (-10 = HKDF-SHA-256). */
  readonly hkdfAlgorithm: number;
}

/** JSON form for logs and the CLI (hex byte strings). */
export function oscoreContextJson(c: OscoreContextInput): Record<string, string | number> {
  return {
    masterSecret: c.masterSecret.toString('hex'),
    masterSalt: c.masterSalt.toString('hex'),
    senderId: c.senderId.toString('hex'),
    recipientId: c.recipientId.toString('hex'),
    aeadAlgorithm: c.aeadAlgorithm,
    hkdfAlgorithm: c.hkdfAlgorithm,
  };
}
