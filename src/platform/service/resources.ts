/**
 * Resources, the device credentials bound to them, their poll log and the change feed the poller
 * and the CoAP API's trust anchors follow.
 */
import { type DeviceCredentialInput, prepareDeviceCredential, publicCredential } from '../devices.ts';
import { Invalid, NotFound } from '../errors.ts';
import type { Caller, DeviceCredential, PollLogEntry, Resource } from '../model.ts';
import { refuseForbiddenTarget } from '../net-guard.ts';
import type { ResourceInput } from '../schema/resources.ts';
import type { Store } from '../store/index.ts';
import { checkLabel, checkPage, type PageRequest, POLL_LOG_KEEP, type ResourceChange, strip } from './core.ts';
import { hashSecret, newSecret } from './secrets.ts';
import { UserService } from './users.ts';

/** A new resource: the API bodies' fields (schema/resources.ts), the label required, no rotation. */
export type NewResourceInput = Omit<ResourceInput, 'label' | 'rotateKey'> & { label: string };
/** A change to a resource; absent fields stay as they are. */
export type ResourcePatch = ResourceInput;

export class ResourceService extends UserService {
  // -------------------------------------------------------------------------------------------
  // Resources

  async listResources(caller: Caller, uid: number, page?: PageRequest): Promise<Resource[]> {
    this.authorize(caller, uid, undefined, undefined, 'owner');
    const w = checkPage(page);
    await this.userRecord(uid);
    await this.total(page, 'resources', uid);
    return (await this.store.listResources(uid, w)).map(strip);
  }

  async createResource(
    caller: Caller,
    uid: number,
    input: NewResourceInput,
  ): Promise<{ resource: Resource; key: string }> {
    this.authorize(caller, uid, undefined, undefined, 'owner');
    await this.userRecord(uid);
    checkLabel(input.label);
    const polling = checkPolling(input.pollingUrl ?? null, input.pollingPeriod ?? null);
    refuseForbiddenTarget(this.netGuard, polling.pollingUrl);
    const tuning = checkPollTuning(input.pollingRetransmits ?? null, input.pollingTimeoutMs ?? null);
    const key = newSecret('ssr');
    const r = await this.store.createResource({
      ownerId: uid,
      label: input.label,
      ...polling,
      ...tuning,
      keyHash: hashSecret(key),
      createdAt: this.now(),
    });
    await this.changed({ resourceId: r.id, resource: strip(r), what: 'created' });
    return { resource: strip(r), key };
  }

  async getResource(caller: Caller, uid: number, rid: number): Promise<Resource> {
    return strip(await this.resource(caller, uid, rid, 'read'));
  }

  async updateResource(
    caller: Caller,
    uid: number,
    rid: number,
    patch: ResourcePatch,
  ): Promise<{ resource: Resource; key?: string }> {
    const cur = await this.resource(caller, uid, rid, 'owner');
    if (patch.label !== undefined) checkLabel(patch.label);
    const polling = checkPolling(
      patch.pollingUrl !== undefined ? patch.pollingUrl : cur.pollingUrl,
      patch.pollingPeriod !== undefined ? patch.pollingPeriod : cur.pollingPeriod,
    );
    // Checked when the URL changes: a resource whose URL the allow-list no longer covers can still
    // be edited (its polls log the refusal).
    if (polling.pollingUrl !== cur.pollingUrl) refuseForbiddenTarget(this.netGuard, polling.pollingUrl);
    const tuning = checkPollTuning(
      patch.pollingRetransmits !== undefined ? patch.pollingRetransmits : cur.pollingRetransmits,
      patch.pollingTimeoutMs !== undefined ? patch.pollingTimeoutMs : cur.pollingTimeoutMs,
    );
    let key: string | undefined;
    const set: Parameters<Store['updateResource']>[1] = { ...polling, ...tuning };
    if (patch.label !== undefined) set.label = patch.label;
    if (patch.rotateKey) {
      key = newSecret('ssr');
      set.keyHash = hashSecret(key);
    }
    const r = await this.store.updateResource(rid, set);
    if (!r) throw new NotFound(`no resource ${rid}`);
    await this.changed({ resourceId: rid, resource: strip(r), what: 'updated' });
    return key ? { resource: strip(r), key } : { resource: strip(r) };
  }

  async deleteResource(caller: Caller, uid: number, rid: number): Promise<void> {
    await this.resource(caller, uid, rid, 'owner');
    await this.store.deleteResource(rid);
    await this.changed({ resourceId: rid, what: 'deleted' });
  }

  // -------------------------------------------------------------------------------------------
  // Device credentials: the DTLS identities that act as a resource

