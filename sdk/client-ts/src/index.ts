export { createClient, camelCase } from './client.js'
export type {
  AtomoClient, AtomoClientBase, AuthResult, AuthUser, ClientOptions, MetaField, MetaModel, MetaSchema, ModelHandle,
  RegisterInput, RequestOptions,
} from './client.js'
export { AtomoError } from './errors.js'
export { createTransport } from './transport.js'
export type { CallOptions, ResetReason, Sent, Transport, WebSocketFactory, WebSocketLike } from './transport.js'
export type { AtomoErrorInit, ClientErrorCode } from './errors.js'
export { localStorageTokenStore, memoryTokenStore } from './tokens.js'
export type { TokenStore, Tokens } from './tokens.js'
export type {
  AtomoTypesLike, CreateOf, FieldKeys, JsonFilter, ListOptions, ModelNameOf, NumberFilter, OrderBy, Page, PageInfo,
  RecordOf, StoredEvent, Target, TextFilter, TypedClients, TypedModelClient, Untyped, UpdateOf, Where, WithTypedApi,
} from './types.js'
