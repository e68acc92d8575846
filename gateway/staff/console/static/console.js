/* Staff console: the live feed of the /staff socket.io namespace, applied to the page.
   Every value from the server goes in with textContent, never as markup, and no control here
   changes anything: actions are the page's CSRF-protected forms. */
(function () {
  "use strict";

  var page = document.body.dataset.page;
  var liveState = document.getElementById("live-state");

  function setState(state, text) {
    if (liveState) {
      liveState.dataset.state = state;
      liveState.textContent = text;
    }
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function utc(iso) {
    var moment = new Date(iso);
    if (isNaN(moment.getTime())) return String(iso);
    return moment.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function words(node, name) {
    return (node && node.dataset[name] ? node.dataset[name] : "").split(" ").filter(Boolean);
  }

  function badge(verification) {
    if (verification === "unverified") {
      return el("span", "badge badge-unverified", "unverified \u2014 no action possible");
    }
    if (verification === "denied_by_client") {
      return el("span", "badge badge-denied_by_client", "denied by the client \u2014 no action possible");
    }
    return el("span", "badge badge-" + verification, verification);
  }

  function recordDetails(record, fields) {
    if (!record) return el("span", "muted", "no record yet");
    var details = el("details", "record");
    details.appendChild(el("summary", null, (record.kind || "verification") + " record #" + record.record_id));
    var list = el("dl");
    fields.forEach(function (name) {
      var value = record[name];
      list.appendChild(el("dt", null, name));
      list.appendChild(el("dd", null, value === null || value === undefined ? "\u2014" : value));
    });
    details.appendChild(list);
    return details;
  }

  function byTicket(scope, selector, ticket) {
    var found = null;
    scope.querySelectorAll(selector).forEach(function (node) {
      if (node.dataset.ticket === ticket) found = node;
    });
    return found;
  }

  // -- the queue ---------------------------------------------------------------------------

  function queueRow(entry, fields) {
    var row = el("tr", "entry fresh verification-" + entry.verification);
    row.dataset.ticket = entry.ticket;
    row.dataset.verification = entry.verification;
    row.dataset.created = entry.created_at;
    var link = el("a", null, entry.ticket);
    link.href = "/staff/conversations/" + encodeURIComponent(entry.conversation);
    var time = el("time", null, utc(entry.created_at));
    time.dateTime = entry.created_at;
    [
      link,
      entry.intent,
      entry.channel,
      badge(entry.verification),
      entry.service || "\u2014",
      entry.login || "\u2014",
      entry.status,
      time,
      recordDetails(entry.record, fields),
    ].forEach(function (content) {
      var cell = el("td");
      if (content instanceof Node) cell.appendChild(content);
      else cell.textContent = String(content);
      row.appendChild(cell);
    });
    return row;
  }

  function comesBefore(a, b, order) {
    function rank(row) {
      var at = order.indexOf(row.dataset.verification);
      return at < 0 ? order.length : at;
    }
    if (rank(a) !== rank(b)) return rank(a) < rank(b);
    return Date.parse(a.dataset.created) > Date.parse(b.dataset.created);
  }

  function startQueue(socket) {
    var table = document.getElementById("queue");
    var body = table.tBodies[0];
    var empty = document.getElementById("queue-empty");
    var fields = words(table, "recordFields");
    var order = words(table, "order");

    socket.on("request", function (entry) {
      var old = byTicket(body, "tr.entry", entry.ticket);
      if (old) old.remove();
      var finished = entry.status === "closed" || entry.status === "cancelled";
      // A denial stays in sight: someone asked in a client's name.
      if (!finished || entry.verification === "denied_by_client") {
        var row = queueRow(entry, fields);
        var next = null;
        Array.prototype.some.call(body.rows, function (candidate) {
          if (comesBefore(row, candidate, order)) {
            next = candidate;
            return true;
          }
          return false;
        });
        body.insertBefore(row, next);
      }
      empty.hidden = body.rows.length > 0;
    });
  }

  // -- one conversation --------------------------------------------------------------------

  function transcriptLine(message) {
    var line = el("li", "message author-" + message.author);
    line.dataset.id = String(message.id);
    var time = el("time", null, utc(message.ts));
    time.dateTime = message.ts;
    line.appendChild(el("span", "author", message.author === "unproven" ? "unauthenticated sender" : message.author));
    line.appendChild(document.createTextNode(" "));
    line.appendChild(time);
    line.appendChild(el("p", "text", message.text));
    if (message.author === "client" || message.author === "unproven") {
      // A line arriving live is covered by no verification until a reload says otherwise.
      line.className += " uncovered";
      line.dataset.covered = "no";
      line.appendChild(
        el("p", "uncovered-note", "No verification covers this line: do not act on it. Reload to request verification of it.")
      );
    }
    return line;
  }

  function startConversation(socket) {
    var transcript = document.getElementById("transcript");
    var conversation = transcript.dataset.conversation;
    var stage = document.getElementById("stage");
    var requests = document.getElementById("requests");
    var changed = document.getElementById("requests-changed");

    socket.on("message", function (data) {
      if (data.conversation !== conversation) return;
      var seen = Array.prototype.some.call(transcript.children, function (line) {
        return line.dataset.id === String(data.message.id);
      });
      if (!seen) transcript.appendChild(transcriptLine(data.message));
    });
    var fields = words(requests, "recordFields");
    var phone = document.getElementById("phone");

    socket.on("status", function (data) {
      if (data.conversation !== conversation) return;
      stage.textContent = data.stage;
      if (phone) showPhoneStage(phone, data.stage);
    });
    socket.on("request", function (entry) {
      if (entry.conversation !== conversation) return;
      var shown = byTicket(requests, "article.request", entry.ticket);
      if (shown) {
        shown.querySelector(".request-status").textContent = entry.status;
        var old = shown.querySelector("h3 .badge");
        if (old) old.replaceWith(badge(entry.verification));
        var record = shown.querySelector(".request-record");
        if (record) record.replaceChildren(recordDetails(entry.record, fields));
      }
      var actionable = entry.actionable ? "yes" : "no";
      if (!shown || shown.dataset.actionable !== actionable) changed.hidden = false;
    });
    if (phone) startCountdown();
  }

  // -- a phone call: the number to read out, until the caller approves ---------------------

  function showPhoneStage(phone, stage) {
    phone.dataset.stage = stage;
    phone.querySelectorAll("[data-when]").forEach(function (part) {
      part.hidden = part.dataset.when !== stage;
    });
  }

  function startCountdown() {
    var approval = document.getElementById("approval");
    var shown = document.getElementById("approval-countdown");
    if (!approval || !shown) return;
    // Counted from the server's own reckoning at render time, not this machine's clock.
    var ends = Date.now() + 1000 * Number(approval.dataset.secondsLeft || 0);
    function tick() {
      var left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      shown.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
      if (left > 0) return;
      clearInterval(timer);
      approval.hidden = true;
      document.getElementById("approval-expired").hidden = false;
    }
    var timer = setInterval(tick, 1000);
    tick();
  }

  // -- the connection ----------------------------------------------------------------------

  if (page !== "queue" && page !== "conversation") {
    if (liveState) liveState.hidden = true; // nothing on this page updates live
    return;
  }
  if (typeof io !== "function") {
    setState("off", "live updates unavailable");
    return;
  }
  var socket = io("/staff", { path: "/staff/socket.io/" });
  socket.on("connect", function () {
    setState("on", "live");
  });
  socket.on("disconnect", function (reason) {
    if (reason === "io server disconnect") {
      setState("off", "session ended: reload the page to log in again");
    } else {
      setState("off", "disconnected, reconnecting\u2026");
    }
  });
  socket.on("connect_error", function () {
    setState("off", "live updates stopped: reload the page (you may need to log in again)");
  });
  if (page === "queue") startQueue(socket);
  else startConversation(socket);
})();
