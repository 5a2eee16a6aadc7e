/**
 * The dashboard's overview of one user's fleet: every resource with its bound devices, whether it
 * is online, its last DTLS handshake (from the in-memory {@link FleetMonitor}), its points in the
 * last hour (SQL), its poller's state (the poll log); counts at the top. Read through the service's
 * own use cases, so the caller is authorized exactly as for the lists it gathers.
 */
import { type DeviceState, type FleetMonitor, ONLINE_WINDOW_MS } from './fleet.ts';
import type { Caller, DeviceCredential } from './model.ts';
import type { OverviewView } from './schema/fleet.ts';
import type { PlatformService } from './service.ts';

const HOUR_MS = 3_600_000;

function shownIdentity(c: DeviceCredential): string {
  return c.pskIdentity ?? c.rpkFingerprint ?? c.x509Name ?? c.x509Fingerprint ?? '';
}

export async function fleetOverview(
  service: PlatformService,
  fleet: FleetMonitor,
  caller: Caller,
  uid: number,
  now = Date.now(),
): Promise<OverviewView> {
  const resources = await service.listResources(caller, uid);
  const rows: OverviewView['resources'] = [];
  let devices = 0;
  let online = 0;
  let failing = 0;
  for (const r of resources) {
    const [streams, creds, polls] = await Promise.all([
      service.listStreams(caller, uid, r.id),
      service.listDeviceCredentials(caller, uid, r.id),
      r.pollingUrl ? service.getPollLog(caller, uid, r.id, 20) : Promise.resolve([]),
    ]);
    const counts = await service.store.countPointsSince(
      streams.map((s) => s.id),
      now - HOUR_MS,
    );
    const state: DeviceState | undefined = fleet.device(r.id);
    const lastOk = polls.find((p) => p.ok);
    const lastError = polls.find((p) => !p.ok);
    const seen = [state?.lastSeen, lastOk?.time, ...streams.map((s) => s.lastTime)].filter(
      (t): t is number => typeof t === 'number',
    );
    const lastSeen = seen.length > 0 ? Math.max(...seen) : null;
    const isOnline = lastSeen !== null && now - lastSeen <= ONLINE_WINDOW_MS;
    const poll = polls[0];
    if (poll && !poll.ok) failing++;
    devices += creds.length;
    if (isOnline && (creds.length > 0 || r.pollingUrl)) online++;
    rows.push({
      id: r.id,
      label: r.label,
      online: isOnline,
      last_seen: lastSeen,
      devices: creds.map((c) => ({ id: c.id, mode: c.mode, identity: shownIdentity(c), label: c.label })),
      last_handshake: state
        ? { time: state.lastHandshake, mode: state.mode, identity: state.identity, resumed: state.resumed }
        : null,
      points_last_hour: [...counts.values()].reduce((a, b) => a + b, 0),
      streams: streams.map((s) => ({
        id: s.id,
        label: s.label,
        unit: s.unit,
        type: s.type,
        last_time: s.lastTime,
        points_last_hour: counts.get(s.id) ?? 0,
      })),
      poller: r.pollingUrl
        ? {
            url: r.pollingUrl,
            period: r.pollingPeriod,
            state: poll === undefined ? 'waiting' : poll.ok ? 'ok' : 'failing',
            last_poll: poll?.time ?? null,
            last_error: lastError ? `${lastError.status}${lastError.message ? `: ${lastError.message}` : ''}` : null,
          }
        : null,
    });
  }
  const rates = fleet.rates();
  return {
    time: now,
    online_window_ms: ONLINE_WINDOW_MS,
    counts: {
      resources: resources.length,
      devices,
      devices_online: online,
      points_per_min: rates.pointsPerMin,
      handshakes_per_min: rates.handshakesPerMin,
      errors: rates.handshakeErrorsPerMin + failing,
    },
    resources: rows,
  };
}
