"""The server as an OAuth 2.1 resource server (`--auth-issuer`): it checks access tokens, it issues none.

- `discovery`: the issuer's metadata (RFC 8414, or OIDC discovery) and its signing keys (JWKS);
- `verifier`: `JwtVerifier`, the SDK's `TokenVerifier` for RFC 9068 JWT access tokens;
- `resource`: the HTTP side: authentication, the 401 and 403 answers, the RFC 9728 metadata.

Imported only when `--auth-issuer` is set: stdio and the static bearer token never load
the JOSE library. Which tool needs which scope lives in `snapshot_mcp.scopes`.
"""
