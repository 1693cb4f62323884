// The admin UI's client of the public API: /auth/*, /meta/schema and /graphql with the admin's token.
// The token and the chosen tenant live in sessionStorage (this tab only, gone when it closes).

const TOKEN = "atomo.admin.token";
const TENANT = "atomo.admin.tenant";

export const session = {
  get token() { return sessionStorage.getItem(TOKEN); },
  set token(value) { value ? sessionStorage.setItem(TOKEN, value) : sessionStorage.removeItem(TOKEN); },
  get tenant() { return sessionStorage.getItem(TENANT) || ""; },
  set tenant(value) { value ? sessionStorage.setItem(TENANT, value) : sessionStorage.removeItem(TENANT); },
};

export class ApiError extends Error {
  constructor(message, status, code, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;   // VALIDATION_ERROR: [{field, message, code}]
  }
  get unauthenticated() { return this.status === 401 || this.code === "UNAUTHENTICATED"; }
}

function failure(body, response) {
  const rest = body && body.error;
  if (rest) return new ApiError(rest.message || response.statusText, response.status, rest.code);
  const gql = body && Array.isArray(body.errors) && body.errors[0];
  if (gql) return new ApiError(gql.message, response.status, gql.extensions && gql.extensions.code);
  return new ApiError(`HTTP ${response.status} ${response.statusText}`, response.status);
}

// `tenant`: send the chosen tenant as X-Tenant-ID (data requests only; never on /auth/*)
export async function request(method, path, body, token = session.token, tenant = false) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  if (token && tenant && session.tenant) headers["X-Tenant-ID"] = session.tenant;
  const response = await fetch(path, {
    method, headers, cache: "no-store", credentials: "omit",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch { /* empty or not JSON */ }
  if (!response.ok) throw failure(data, response);
  return data;
}

export async function gql(query, variables) {
  const body = await request("POST", "/graphql", { query, variables }, session.token, true);
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const ext = first.extensions || {};
    throw new ApiError(body.errors.map((e) => e.message).join("; "), 200, ext.code, ext.details);
  }
  return body.data;
}

// Live updates: a graphql-transport-ws subscription to modelChanges(model) on /graphql/ws (one operation per model
// when `model` is a list, on the same socket; GRAPHQL_WS_MAX_OPERATIONS is 100 by default); `onEvent` gets each
// event. Reconnects with backoff (0.5 s doubling to 15 s) unless the server refused
// the session (4403) or the returned function closed it. `onState(true|false)`: subscribed or not.
export function live(model, onEvent, onState = () => {}) {
  const models = [model].flat().slice(0, 100);
  let ws = null;
  let closed = false;
  let delay = 500;
  let timer = null;
  const send = (frame) => ws && ws.readyState === 1 && ws.send(JSON.stringify(frame));
  const open = () => {
    if (closed || !session.token) return;
    ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql/ws`, "graphql-transport-ws");
    ws.onopen = () => {
      const payload = { authorization: `Bearer ${session.token}` };
      if (session.tenant) payload.tenant = session.tenant;
      send({ type: "connection_init", payload });
    };
    ws.onmessage = (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch { return; }
      if (frame.type === "connection_ack") {
        delay = 500;
        models.forEach((m, i) => send({ id: String(i + 1), type: "subscribe", payload: { variables: { model: m },
          query: `subscription Live($model: String!) { modelChanges(model: $model) { eventType modelName position } }` } }));
        onState(true);
      } else if (frame.type === "next") onEvent(frame.payload && frame.payload.data && frame.payload.data.modelChanges);
      else if (frame.type === "ping") send({ type: "pong" });
    };
    ws.onclose = (event) => {
      ws = null;
      if (closed) return;
      onState(false);
      if (event.code === 4403) return;
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 15000);
    };
  };
  open();
  return () => {
    closed = true;
    clearTimeout(timer);
    if (ws) ws.close(1000);
    onState(false);
  };
}