  /**
   * Binds a device identity to a resource (owner only). The PSK key is returned only when it was
   * generated here, and only now; no later call shows it.
   */
  async addDeviceCredential(
    caller: Caller,
    uid: number,
    rid: number,
    input: DeviceCredentialInput,
  ): Promise<{ credential: DeviceCredential; pskKey?: string; pskKeyText?: string }> {
    await this.resource(caller, uid, rid, 'owner');
    const { row, generatedKey, generatedText } = prepareDeviceCredential(rid, input, this.now());
    const c = await this.store.createDeviceCredential(row);
    await this.changed({ resourceId: rid, what: 'credentials' });
    if (!generatedKey) return { credential: publicCredential(c) };
    return generatedText
      ? { credential: publicCredential(c), pskKey: generatedKey, pskKeyText: generatedText }
      : { credential: publicCredential(c), pskKey: generatedKey };
  }

  async listDeviceCredentials(
    caller: Caller,
    uid: number,
    rid: number,
    page?: PageRequest,
  ): Promise<DeviceCredential[]> {
    await this.resource(caller, uid, rid, 'owner');
    const w = checkPage(page);
    await this.total(page, 'device_credentials', rid);
    return (await this.store.listDeviceCredentials(rid, w)).map(publicCredential);
  }

  async deleteDeviceCredential(caller: Caller, uid: number, rid: number, cid: number): Promise<void> {
    await this.resource(caller, uid, rid, 'owner');
    const c = await this.store.getDeviceCredential(cid);
    if (!c || c.resourceId !== rid) throw new NotFound(`no device credential ${cid} in resource ${rid}`);
    await this.store.deleteDeviceCredential(cid);
    await this.changed({ resourceId: rid, what: 'credentials' });
  }

  // -------------------------------------------------------------------------------------------
  // Poll log

  /** The newest poll outcomes of a resource, newest first. */
  async getPollLog(caller: Caller, uid: number, rid: number, limit = 100, page?: PageRequest): Promise<PollLogEntry[]> {
    await this.resource(caller, uid, rid, 'read');
    if (!Number.isInteger(limit) || limit < 1 || limit > POLL_LOG_KEEP)
      throw new Invalid(`limit must be 1–${POLL_LOG_KEEP}`);
    const offset = checkPage(page)?.offset ?? 0;
    await this.total(page, 'poll_log', rid);
    return this.store.listPollLog(rid, limit, offset);
  }

  /** The poller's record of one poll (no caller: the platform itself polled). */
  async recordPoll(entry: Omit<PollLogEntry, 'id'>): Promise<PollLogEntry> {
    return this.store.addPollLog(entry, POLL_LOG_KEEP);
  }

  /**
   * Calls `listener` after each change to a resource or its device credentials. A listener that
   * returns a promise is awaited before the use case returns (the DTLS trust store uses this so
   * that a device bound through the API can connect as soon as the API has answered).
   */
  watchResources(listener: (change: ResourceChange) => void | Promise<void>): () => void {
    this.events.on('resource', listener);
    return () => this.events.off('resource', listener);
  }

  protected async changed(change: ResourceChange): Promise<void> {
    for (const l of this.events.listeners('resource') as Array<(c: ResourceChange) => void | Promise<void>>) {
      try {
        await l(change);
      } catch (err) {
        this.log?.error({ err, resource: change.resourceId }, 'resource listener failed');
      }
    }
  }
}

function checkPollTuning(
  retransmits: number | null,
  timeoutMs: number | null,
): { pollingRetransmits: number | null; pollingTimeoutMs: number | null } {
  // RFC 7252 §4.8 leaves MAX_RETRANSMIT and ACK_TIMEOUT to the deployment; these bounds keep a
  // poll's worst case (ACK_TIMEOUT · 1.5 · (2^(MAX_RETRANSMIT+1) − 1)) finite and sane.
  if (retransmits !== null && (!Number.isInteger(retransmits) || retransmits < 0 || retransmits > 20))
    throw new Invalid('polling_retransmits must be 0–20');
  if (timeoutMs !== null && (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 60_000))
    throw new Invalid('polling_timeout_ms must be 100–60000');
  return { pollingRetransmits: retransmits, pollingTimeoutMs: timeoutMs };
}

const POLL_SCHEMES = ['http:', 'https:', 'coap:', 'coaps:'];

function checkPolling(
  url: string | null,
  period: number | null,
): { pollingUrl: string | null; pollingPeriod: number | null } {
  if (url !== null) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new Invalid(`polling_url is not a URL: ${url}`);
    }
    if (!POLL_SCHEMES.includes(u.protocol)) throw new Invalid('polling_url must be http, https, coap or coaps');
    if (period === null) throw new Invalid('polling_url needs polling_period (seconds)');
  }
  if (period !== null && (!Number.isInteger(period) || period < 1 || period > 31_536_000)) {
    throw new Invalid('polling_period must be 1–31536000 seconds');
  }
  return { pollingUrl: url, pollingPeriod: period };
}
