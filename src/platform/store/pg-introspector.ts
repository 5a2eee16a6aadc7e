/**
 * PostgreSQL introspection confined to one schema, for Kysely's Migrator.
 *
 * Kysely's own PostgreSQL introspector lists the tables of every schema in the database and calls
 * `has_schema_privilege(nspname, …)` on each schema's name. When another process drops a schema
 * between the catalog scan and that call (parallel test files do, each in its own schema; so may
 * an operator), the call fails with "schema … does not exist" and our migration fails with it,
 * although the schema it was about is someone else's. Here the Migrator's question, "does this
 * table exist in my schema?", reads only that schema's rows of pg_class, by name, with no function
 * that can trip over a concurrent drop. It also no longer scans every schema's columns.
 */
import {
  type DatabaseIntrospector,
  type DatabaseMetadata,
  type DatabaseMetadataOptions,
  type Kysely,
  PostgresDialect,
  type PostgresDialectConfig,
  type SchemaMetadata,
  sql,
  type TableMetadata,
} from 'kysely';

/**
 * The Migrator asks for schemas and table names only; columns are not listed (`columns: []`), so
 * this introspector is for migrations, not for code generation.
 */
export class SchemaIntrospector implements DatabaseIntrospector {
  constructor(
    private readonly db: Kysely<unknown>,
    private readonly schema: string,
  ) {}

  async getSchemas(): Promise<SchemaMetadata[]> {
    const r = await sql<{ nspname: string }>`select nspname from pg_catalog.pg_namespace`.execute(this.db);
    return r.rows.map((row) => ({ name: row.nspname }));
  }

  async getTables(_options?: DatabaseMetadataOptions): Promise<TableMetadata[]> {
    const r = await sql<{ relname: string; relkind: string }>`
      select c.relname, c.relkind
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace ns on ns.oid = c.relnamespace
       where ns.nspname = ${this.schema} and c.relkind in ('r', 'v', 'p')
       order by c.relname`.execute(this.db);
    return r.rows.map((row) => ({ name: row.relname, schema: this.schema, isView: row.relkind === 'v', columns: [] }));
  }

  async getMetadata(options?: DatabaseMetadataOptions): Promise<DatabaseMetadata> {
    return { tables: await this.getTables(options) };
  }
}

/** Kysely's PostgreSQL dialect with introspection confined to `schema`. */
export class SchemaPostgresDialect extends PostgresDialect {
  constructor(
    config: PostgresDialectConfig,
    private readonly schema: string,
  ) {
    super(config);
  }

  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SchemaIntrospector(db, this.schema);
  }
}
