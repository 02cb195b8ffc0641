/** Clients of the relay: the WebSocket transport for the protocol and the HTTP chunk store. */
export {
  type WebSocketConstructor,
  type WebSocketLike,
  type WebSocketTransportOptions,
  createWebSocketTransport,
} from "./websocket-transport.js";
export {
  HTTP_BLOB_MAX_BYTES,
  HttpBlobStore,
  type HttpBlobStoreOptions,
} from "./http-blob-store.js";
