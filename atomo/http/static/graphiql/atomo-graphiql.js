/* Atomo: start GraphiQL against the endpoints named on #graphiql (no inline script, CSP friendly). */
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  var endpoint = new URL(root.getAttribute("data-endpoint") || "/graphql", window.location.href);
  var ws = new URL(root.getAttribute("data-ws-endpoint") || "/graphql/ws", window.location.href);
  ws.protocol = ws.protocol === "https:" ? "wss:" : "ws:";
  var fetcher = GraphiQL.createFetcher({ url: endpoint.href, subscriptionUrl: ws.href });
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: false,
      defaultQuery: root.getAttribute("data-default-query") || undefined,
    })
  );
})();
