/** A resource's parsers: checked against the resource's streams before they are stored. */

import { Invalid, NotFound } from '../errors.ts';
import type { Caller, Parser, StreamRecord } from '../model.ts';
import { checkParser } from '../parsers.ts';
import type { ParserInput } from '../schema/parsers.ts';
import { checkPage, type Need, type PageRequest } from './core.ts';
import { ResourceService } from './resources.ts';

/** A new parser: the API bodies' fields (schema/parsers.ts), all but the time format required. */
export type NewParserInput = Required<Omit<ParserInput, 'timeFormat'>> & Pick<ParserInput, 'timeFormat'>;
/** A change to a parser; absent fields stay as they are. */
export type ParserPatch = ParserInput;

export class ParserService extends ResourceService {
  // -------------------------------------------------------------------------------------------
  // Parsers

  async listParsers(caller: Caller, uid: number, rid: number, page?: PageRequest): Promise<Parser[]> {
    await this.resource(caller, uid, rid, 'read');
    const w = checkPage(page);
    await this.total(page, 'parsers', rid);
    return this.store.listParsers(rid, w);
  }

  async createParser(caller: Caller, uid: number, rid: number, input: NewParserInput): Promise<Parser> {
    await this.resource(caller, uid, rid, 'owner');
    checkParser(input.kind, input.expression);
    await this.ownStream(rid, input.streamId);
    return this.store.createParser({
      resourceId: rid,
      streamId: input.streamId,
      kind: input.kind,
      expression: input.expression,
      timeFormat: input.timeFormat ?? 'unix-ms',
      createdAt: this.now(),
    });
  }

  protected async ownStream(rid: number, sid: number): Promise<StreamRecord> {
    const s = await this.store.getStream(sid);
    if (!s || s.resourceId !== rid) throw new Invalid(`stream ${sid} is not a stream of resource ${rid}`);
    return s;
  }

  protected async parser(caller: Caller, uid: number, rid: number, pid: number, need: Need): Promise<Parser> {
    await this.resource(caller, uid, rid, need);
    const p = await this.store.getParser(pid);
    if (!p || p.resourceId !== rid) throw new NotFound(`no parser ${pid} in resource ${rid}`);
    return p;
  }

  async getParser(caller: Caller, uid: number, rid: number, pid: number): Promise<Parser> {
    return this.parser(caller, uid, rid, pid, 'read');
  }

  async updateParser(caller: Caller, uid: number, rid: number, pid: number, patch: ParserPatch): Promise<Parser> {
    const cur = await this.parser(caller, uid, rid, pid, 'owner');
    checkParser(patch.kind ?? cur.kind, patch.expression ?? cur.expression);
    if (patch.streamId !== undefined) await this.ownStream(rid, patch.streamId);
    const p = await this.store.updateParser(pid, patch);
    if (!p) throw new NotFound(`no parser ${pid}`);
    return p;
  }

  async deleteParser(caller: Caller, uid: number, rid: number, pid: number): Promise<void> {
    await this.parser(caller, uid, rid, pid, 'owner');
    await this.store.deleteParser(pid);
  }
}
