/* The support gateway's chat widget: a launcher button and a chat panel in a Shadow DOM root.
 *
 * This file is the body of a function in the bundle that GET /widget.js serves (see
 * chat/widget.py): `io` (the socket.io client) and `WIDGET_CSS` are that function's parameters,
 * so nothing here becomes a global of the host page. No build step: plain ES2019.
 *
 * Security rules this file keeps:
 * - everything the server sends reaches the DOM as text (textContent / text nodes), never as
 *   markup, so a message "<img src=x onerror=...>" is shown as those characters;
 * - one-time codes go only through the masked form as a `credentials` event, never as chat text,
 *   and the code field is emptied as soon as it is sent;
 * - no inline style attributes or <style> elements (unless the browser lacks constructable
 *   stylesheets), so the widget runs under a strict Content-Security-Policy.
 */
"use strict";

const script = document.currentScript;
const GATEWAY = script && script.src ? new URL(script.src, document.baseURI).origin : null;
const LANGUAGE = script && /^en\b/i.test(script.getAttribute("data-language") || "") ? "en" : "pl";
const STORAGE_KEY = `support-gateway:${GATEWAY}`;
const ACK_TIMEOUT_MS = 15000;
const STAGES = ["open", "identify", "authenticate", "verified", "locked", "closed"];
const AUTHORS = ["bot", "staff", "client"];

const STRINGS = {
  pl: {
    launcher: "Napisz do nas",
    unread: "nowe wiadomości",
    title: "Pomoc techniczna",
    subtitle: "Bezpieczny czat z obsługą klienta",
    close: "Zamknij czat",
    log: "Wiadomości rozmowy",
    who: { bot: "Asystent", staff: "Konsultant", client: "Ty" },
    state: {
      connecting: "Łączenie…",
      offline: "Brak połączenia — ponawiam…",
      refused: "Nie udało się połączyć z czatem. Spróbuj później.",
      open: "Rozmowa w toku",
      identify: "Weryfikacja: podaj usługę",
      authenticate: "Weryfikacja: login i kod z Panelu Klienta",
      verified: "Zweryfikowano — przekazano konsultantowi",
      locked: "Zablokowano po zbyt wielu nieudanych próbach",
      closed: "Rozmowa zakończona",
    },
    ticket: "Zgłoszenie",
    message: "Twoja wiadomość",
    placeholder: "Napisz wiadomość…",
    send: "Wyślij",
    keys: "Enter wysyła, Shift+Enter zaczyna nową linię.",
    sending: "Wysyłanie…",
    verifyTitle: "Potwierdź zgłoszenie",
    verifyHelp:
      "Podaj login i jednorazowy kod z Panelu Klienta. Kod nie jest zapisywany w rozmowie.",
    login: "Login",
    code: "Kod jednorazowy",
    confirm: "Potwierdź",
    approval: "Albo zatwierdź je w Panelu Klienta:",
    approvalLeft: "ważny jeszcze {time}",
    confirmed: "Dziękujemy, zgłoszenie zostało potwierdzone.",
    refusedCode:
      "Nie udało się potwierdzić zgłoszenia tym loginem i kodem. Sprawdź je i spróbuj ponownie.",
    ended: "Ta rozmowa została zakończona.",
    restart: "Nowa rozmowa",
    errors: {
      "too long": "Nie wysłano: wiadomość jest za długa. Skróć ją, proszę.",
      "rate limited":
        "Nie wysłano: zbyt wiele wiadomości naraz. Odczekaj chwilę i spróbuj ponownie.",
      closed: "Nie wysłano: ta rozmowa jest już zakończona.",
      empty: "Wpisz treść wiadomości.",
      "login and code are required": "Podaj login i kod.",
      offline: "Nie wysłano: brak połączenia. Spróbuj ponownie za chwilę.",
      timeout: "Serwer nie odpowiedział. Spróbuj ponownie.",
      other: "Coś poszło nie tak. Spróbuj ponownie za chwilę.",
    },
  },
  en: {
    launcher: "Chat with us",
    unread: "new messages",
    title: "Customer support",
    subtitle: "Secure chat with our support team",
    close: "Close chat",
    log: "Conversation messages",
    who: { bot: "Assistant", staff: "Consultant", client: "You" },
    state: {
      connecting: "Connecting…",
      offline: "Connection lost — retrying…",
      refused: "Could not connect to the chat. Please try again later.",
      open: "Conversation open",
      identify: "Verification: name your service",
      authenticate: "Verification: login and code from the Client Panel",
      verified: "Verified — passed to a consultant",
      locked: "Locked after too many failed attempts",
      closed: "Conversation closed",
    },
    ticket: "Ticket",
    message: "Your message",
    placeholder: "Type a message…",
    send: "Send",
    keys: "Enter sends, Shift+Enter starts a new line.",
    sending: "Sending…",
    verifyTitle: "Confirm your request",
    verifyHelp:
      "Enter your Client Panel login and the one-time code shown there. " +
      "The code is not kept in the conversation.",
    login: "Login",
    code: "One-time code",
    confirm: "Confirm",
    approval: "Or approve it in your Client Panel:",
    approvalLeft: "valid for {time}",
    confirmed: "Thank you, your request has been confirmed.",
    refusedCode:
      "We could not confirm the request with that login and code. Please check them and try again.",
    ended: "This conversation has ended.",
    restart: "New conversation",
    errors: {
      "too long": "Not sent: the message is too long. Please shorten it.",
      "rate limited": "Not sent: too many messages at once. Please wait a moment and try again.",
      closed: "Not sent: this conversation has already ended.",
      empty: "Please type a message.",
      "login and code are required": "Please enter both the login and the code.",
      offline: "Not sent: no connection. Please try again in a moment.",
      timeout: "The server did not answer. Please try again.",
      other: "Something went wrong. Please try again in a moment.",
    },
  },
};
const T = STRINGS[LANGUAGE];

