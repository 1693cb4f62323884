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
export { RealtimeClient, createRealtimeClient } from './realtime.js'
export { RealtimeHandle } from './realtime-handle.js'
export type {
  ChannelHandlers, RealtimeMessage, RealtimeOptions, RealtimeSessions, RealtimeState, SessionHandlers, SessionMember,
  SessionState,
} from './realtime.js'
export { createActionsApi, createJobsApi } from './jobs.js'
export type {
  ActionInputOf, ActionMapOf, ActionNameOf, ActionResultOf, ActionsApi, InvokeOptions, InvokeResult, Job, JobFrame,
  JobProgress, JobsApi, JobStatus, WatchOptions,
} from './jobs.js'
// block mutations on Blocks fields (content.md §3–§6)
export { BLOCK_MUTATION_OPS, applyBlockOpsLocally } from './blocks.js'
export type {
  Block, BlockChange, BlockFieldOf, BlockInput, BlockMutationOp, BlockOf, BlockOp, BlockOpResult, BlockOpsChange, BlockPatch,
  BlockRevOptions, BlocksApi, InsertBlockOptions, ModelBlocksApi, MoveBlockOptions, RenderFormat,
} from './blocks.js'
export type { WriteOp } from './operations.js'
// the event store: custom streams (`atomo.events.append / readStream / streams`)
export { createEventStoreApi, STORED_EVENT_FIELDS, STREAM_EVENTS_QUERY } from './event-store.js'
export type {
  AppendEventsOptions, AppendResult, EventsApi, EventStoreApi, NewEvent, ReadStreamOptions, StreamInfo, StreamsOptions,
  StreamTarget, SubscribeEventsOptions,
} from './event-store.js'
// modelChanges over /graphql/ws and the query cache
export { afterMutation, MUTATION_OPS } from './client.js'
export { canonicalJson, createQueryCache, matchesWhere } from './cache.js'
export type { Fetcher, MutationOp, QueryCache, QueryCacheOptions, QueryObserver, QueryOp, QueryState } from './cache.js'
export { createGraphQLWs, subscribeAfterPosition, subscribeModelChanges, MODEL_CHANGES_QUERY } from './graphql-ws.js'
export type {
  GraphQLWsClient, ModelChangesOptions, ModelEvent, ModelEventType, SubscribeRequest, SubscriptionSink,
} from './graphql-ws.js'
// offline queue (sdk.md §7)
export { OfflineHandle } from './offline-handle.js'
export { OfflineQueue, indexedDbOfflineStorage, localStorageOfflineStorage, memoryOfflineStorage, ulid } from './offline.js'
export type {
  ConflictEvent, OfflineCacheHooks, OfflineItem, OfflineOptions, OfflineState, OfflineStorage, RejectedEvent, SyncStatus,
} from './offline.js'
