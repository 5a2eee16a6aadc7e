/**
 * CoRE Link Format (RFC 6690): `</path>;rt="x";ct=0;obs,</other>` — serialised by the server for
 * `/.well-known/core` and parsed by the client. Pure functions.
 */

/** One link: its target and attributes. A value of `true` is an attribute without value (`obs`). */
export interface Link {
  href: string;
  attrs: Record<string, string | number | true | Array<string | number>>;
}

function formatValue(name: string, v: string | number): string {
  if (typeof v === 'number') return String(v);
  // RFC 6690 §2: ct is a list of integers (RFC 7252 §7.2.1); the rest are quoted strings when they
  // would not be a valid token.
  if (name === 'ct' || name === 'sz') return v;
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** RFC 6690 §2 serialisation. */
export function formatLinks(links: Link[]): string {
  return links
    .map((l) => {
      const parts = [`<${l.href}>`];
      for (const [k, v] of Object.entries(l.attrs)) {
        if (v === true) parts.push(k);
        else if (Array.isArray(v)) {
          // rt/if/ct lists are space-separated inside one value (RFC 6690 §3.1, RFC 7252 §7.2.1).
          const allNum = v.every((x) => typeof x === 'number');
          parts.push(`${k}=${allNum ? `"${v.join(' ')}"` : formatValue(k, v.join(' '))}`);
        } else parts.push(`${k}=${formatValue(k, v)}`);
      }
      return parts.join(';');
    })
    .join(',');
}

/** Parses RFC 6690 link format. Throws `SyntaxError` on malformed input. */
export function parseLinks(text: string): Link[] {
  const links: Link[] = [];
  let i = 0;
  const n = text.length;
  const skipWs = () => {
    while (i < n && /\s/.test(text[i])) i++;
  };
  while (true) {
    skipWs();
    if (i >= n) break;
    if (text[i] !== '<') throw new SyntaxError(`link format: expected '<' at ${i}`);
    const end = text.indexOf('>', i);
    if (end < 0) throw new SyntaxError('link format: unterminated <URI-Reference>');
    const link: Link = { href: text.slice(i + 1, end), attrs: {} };
    i = end + 1;
    while (true) {
      skipWs();
      if (i >= n || text[i] === ',') break;
      if (text[i] !== ';') throw new SyntaxError(`link format: expected ';' or ',' at ${i}`);
      i++;
      skipWs();
      const nm = /^[A-Za-z0-9!#$&+\-.^_`|~*]+/.exec(text.slice(i));
      if (!nm) throw new SyntaxError(`link format: expected a parameter name at ${i}`);
      const name = nm[0];
      i += name.length;
      skipWs();
      let value: string | true = true;
      let quoted = false;
      if (text[i] === '=') {
        i++;
        skipWs();
        if (text[i] === '"') {
          quoted = true;
          i++;
          let v = '';
          while (i < n && text[i] !== '"') {
            if (text[i] === '\\' && i + 1 < n) i++;
            v += text[i++];
          }
          if (i >= n) throw new SyntaxError('link format: unterminated quoted string');
          i++;
          value = v;
        } else {
          const tm = /^[^;,\s]*/.exec(text.slice(i));
          value = tm ? tm[0] : '';
          i += value.length;
        }
      }
      let parsed: string | number | true = value;
      if (typeof value === 'string' && !quoted && /^\d+$/.test(value)) parsed = Number(value);
      else if (typeof value === 'string' && name === 'ct' && /^\d+$/.test(value)) parsed = Number(value);
      const prev = link.attrs[name];
      if (prev === undefined) link.attrs[name] = parsed;
      else if (parsed !== true && prev !== true) {
        // Repeated parameters (ct=0;ct=40) collect into a list.
        link.attrs[name] = Array.isArray(prev) ? [...prev, parsed] : [prev, parsed];
      }
    }
    links.push(link);
    if (text[i] === ',') i++;
  }
  return links;
}
