// Subscribes to modelChanges with the graphql-ws client and prints each result as one JSON line.
// Usage: node subscribe.mjs <ws url> <token> <model> <count>
// Prints READY once the server has registered the subscription (a query sent after it was answered:
// the server handles the messages of one socket in order), then exits after <count> results.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, model, count] = process.argv.slice(2);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  lazy: false,
  retryAttempts: 0,
});
const timer = setTimeout(() => { console.error('timed out'); process.exit(2); }, 30000);
let received = 0;
const done = new Promise((resolve, reject) => {
  client.subscribe(
    {
      query: 'subscription Watch($m: String!) { modelChanges(model: $m) { eventType modelName position data previousData } }',
      variables: { m: model },
    },
    {
      next: (value) => {
        console.log(JSON.stringify(value));
        received += 1;
        if (received >= Number(count)) resolve();
      },
      error: (err) => reject(err),
      complete: () => resolve(),
    },
  );
});
await new Promise((resolve, reject) => {
  client.subscribe({ query: '{ __typename }' }, { next: () => {}, error: reject, complete: resolve });
});
console.log('READY');
try {
  await done;
} catch (err) {
  console.error('subscription failed', JSON.stringify(err));
  process.exit(1);
}
clearTimeout(timer);
await client.dispose();
process.exit(0);
