/**
 * EDHOC errors. A failed key exchange ends in an EDHOC error message (RFC 9528 §6): ERR_CODE 1
 * with a diagnostic text for anything that is not a wrong cipher suite, ERR_CODE 2 with SUITES_R
 * when the Initiator's selected suite is not one the Responder supports. The error carries what the
 * peer should be told; `message` is for our own log.
 */

/** ERR_CODE values (RFC 9528 §6, IANA "EDHOC Error Codes"). */
export const ErrCode = {
  success: 0,
  unspecified: 1,
  wrongSelectedCipherSuite: 2,
  unknownCredential: 3,
} as const;

export class EdhocError extends Error {
  constructor(
    message: string,
    /** What goes on the wire: ERR_CODE 1 with this diagnostic unless a suite error says otherwise. */
    readonly errCode: number = ErrCode.unspecified,
    /** SUITES_R for ERR_CODE 2. */
    readonly suitesR?: readonly number[],
  ) {
    super(message);
    this.name = 'EdhocError';
  }
}

/** An EDHOC error message received from the peer. */
export class EdhocPeerError extends Error {
  constructor(
    readonly errCode: number,
    readonly diagnostic?: string,
    readonly suitesR?: readonly number[],
  ) {
    super(
      errCode === ErrCode.wrongSelectedCipherSuite
        ? `peer refused the selected cipher suite; it supports ${JSON.stringify(suitesR)}`
        : `peer sent EDHOC error ${errCode}${diagnostic ? `: ${diagnostic}` : ''}`,
    );
    this.name = 'EdhocPeerError';
  }
}
