// A real OpenID provider (panva's oidc-provider) on a free loopback port, for the OAuth tests.
//
//   node provider.mjs CONFIG.json
//
// CONFIG holds the resource (the MCP server's URL), the signing keys (private JWKs, the
// first signs) and the clients (id, secret, allowed scopes). Clients use the
// client-credentials grant; access tokens are RFC 9068 JWTs for the requested resource
// (or the configured one). Once listening, one JSON line goes to stdout: {"issuer": ...}.
//
// Two test-only controls, outside the provider's own routes:
//   POST /__test/clock?offset=SECONDS   shift the provider's clock (tokens issued in the past or future)
//   POST /__test/keys (JSON {"keys": [...]})   sign with new keys from now on (a rotation)
import { readFileSync } from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const ALL_SCOPES = 'snapshots:read snapshots:write snapshots:delete';

let offsetSeconds = 0;
const realNow = Date.now;
Date.now = () => realNow() + offsetSeconds * 1000;

function build(issuer, keys) {
  const provider = new Provider(issuer, {
    clients: config.clients.map((client) => ({
      client_id: client.client_id,
      client_secret: client.client_secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: client.scope,
      token_endpoint_auth_method: 'client_secret_post',
    })),
    jwks: { keys },
    scopes: ['openid', ...ALL_SCOPES.split(' ')],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => config.resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator) => ({
          scope: ALL_SCOPES,
          audience: resourceIndicator,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  });
  return provider.callback();
}

function readBody(req) {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(body));
  });
}

let issuer;
let handle;
const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  if (req.method === 'POST' && url.pathname === '/__test/clock') {
    offsetSeconds = Number(url.searchParams.get('offset') || 0);
    res.end('ok');
    return;
  }
  if (req.method === 'POST' && url.pathname === '/__test/keys') {
    handle = build(issuer, JSON.parse(await readBody(req)).keys);
    res.end('ok');
    return;
  }
  handle(req, res);
});

server.listen(0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  handle = build(issuer, config.keys);
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
