/**
 * The handshake loop the DTLS benches share: `concurrency` client endpoints, each with the session
 * of one full handshake done off the clock (what a resumption resumes), then handshakes back to
 * back from every endpoint until a deadline.
 */
import { DtlsEndpoint } from '../dtls/endpoint.ts';
import type { ClientConfig } from '../dtls/handshake/client.ts';
import type { SessionState } from '../dtls/handshake/types.ts';

export interface HandshakeClients {
  readonly remote: { address: string; port: number; family: 'IPv4' };
  readonly cfg: ClientConfig;
  readonly endpoints: DtlsEndpoint[];
  /** The session of each endpoint's first, full handshake. */
  readonly sessions: SessionState[];
}

/** Opens the endpoints and gives each its session with one full handshake to 127.0.0.1:`port`. */
export async function openClients(port: number, concurrency: number, cfg: ClientConfig): Promise<HandshakeClients> {
  const remote = { address: '127.0.0.1', port, family: 'IPv4' as const };
  const endpoints = await Promise.all(Array.from({ length: concurrency }, () => DtlsEndpoint.open({})));
  const sessions: SessionState[] = [];
  for (const ep of endpoints) {
    const a = await ep.connect(remote, cfg);
    sessions.push(a.session);
    await a.close();
  }
  return { remote, cfg, endpoints, sessions };
}

/**
 * Full (or, with `resume`, abbreviated) handshakes from every endpoint until `deadline`
 * (Date.now() ms); the number completed. A handshake that does not resume as asked throws.
 */
export async function handshakeUntil(c: HandshakeClients, resume: boolean, deadline: number): Promise<number> {
  let count = 0;
  await Promise.all(
    c.endpoints.map(async (ep, i) => {
      while (Date.now() < deadline) {
        const a = await ep.connect(c.remote, resume ? { ...c.cfg, session: c.sessions[i] } : c.cfg);
        if (a.resumed !== resume) throw new Error(`expected resumed=${resume}, got resumed=${a.resumed}`);
        count++;
        await a.close();
      }
    }),
  );
  return count;
}

export async function closeClients(c: HandshakeClients): Promise<void> {
  await Promise.all(c.endpoints.map((e) => e.close()));
}
