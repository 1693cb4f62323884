// graphql-http's server audit against a running Atomo: prints one JSON line per audit
// ({id, name, status: "ok" | "warn" | "error", reason}). Usage: node audit.mjs <url of /graphql> <token>
import { serverAudits } from 'graphql-http';

const [url, token] = process.argv.slice(2);
const authorized = (input, init = {}) =>
  fetch(input, { ...init, headers: { ...(init.headers || {}), authorization: `Bearer ${token}` } });
for (const audit of serverAudits({ url, fetchFn: authorized })) {
  const result = await audit.fn();
  console.log(JSON.stringify({ id: audit.id, name: audit.name, status: result.status, reason: result.reason ?? null }));
}
