/** A resource's parsers. */
import type { Selectable } from 'kysely';
import type { Parser } from '../model.ts';
import {
  deleteById,
  findOne,
  insertOne,
  type NewRow,
  type StoreContext,
  type StorePage,
  updateById,
  window,
} from './context.ts';
import type { ParsersTable } from './schema.ts';

/** A parser as created: its row, all but the id the database gives. */
export type NewParser = NewRow<ParsersTable>;

/** A parsers row as a Parser (also used by the ingest look-up in `points.ts`). */
export const parser = (r: Selectable<ParsersTable>): Parser => ({
  id: r.id,
  resourceId: r.resource_id,
  streamId: r.stream_id,
  kind: r.kind,
  expression: r.expression,
  timeFormat: r.time_format,
  createdAt: Number(r.created_at),
});

export interface ParserStore {
  createParser(p: NewParser): Promise<Parser>;
  getParser(id: number): Promise<Parser | undefined>;
  listParsers(resourceId: number, page?: StorePage): Promise<Parser[]>;
  updateParser(
    id: number,
    patch: Partial<Pick<Parser, 'streamId' | 'kind' | 'expression' | 'timeFormat'>>,
  ): Promise<Parser | undefined>;
  deleteParser(id: number): Promise<boolean>;
}

export function parserStore({ db, run }: StoreContext): ParserStore {
  return {
    createParser(p: NewParser): Promise<Parser> {
      return run(async () =>
        parser(
          await insertOne(db, 'parsers', {
            resource_id: p.resourceId,
            stream_id: p.streamId,
            kind: p.kind,
            expression: p.expression,
            time_format: p.timeFormat,
            created_at: p.createdAt,
          }),
        ),
      );
    },
    async getParser(id: number): Promise<Parser | undefined> {
      return findOne(db, 'parsers', 'id', id, parser);
    },
    async listParsers(resourceId: number, page?: StorePage): Promise<Parser[]> {
      const rows = await window(
        db.selectFrom('parsers').selectAll().where('resource_id', '=', resourceId).orderBy('id'),
        page,
      ).execute();
      return rows.map(parser);
    },
    updateParser(
      id: number,
      patch: Partial<Pick<Parser, 'streamId' | 'kind' | 'expression' | 'timeFormat'>>,
    ): Promise<Parser | undefined> {
      return updateById({ db, run }, 'parsers', id, patch, ['streamId', 'kind', 'expression', 'timeFormat'], parser);
    },
    async deleteParser(id: number): Promise<boolean> {
      return deleteById(db, 'parsers', id);
    },
  };
}
