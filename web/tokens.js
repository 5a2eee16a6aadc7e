/**
 * The API tokens page (`#/tokens`): the user's named tokens (name, created, last used — never the
 * secret), a form that creates one and shows its secret once, and revoke with a confirmation.
 * Uses `GET/POST /users/UID/tokens` and `DELETE /users/UID/tokens/TID`.
 */

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

const stamp = (t) => new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** What a refusal means to a person. */
function explain(err, name) {
  if (err.status === 409) return `You already have a token named "${name}": pick another name.`;
  if (err.status === 400) return 'Give the token a name of 1 to 200 characters.';
  if (err.status === 0) return 'The server cannot be reached: try again.';
  return `Cannot do that: ${err.message}`;
}

/**
 * Renders the page into `root`. `ctx`: { api(path, opts), uid, onSignedOut(err) }.
 * `created` is a token just made ({ name, token }), shown once.
 */
export async function showTokens(root, ctx, created = null) {
  let tokens;
  try {
    tokens = await ctx.api(`/users/${ctx.uid}/tokens`);
  } catch (err) {
    if (err.status === 401) return ctx.onSignedOut(err);
    root.replaceChildren(el('h2', 'API tokens'), el('p', `Cannot list your tokens: ${err.message}`, 'error'));
    return;
  }
  const parts = [el('h2', 'API tokens')];
  parts.push(
    el(
      'p',
      'Scripts and tools use an API token (Authorization: Bearer sst_…) to act as you. ' +
        'Give each its own, so that one can be revoked without the others.',
      'hint',
    ),
  );
  if (created) {
    const box = el('section', null, 'secret');
    box.id = 'token-secret';
    box.append(el('h3', `Your new token "${created.name}"`));
    box.append(el('p', 'Copy it now: it is shown only this once and cannot be read back.', 'warn'));
    const row = el('div', null, 'copyrow');
    const code = el('code', created.token, 'secret-value');
    code.id = 'token-value';
    const copy = el('button', 'Copy');
    copy.type = 'button';
    copy.dataset.copy = 'token-value';
    row.append(code, copy);
    box.append(row);
    parts.push(box);
  }
  const table = el('table');
  table.id = 'tokens-table';
  const head = el('tr');
  for (const h of ['name', 'created', 'last used', '']) head.append(Object.assign(el('th', h), { scope: 'col' }));
  table.append(el('thead'), el('tbody'));
  table.tHead.append(head);
  const error = el('p', null, 'error');
  error.id = 'tokens-error';
  error.setAttribute('role', 'alert');
  error.hidden = true;
  const fail = (text) => {
    error.textContent = text;
    error.hidden = false;
  };
  for (const t of tokens) {
    const tr = el('tr');
    tr.dataset.tid = String(t.id);
    const act = el('td');
    const revoke = el('button', 'Revoke', 'danger');
    revoke.type = 'button';
    revoke.setAttribute('aria-label', `Revoke ${t.name}`);
    revoke.addEventListener('click', () => {
      const yes = el('button', `Revoke "${t.name}" now`, 'danger');
      yes.type = 'button';
      const no = el('button', 'Cancel');
      no.type = 'button';
      no.addEventListener('click', () => act.replaceChildren(revoke));
      yes.addEventListener('click', async () => {
        try {
          await ctx.api(`/users/${ctx.uid}/tokens/${t.id}`, { method: 'DELETE' });
        } catch (err) {
          if (err.status === 401) return ctx.onSignedOut(err);
          return fail(explain(err, t.name));
        }
        await showTokens(root, ctx);
        root.querySelector('#tokens-status').textContent = `Revoked "${t.name}": it is refused from now on.`;
      });
      act.replaceChildren(yes, ' ', no);
      yes.focus();
    });
    act.append(revoke);
    tr.append(
      el('td', t.name),
      el('td', stamp(t.created_at)),
      el('td', t.last_used_at === null ? 'never' : stamp(t.last_used_at)),
      act,
    );
    table.tBodies[0].append(tr);
  }
  parts.push(table);
  if (tokens.length === 0) parts.push(el('p', 'You have no API token.', 'empty'));
  const form = el('form', null, 'wide');
  form.id = 'token-create';
  const label = el('label', 'Name of the new token ');
  const input = el('input');
  input.id = 'token-name';
  input.maxLength = 200;
  input.required = true;
  input.autocomplete = 'off';
  input.placeholder = 'e.g. backup script';
  label.append(input);
  const submit = el('button', 'Create token');
  submit.type = 'submit';
  form.append(label, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = input.value.trim();
    if (!name) {
      fail('Give the token a name of 1 to 200 characters.');
      input.focus();
      return;
    }
    try {
      const t = await ctx.api(`/users/${ctx.uid}/tokens`, { method: 'POST', body: { name } });
      await showTokens(root, ctx, { name: t.name, token: t.token });
      root.querySelector('#token-value')?.focus();
    } catch (err) {
      if (err.status === 401) return ctx.onSignedOut(err);
      fail(explain(err, name));
      input.focus();
    }
  });
  const status = el('p', null, 'hint');
  status.id = 'tokens-status';
  status.setAttribute('role', 'status');
  parts.push(el('h3', 'New token'), form, error, status);
  root.replaceChildren(...parts);
}
