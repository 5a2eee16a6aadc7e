/**
 * Just enough reading of compose.yaml's lines for the tests, without a YAML library: the block
 * under a path of keys (by indentation), its `KEY: value` pairs and `- item` entries, and the
 * `${VAR}` / `${VAR:-default}` interpolation Compose applies. It reads the layout this project's
 * file uses (block mappings and sequences of scalars), not YAML in general.
 */

/** Lines without comments and blank lines, keeping their indentation. */
function meaningful(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'))
    .map((l) => l.replace(/\s+$/, ''));
}

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

/** The lines nested under `path` (e.g. ['services', 'platform', 'environment']); throws when absent. */
export function block(text: string, path: string[]): string[] {
  let lines = meaningful(text);
  let depth = -1;
  for (const key of path) {
    // A direct child only: `volumes:` at the top is not a service's `volumes:`.
    const top = Math.min(...lines.map(indentOf));
    const at = lines.findIndex((l) => indentOf(l) === top && l.trim() === `${key}:`);
    if (at < 0) throw new Error(`compose.yaml has no "${path.join('.')}" block (missing "${key}:")`);
    depth = indentOf(lines[at] as string);
    const rest = lines.slice(at + 1);
    // A sequence may sit at its key's own indentation (`ports:` / `- …`, as docker-compose prints it).
    const end = rest.findIndex(
      (l) => indentOf(l) < depth || (indentOf(l) === depth && !l.trimStart().startsWith('- ')),
    );
    lines = end < 0 ? rest : rest.slice(0, end);
  }
  return lines;
}

function unquote(s: string): string {
  const m = /^"(.*)"$/.exec(s) ?? /^'(.*)'$/.exec(s);
  return m ? (m[1] as string) : s;
}

/** The `KEY: value` pairs at the first level of a block. */
export function pairs(lines: string[]): Map<string, string> {
  const top = Math.min(...lines.map(indentOf));
  const out = new Map<string, string>();
  for (const l of lines) {
    if (indentOf(l) !== top) continue;
    const m = /^\s*([A-Za-z0-9_.-]+):\s*(.*)$/.exec(l);
    if (m) out.set(m[1] as string, unquote(m[2] as string));
  }
  return out;
}

/** The `- item` entries at the first level of a block. */
export function items(lines: string[]): string[] {
  const top = Math.min(...lines.map(indentOf));
  return lines
    .filter((l) => indentOf(l) === top && l.trimStart().startsWith('- '))
    .map((l) => unquote(l.trim().slice(2)));
}

/**
 * Compose's variable substitution: `${VAR}` is the variable or empty, `${VAR:-default}` the
 * default when the variable is unset or empty.
 */
export function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_all, name: string, dflt?: string) => {
    const v = env[name];
    return v !== undefined && v !== '' ? v : (dflt ?? '');
  });
}
