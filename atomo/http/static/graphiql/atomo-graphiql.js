/* Atomo: start GraphiQL against the endpoints named on #graphiql, and run the log-in bar (#atomo-login),
   which puts {"Authorization": "Bearer <token>"} into the Headers editor. No inline script (CSP friendly);
   the token stays in memory (headers are not persisted). */
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  var endpoint = new URL(root.getAttribute("data-endpoint") || "/graphql", window.location.href);
  var ws = new URL(root.getAttribute("data-ws-endpoint") || "/graphql/ws", window.location.href);
  ws.protocol = ws.protocol === "https:" ? "wss:" : "ws:";
  var fetcher = GraphiQL.createFetcher({ url: endpoint.href, subscriptionUrl: ws.href });
  var reactRoot = ReactDOM.createRoot(root);
  var headersText = "";        // what the Headers editor holds
  var headersProp;             // a new value here is written into the Headers editor by GraphiQL

  function render() {
    reactRoot.render(
      React.createElement(GraphiQL, {
        fetcher: fetcher,
        defaultEditorToolsVisibility: "headers",
        shouldPersistHeaders: false,
        defaultQuery: root.getAttribute("data-default-query") || undefined,
        headers: headersProp,
        onEditHeaders: function (value) { headersText = value; },
      })
    );
  }

  // Soft-wrap long lines in every editor (CodeMirror 5 keeps its instance on the .CodeMirror element),
  // so narrow windows show whole lines instead of cutting them.
  function wrapLines() {
    var editors = root.querySelectorAll(".CodeMirror");
    for (var i = 0; i < editors.length; i++) {
      var cm = editors[i].CodeMirror;
      if (cm && !cm.getOption("lineWrapping")) cm.setOption("lineWrapping", true);
    }
  }
  new MutationObserver(function (records) {
    for (var i = 0; i < records.length; i++) {
      var added = records[i].addedNodes;
      for (var j = 0; j < added.length; j++) {
        if (added[j].nodeType === 1 && added[j].classList.contains("CodeMirror")) {
          wrapLines();
          return;
        }
      }
    }
  }).observe(root, { childList: true, subtree: true });

  // The headers editor's JSON with Authorization replaced (other headers kept when it is a JSON object).
  function withToken(text, token) {
    var headers = {};
    try {
      var parsed = JSON.parse(text);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) headers = parsed;
    } catch (e) { /* empty or not JSON: start afresh */ }
    Object.keys(headers).forEach(function (name) {
      if (name.toLowerCase() === "authorization") delete headers[name];
    });
    headers.Authorization = "Bearer " + token;
    return JSON.stringify(headers, null, 2);
  }

  function duration(seconds) {
    if (!(seconds > 0)) return "";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    return Math.round(seconds / 3600) + " h";
  }

  function loginBar(form) {
    var status = document.getElementById("atomo-login-status");
    var button = form.querySelector("button");
    var url = new URL(form.getAttribute("action") || "/auth/login", window.location.href);
    function say(text, kind) {
      status.textContent = text;
      status.className = "atomo-login-status" + (kind ? " " + kind : "");
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var email = form.elements.email.value.trim();
      button.disabled = true;
      say("Logging in\u2026", "");
      fetch(url.href, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ email: email, password: form.elements.password.value }),
      })
        .then(function (response) {
          return response.json().catch(function () { return null; }).then(function (body) {
            if (!response.ok || !body || typeof body.token !== "string") {
              var error = body && body.error && body.error.message;
              throw new Error(error || "HTTP " + response.status);
            }
            return body;
          });
        })
        .then(function (body) {
          headersProp = withToken(headersText, body.token);
          headersText = headersProp;
          render();
          form.elements.password.value = "";
          var user = body.user || {};
          var valid = duration(body.expires_in);
          say("Logged in as " + (user.email || email) + (user.role ? " (" + user.role + ")" : "") +
              ". The token is in the Headers tab" + (valid ? ", valid for " + valid : "") + ".", "ok");
        })
        .catch(function (error) { say("Log-in failed: " + error.message, "error"); })
        .finally(function () { button.disabled = false; });
    });
  }

  render();
  var form = document.getElementById("atomo-login");
  if (form) loginBar(form);
})();
