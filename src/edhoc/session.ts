/**
 * A completed EDHOC session (RFC 9528 §4.2): PRK_out and what is derived from it — the
 * EDHOC_Exporter, EDHOC_KeyUpdate and the OSCORE Security Context input of Appendix A.1.
 */
import type { EdhocCredential } from './credentials.ts';
import { exporter, keyUpdate, prkExporter } from './key-schedule.ts';
import type { ConnectionId, EadItem } from './messages.ts';
import type { OscoreContextInput } from './oscore-context.ts';
import type { EdhocSuite } from './suites.ts';

/** Exporter labels of RFC 9528 Appendix A.1. */
export const OSCORE_MASTER_SECRET_LABEL = 0;
export const OSCORE_MASTER_SALT_LABEL = 1;
export const OSCORE_MASTER_SALT_LENGTH = 8;

export class EdhocSession {
  private prkOutValue: Buffer;
  private prkExporterValue: Buffer;

  constructor(
    readonly role: 'initiator' | 'responder',
    readonly suite: EdhocSuite,
    readonly method: number,
    prkOutValue: Buffer,
    readonly cI: ConnectionId,
    readonly cR: ConnectionId,
    /** The peer's credential, as resolved from its ID_CRED and authenticated. */
    readonly peer: EdhocCredential,
    /** EAD the peer sent (message_1/3 for a Responder, message_2/4 for an Initiator). */
    readonly peerEad: readonly EadItem[],
  ) {
    this.prkOutValue = prkOutValue;
    this.prkExporterValue = prkExporter(suite, prkOutValue);
  }

  get prkOut(): Buffer {
    return this.prkOutValue;
  }
  get prkExporter(): Buffer {
    return this.prkExporterValue;
  }

  /** EDHOC_Exporter( label, context, length ). */
  exporter(label: number, context: Buffer, length: number): Buffer {
    return exporter(this.prkExporterValue, label, context, length);
  }

  /** EDHOC_KeyUpdate( context ): a new PRK_out (and so new exporter output) for forward secrecy. */
  keyUpdate(context: Buffer): void {
    this.prkOutValue = keyUpdate(this.suite, this.prkOutValue, context);
    this.prkExporterValue = prkExporter(this.suite, this.prkOutValue);
  }

  /** The OSCORE Security Context input (RFC 9528 Appendix A.1). */
  oscore(): OscoreContextInput {
    const [senderId, recipientId] = this.role === 'initiator' ? [this.cR, this.cI] : [this.cI, this.cR];
    return {
      masterSecret: this.exporter(OSCORE_MASTER_SECRET_LABEL, Buffer.alloc(0), this.suite.keyLength),
      masterSalt: this.exporter(OSCORE_MASTER_SALT_LABEL, Buffer.alloc(0), OSCORE_MASTER_SALT_LENGTH),
      senderId: Buffer.from(senderId),
      recipientId: Buffer.from(recipientId),
      aeadAlgorithm: this.suite.aeadAlg,
      hkdfAlgorithm: this.suite.hkdfAlg,
    };
  }
}