// -- small DOM helpers: attributes via setAttribute, text via text nodes, never markup ------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== false && value !== null && value !== undefined) {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  node.append(...children.map((c) => (typeof c === "string" ? document.createTextNode(c) : c)));
  return node;
}

function chatIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(ns, "path");
  path.setAttribute(
    "d",
    "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z" +
      "m3 6v2h2V9H7zm4 0v2h2V9h-2zm4 0v2h2V9h-2z"
  );
  svg.append(path);
  return svg;
}

function errorText(code) {
  return T.errors[code] || T.errors.other;
}

function clockTime(ts) {
  const when = new Date(ts);
  if (Number.isNaN(when.getTime())) return null;
  return when.toLocaleTimeString(LANGUAGE === "pl" ? "pl-PL" : "en-GB", {
    hour: "2-digit",
    minute: "2-digit",
  });
}

// -- the resume token, per gateway origin, for this browser tab only -----------------------

function saved() {
  try {
    return JSON.parse(window.sessionStorage.getItem(STORAGE_KEY) || "{}") || {};
  } catch (_) {
    return {}; // storage disabled or corrupt: behave as a first visit
  }
}

function remember(patch) {
  try {
    window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ ...saved(), ...patch }));
  } catch (_) {
    // without storage a reload starts a new conversation; nothing else breaks
  }
}

function forgetConversation() {
  remember({ conversation: null, token: null, read: 0 });
}

// -- the widget --------------------------------------------------------------------------

