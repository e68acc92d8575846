/* The demo Client Panel's page: lists what waits for the logged-in demo client every 2 s and
 * sends their decision. Everything from the server reaches the DOM as text (textContent),
 * never as markup; the decision carries the page's CSRF token in a header. Plain ES2019. */
"use strict";

(() => {
  const REFRESH_MS = 2000;
  const main = document.querySelector("main[data-login]");
  const login = main.getAttribute("data-login");
  const api = main.getAttribute("data-api");
  const csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  const list = document.getElementById("approvals");
  const empty = document.getElementById("empty");
  const notice = document.getElementById("notice");
  const select = document.getElementById("login");
  // approval id → { item, countdown, expires }: kept across refreshes, so typing survives them
  const cards = new Map();
  let unreachable = false;

  select.addEventListener("change", () => select.form.submit());

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    node.append(...children.map((c) => (typeof c === "string" ? document.createTextNode(c) : c)));
    return node;
  }

  function say(text, isError) {
    notice.className = isError ? "notice notice--error" : "notice notice--ok";
    notice.textContent = text;
  }

  function when(iso) {
    const moment = new Date(iso);
    return Number.isNaN(moment.getTime()) ? "" : moment.toLocaleString("en-GB");
  }

  function left(expires) {
    const seconds = Math.max(0, Math.ceil((Date.parse(expires) - Date.now()) / 1000));
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  }

  function row(term, ...value) {
    return [el("dt", {}, term), el("dd", {}, ...value)];
  }

  function card(approval) {
    const requester = approval.requester || {};
    const who = [requester.channel, requester.address].filter(Boolean).join(", ");
    const countdown = el("span", { class: "expires" }, left(approval.expires_at));
    const number = el("input", {
      id: `number-${approval.id}`, class: "number", name: "number", type: "text",
      inputmode: "numeric", autocomplete: "off", maxlength: "6", pattern: "[0-9]*",
      required: "",
    });
    const approve = el("button", { class: "approve", type: "submit" }, "Approve");
    const deny = el("button", { class: "deny", type: "button" }, "This was not me");
    const result = el("p", { class: "result", role: "status" });
    const form = el(
      "form",
      { class: "decide", novalidate: "" },
      el("label", { for: number.id }, "Number shown to you"),
      number,
      approve,
      deny,
      result
    );
    const item = el(
      "article",
      { class: "approval", "data-id": approval.id },
      el("h2", { class: "description" }, String(approval.description || "")),
      el(
        "dl",
        {},
        ...row("Ticket", String(approval.ticket || "")),
        ...row("Channel", String(approval.channel || "")),
        ...row("Requested by", who),
        ...row("Requested at", when(approval.requested_at)),
        ...row("Time left", countdown)
      ),
      el("p", { class: "label" }, "What was written"),
      el("blockquote", { class: "request-text" }, String(approval.request_text || "")),
      form
    );
    const buttons = [approve, deny];
    number.addEventListener("input", () => (result.textContent = ""));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const typed = number.value.replace(/\s+/g, "");
      if (!/^[0-9]{1,6}$/.test(typed)) {
        result.className = "result result--error";
        result.textContent = "Type the number you were shown (digits only).";
        return;
      }
      decide(approval, { login, decision: "approve", number: typed }, result, buttons);
    });
    deny.addEventListener("click", () => {
      decide(approval, { login, decision: "deny" }, result, buttons);
    });
    return { item, countdown, expires: approval.expires_at };
  }

  async function decide(approval, body, result, buttons) {
    buttons.forEach((b) => (b.disabled = true));
    result.className = "result";
    result.textContent = "Sending…";
    let status = 0;
    let answer = {};
    try {
      const response = await fetch(`${api}/approvals/${encodeURIComponent(approval.id)}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body),
        cache: "no-store",
      });
      status = response.status;
      answer = await response.json();
    } catch (_) {
      // no connection, or not JSON: said below
    }
    buttons.forEach((b) => (b.disabled = false));
    const ticket = String(approval.ticket || "");
    if (answer.status === "approved") {
      say(`Approved: ${ticket} is verified and passed to our support team.`, false);
      forget(approval.id);
    } else if (answer.status === "denied") {
      say(`Stopped: ${ticket} was cancelled, and our support team has been told.`, false);
      forget(approval.id);
    } else if (answer.status === "wrong_number") {
      result.className = "result result--error";
      result.textContent =
        `That is not the number you were shown. Attempts left: ${Number(answer.attempts_left)}.`;
    } else if (status === 410) {
      say(`${ticket} can no longer be approved here: it expired or was closed.`, true);
      forget(approval.id);
    } else {
      result.className = "result result--error";
      result.textContent = typeof answer.error === "string" ? answer.error : "Something went wrong.";
    }
    refresh();
  }

  function forget(id) {
    const shown = cards.get(id);
    if (!shown) return;
    shown.item.remove();
    cards.delete(id);
    empty.hidden = cards.size > 0;
  }

  let refreshing = false;
  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try {
      const response = await fetch(`${api}/approvals?login=${encodeURIComponent(login)}`, {
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      const body = await response.json();
      if (!response.ok || !Array.isArray(body.approvals)) throw new Error(String(body.error));
      const listed = new Set(body.approvals.map((approval) => approval.id));
      for (const id of [...cards.keys()]) if (!listed.has(id)) forget(id);
      for (const approval of body.approvals) {
        if (cards.has(approval.id)) continue;
        const shown = card(approval);
        cards.set(approval.id, shown);
        list.append(shown.item);
      }
      empty.hidden = cards.size > 0;
      if (unreachable) say("", false);
      unreachable = false;
    } catch (_) {
      unreachable = true;
      say("Could not load your requests; retrying…", true);
    } finally {
      refreshing = false;
    }
  }

  function tick() {
    for (const shown of cards.values()) shown.countdown.textContent = left(shown.expires);
  }

  refresh();
  setInterval(refresh, REFRESH_MS);
  setInterval(tick, 1000);
})();
