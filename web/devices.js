// The device side of a resource's page, without page state: the command lines that run a device
// against this platform (`securesense device run`, libcoap's coap-client), how a device is named
// in the list, the API's field names as the forms say them, and the add-device form read into the
// body of POST …/devices (each mode's fieldset shown and enabled alone).
import { $ } from './dom.js';

/** RFC 7252 §6.2: the default port of coaps://, used until GET /info says the platform's real one. */
const DEFAULT_COAPS_PORT = 5684;

/** A shell word: anything but safe characters is single-quoted. */
const shellWord = (s) => (/^[\w.:@%+=,/-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The coaps:// host as this page sees the platform: the page's own host name. */
function coapsHost() {
  const port = Number($('coaps-port').value);
  const p = Number.isInteger(port) && port > 0 && port < 65536 ? port : DEFAULT_COAPS_PORT;
  return `${location.hostname}:${p}`;
}

/** `securesense device run` pushing to a resource over coaps:// with a PSK (docs/device.md). */
export function deviceCommand(uid, rid, identity, key) {
  // Identities are free text: the identity:key pair is one shell word.
  return `npx securesense device run --push coaps://${coapsHost()}/users/${uid}/resources/${rid}/data --psk ${shellWord(`${identity}:${key}`)}`;
}

/** libcoap's coap-client posting one JSON reading over coaps:// with a PSK whose key is text. */
export function libcoapCommand(uid, rid, identity, textKey) {
  return (
    `coap-client-gnutls -m post -u ${shellWord(identity)} -k ${shellWord(textKey)} -t json ` +
    `-e '{"temp":21.5}' coaps://${coapsHost()}/users/${uid}/resources/${rid}/data`
  );
}

/** What names a device in the list: its identity, fingerprint or bound name. */
export function deviceName(c) {
  if (c.mode === 'psk') return c.psk_identity ?? '';
  if (c.mode === 'rpk') return `SHA-256 ${c.rpk_fingerprint ?? ''}`;
  if (c.x509_name) return `${c.x509_name} under a CA`;
  return `pinned certificate SHA-256 ${c.x509_fingerprint ?? ''}`;
}

/** The API's field names as the forms label them. */
const FIELD_LABELS = {
  polling_url: 'Polling URL',
  polling_period: 'Polling period',
  psk_identity: 'PSK identity',
  psk_key: 'PSK key',
  rpk: 'Public key',
  rpk_fingerprint: 'Public key fingerprint',
  x509_certificate: 'Certificate',
  x509_fingerprint: 'Certificate fingerprint',
  x509_name: 'Name',
  x509_ca: 'CA certificate',
};

/** The API's message with its field names said as the form says them (the API's name kept after it). */
export function humanize(message) {
  const text = message
    .replace(/^(body|querystring|params)\//, '')
    .replace(/\b(polling_url|polling_period|psk_identity|psk_key|rpk_fingerprint|rpk|x509_certificate|x509_fingerprint|x509_name|x509_ca)\b/g, (f) => `${FIELD_LABELS[f]} (${f})`);
  return text;
}

// The add-device form: one fieldset per mode; the hidden ones are disabled, so that their
// `required` fields do not block the form and their values are not sent.
export function deviceMode() {
  const mode = $('d-mode').value;
  for (const m of ['psk', 'rpk', 'x509']) {
    $(`d-${m}`).hidden = m !== mode;
    $(`d-${m}`).disabled = m !== mode;
  }
  const ca = $('d-x509-how').value === 'ca';
  $('d-x509-pin').hidden = ca;
  $('d-x509-cert').disabled = ca;
  $('d-x509-ca-fields').hidden = !ca;
  $('d-x509-name').disabled = !ca;
  $('d-x509-ca').disabled = !ca;
}
const isPem = (s) => /^-----BEGIN [A-Z ]+-----/.test(s);

/** A form field the page refuses before asking the server: the message and the field to focus. */
class FormError extends Error {
  constructor(message, field) {
    super(message);
    this.field = field;
  }
}

export function deviceBody() {
  const mode = $('d-mode').value;
  const body = { mode };
  const label = $('d-label').value.trim();
  if (label) body.label = label;
  if (mode === 'psk') {
    body.psk_identity = $('d-psk-identity').value.trim();
    const text = $('d-psk-text').value;
    if (text) {
      const bytes = new TextEncoder().encode(text);
      if (bytes.length < 16 || bytes.length > 64) throw new FormError('The key as text must be 16 to 64 characters.', 'd-psk-text');
      body.psk_key = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
    }
  }
  if (mode === 'rpk') {
    const v = $('d-rpk-value').value.trim();
    if (isPem(v)) body.rpk = v;
    else body.rpk_fingerprint = v.replace(/\s+/g, '');
  }
  if (mode === 'x509' && $('d-x509-how').value === 'ca') {
    body.x509_name = $('d-x509-name').value.trim();
    body.x509_ca = $('d-x509-ca').value.trim();
  } else if (mode === 'x509') {
    const v = $('d-x509-cert').value.trim();
    if (isPem(v)) body.x509_certificate = v;
    else body.x509_fingerprint = v.replace(/\s+/g, '');
  }
  return body;
}
