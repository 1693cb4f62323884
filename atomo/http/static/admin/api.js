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
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
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
    throw new ApiError(body.errors.map((e) => e.message).join("; "), 200, first.extensions && first.extensions.code);
  }
  return body.data;
}