function mount() {
  const host = el("div", { "data-support-gateway": GATEWAY });
  const root = host.attachShadow({ mode: "open" });
  adoptStyles(root);

  const unread = el("span", { class: "sr-only" }, T.unread);
  const badge = el("span", { class: "badge", hidden: true }, unread);
  const launcher = el(
    "button",
    { class: "launcher", type: "button", "aria-expanded": "false", "aria-controls": "panel" },
    chatIcon(),
    el("span", {}, T.launcher),
    badge
  );
  const closeButton = el("button", { class: "close", type: "button", "aria-label": T.close }, "×");
  const stageText = el("span", { class: "stage", role: "status" });
  const ticketText = el("span", { class: "ticket", hidden: true });
  const state = el("div", { class: "state" }, stageText, ticketText);
  const log = el("div", {
    class: "log", role: "log", "aria-live": "polite", "aria-label": T.log, tabindex: "0",
  });

  const loginInput = el("input", {
    id: "login", name: "login", type: "text", autocomplete: "username",
    autocapitalize: "none", spellcheck: "false", maxlength: "128", required: true,
  });
  const codeInput = el("input", {
    id: "code", name: "code", type: "password", autocomplete: "one-time-code",
    inputmode: "numeric", maxlength: "128", required: true,
  });
  const confirmButton = el("button", { class: "primary", type: "submit" }, T.confirm);
  const formNote = el("p", { class: "form-note", role: "status" });
  // Contract section 11: the number binds a panel approval to this conversation. Not a secret,
  // but from the server, so text like everything else; the countdown is not a live region.
  const approvalNumber = el("strong", { class: "approval-number" });
  const approvalLeft = el("span", { class: "approval-left" });
  const approvalLine = el(
    "p",
    { class: "approval", hidden: true },
    el("span", {}, T.approval),
    " ",
    approvalNumber,
    " ",
    approvalLeft
  );
  const verifyForm = el(
    "form",
    { class: "verify", hidden: true, "aria-labelledby": "verify-title", novalidate: true },
    el("h3", { id: "verify-title" }, T.verifyTitle),
    el("p", {}, T.verifyHelp),
    el(
      "div",
      { class: "fields" },
      el("div", { class: "field" }, el("label", { for: "login" }, T.login), loginInput),
      el("div", { class: "field" }, el("label", { for: "code" }, T.code), codeInput),
      confirmButton
    ),
    approvalLine,
    formNote
  );

  const textInput = el("textarea", {
    id: "text", name: "text", rows: "2", placeholder: T.placeholder, "aria-describedby": "keys",
  });
  const sendButton = el("button", { class: "primary", type: "submit" }, T.send);
  const composer = el(
    "form",
    { class: "composer", novalidate: true },
    el("label", { class: "sr-only", for: "text" }, T.message),
    el("span", { class: "sr-only", id: "keys" }, T.keys),
    textInput,
    sendButton
  );
  const restartButton = el("button", { class: "primary", type: "button" }, T.restart);
  const ended = el("div", { class: "ended", hidden: true }, el("span", {}, T.ended), restartButton);

  const panel = el(
    "section",
    {
      class: "panel", id: "panel", role: "dialog", "aria-modal": "false",
      "aria-labelledby": "title", hidden: true,
    },
    el(
      "header",
      { class: "header" },
      el("div", { class: "titles" }, el("h2", { id: "title" }, T.title), el("p", {}, T.subtitle)),
      closeButton
    ),
    state,
    log,
    verifyForm,
    composer,
    ended
  );
  root.append(el("div", { class: "root", lang: LANGUAGE }, launcher, panel));
  document.body.append(host);

  // -- conversation state ----------------------------------------------------------------

  const seen = new Set(); // message ids already shown: the server re-sends the transcript on resume
  let socket = null;
  let connection = "connecting"; // connecting | online | offline | refused
  let stage = "open";
  let ticket = null;
  let approval = null; // { number, expires } while the server says a challenge is pending
  let countdown = null;

  function render() {
    const shown = connection === "online" ? stage : connection;
    state.setAttribute("data-stage", shown);
    stageText.textContent = T.state[shown];
    ticketText.hidden = !ticket;
    ticketText.textContent = ticket ? `${T.ticket} ${ticket}` : "";
    const asking = connection === "online" && stage === "authenticate";
    if (verifyForm.hidden === asking) {
      verifyForm.hidden = !asking;
      scrollToEnd(); // the form takes room from the log: keep the bot's latest words in view
    }
    renderApproval();
    const closed = stage === "closed";
    textInput.disabled = closed;
    sendButton.disabled = closed;
    ended.hidden = !closed;
  }

  function renderApproval() {
    const left = approval ? Math.ceil((approval.expires - Date.now()) / 1000) : 0;
    if (left <= 0) {
      approval = null; // expired here too: the panel would refuse it now
      approvalLine.hidden = true;
      if (countdown !== null) clearInterval(countdown);
      countdown = null;
      return;
    }
    approvalNumber.textContent = approval.number;
    const clock = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    approvalLeft.textContent = T.approvalLeft.replace("{time}", clock);
    approvalLine.hidden = false;
    if (countdown === null) countdown = setInterval(renderApproval, 1000);
  }

  function pendingApproval(status) {
    const offered = status.stage === "authenticate" ? status.approval : null;
    if (!offered || typeof offered !== "object") return null;
    const expires = typeof offered.expires_at === "string" ? Date.parse(offered.expires_at) : NaN;
    const valid = typeof offered.number === "string" && /^[0-9]{1,6}$/.test(offered.number);
    return valid && !Number.isNaN(expires) ? { number: offered.number, expires } : null;
  }

  function isOpen() {
    return !panel.hidden;
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function markRead(id) {
    if (typeof id === "number" && id > (saved().read || 0)) remember({ read: id });
  }

  function messageItem(author, text, ts) {
    // The conversation's first bot message is the notice that it is recorded: set it apart.
    const notice = author === "bot" && log.childElementCount === 0;
    const item = el("div", { class: `msg msg--${author}${notice ? " msg--notice" : ""}` });
    item.append(el("span", { class: author === "staff" ? "who" : "who sr-only" }, T.who[author]));
    item.append(el("p", { class: "text" }, text));
    const time = ts && clockTime(ts);
    if (time) item.append(el("time", { datetime: ts }, time));
    return item;
  }

  function showMessage(message) {
    if (!message || typeof message.text !== "string" || !AUTHORS.includes(message.author)) return;
    if (seen.has(message.id)) return;
    seen.add(message.id);
    log.append(messageItem(message.author, message.text, message.ts));
    scrollToEnd();
    if (isOpen()) markRead(message.id);
    else if (message.author !== "client" && message.id > (saved().read || 0)) badge.hidden = false;
  }

  function showStatus(status) {
    if (!status || typeof status !== "object") return;
    if (status.conversation && status.token) {
      remember({ conversation: status.conversation, token: status.token });
    }
    stage = STAGES.includes(status.stage) ? status.stage : "open";
    ticket = typeof status.ticket === "string" ? status.ticket : null;
    approval = pendingApproval(status);
    render();
  }

  function note(item, text, isError) {
    let line = item.querySelector(".note");
    if (!line) item.append((line = el("span", { class: "note" })));
    line.className = isError ? "note note--error" : "note";
    line.textContent = text;
  }

  // -- talking to the gateway ------------------------------------------------------------

  function connect() {
    if (socket) {
      if (!socket.active) socket.connect(); // `active`: connected, or socket.io is retrying
      return;
    }
    socket = io(`${GATEWAY}/chat`, {
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      // Asked on every (re)connect: resume while we hold a token, else open a new conversation.
      auth: (reply) => {
        const { conversation, token } = saved();
        reply(conversation && token ? { conversation, token } : { language: LANGUAGE });
      },
    });
    socket.on("connect", () => {
      connection = "online";
      render();
    });
    socket.on("disconnect", (reason) => {
      connection = "offline";
      render();
      // The server ended the session itself: socket.io leaves reconnecting to us.
      if (reason === "io server disconnect") setTimeout(() => socket.connect(), 3000);
    });
    socket.on("connect_error", () => {
      if (socket.active) {
        connection = "offline"; // a network or transport failure: socket.io retries by itself
      } else if (saved().token) {
        // The server refused our resume token (expired, or from another gateway's database):
        // drop it and start afresh, at once if the panel is open, else when it is opened.
        startOver();
        return;
      } else {
        connection = "refused";
      }
      render();
    });
    socket.on("status", showStatus);
    socket.on("message", showMessage);
  }

  function startOver() {
    socket.disconnect();
    forgetConversation();
    seen.clear();
    log.replaceChildren();
    stage = "open";
    ticket = null;
    approval = null;
    connection = "connecting";
    render();
    if (isOpen()) socket.connect();
  }

  function sendText() {
    const text = textInput.value;
    if (!text.trim() || stage === "closed") return;
    textInput.value = "";
    const item = messageItem("client", text, new Date().toISOString());
    log.append(item);
    scrollToEnd();
    const failed = (reason) => {
      note(item, errorText(reason), true);
      if (!textInput.value) textInput.value = text; // give the text back to edit and resend
    };
    // While the first connection is being made, socket.io holds the message and sends it on
    // connect (and drops it from its buffer if the ack times out, so a resend cannot double it).
    // Once a connection was lost, the visitor is told at once instead.
    if (!socket || (!socket.connected && connection !== "connecting")) {
      failed("offline");
      return;
    }
    note(item, T.sending, false);
    socket.timeout(ACK_TIMEOUT_MS).emit("message", { text }, (timedOut, ack) => {
      if (timedOut) return failed("timeout");
      if (!ack || ack.id === undefined || ack.id === null) return failed(ack && ack.error);
      if (seen.has(ack.id)) {
        item.remove(); // a resumed transcript already showed it while we waited for the ack
        return;
      }
      seen.add(ack.id);
      markRead(ack.id);
      item.querySelector(".note").remove();
    });
  }

  function sendCredentials() {
    const login = loginInput.value.trim();
    const code = codeInput.value.replace(/\s+/g, "");
    codeInput.value = ""; // a code is single-use: never leave it sitting in the page
    formNote.className = "form-note form-note--error";
    if (!login || !code) {
      formNote.textContent = T.errors["login and code are required"];
      return;
    }
    if (!socket || !socket.connected) {
      formNote.textContent = T.errors.offline;
      return;
    }
    formNote.textContent = "";
    confirmButton.disabled = true;
    socket.timeout(ACK_TIMEOUT_MS).emit("credentials", { login, code }, (timedOut, ack) => {
      confirmButton.disabled = false;
      if (timedOut) formNote.textContent = T.errors.timeout;
      else if (ack && ack.ok === true) {
        formNote.className = "form-note form-note--ok";
        formNote.textContent = T.confirmed;
      } else formNote.textContent = ack && ack.error ? errorText(ack.error) : T.refusedCode;
    });
  }

  // -- opening and closing ---------------------------------------------------------------

  function open(focus = true) {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    badge.hidden = true;
    remember({ open: true });
    connect();
    const ids = [...seen].filter((id) => typeof id === "number");
    if (ids.length) markRead(Math.max(...ids));
    scrollToEnd();
    if (focus) (verifyForm.hidden ? textInput : loginInput).focus();
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    remember({ open: false });
    launcher.focus();
  }

  launcher.addEventListener("click", () => (isOpen() ? close() : open()));
  closeButton.addEventListener("click", close);
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      close();
    }
  });
  textInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendText();
    }
  });
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    sendText();
  });
  verifyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    sendCredentials();
  });
  restartButton.addEventListener("click", () => {
    startOver();
    textInput.focus();
  });

  render();
  // Connect at once only to resume: a visitor who never opens the chat opens no conversation.
  const previous = saved();
  if (previous.token) connect();
  if (previous.open) open(false);
}

function adoptStyles(root) {
  // Constructable stylesheets are not inline styles, so a strict CSP (no 'unsafe-inline') allows
  // them; the <style> fallback is only for browsers without them.
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(WIDGET_CSS);
    root.adoptedStyleSheets = [sheet];
  } catch (_) {
    root.append(el("style", {}, WIDGET_CSS));
  }
}

function alreadyMounted() {
  return [...document.querySelectorAll("[data-support-gateway]")].some(
    (node) => node.getAttribute("data-support-gateway") === GATEWAY
  );
}

if (GATEWAY && !alreadyMounted()) {
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount, { once: true });
}
