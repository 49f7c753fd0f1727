// CoCalcFrame's front end (an anywidget module; plain ES module, no build step).
//
// The Relay below owns the command queue next to the CoCalc IFrame. It has no DOM dependency so
// that `node --test js/` can drive it with a fake window. The anywidget `render` glues it to the
// model: one custom message per command each way (see cocalc_widgets/frame.py).
//
// Security: every postMessage targets the CoCalc origin (never "*"); a message is accepted only
// if event.source is our IFrame's window AND event.origin is the CoCalc origin, and replies are
// checked for shape.
//
// Permissions: every IFrame gets the model's `allow` attribute before its first navigation
// (applyAllow); a fullscreen button on the status line puts the whole frame in fullscreen.
//
// Modes: "bridge" (CoCalc's IFrame bridge answers the commands, in kiosk mode), "navigate" (no
// bridge: `open` and `closeall` load CoCalc's plain file URLs in the IFrame, `status` is answered
// from what the frame knows) and "connecting" (mode "auto" while it waits up to bridge_wait for
// the bridge's first answer; then it stays in bridge mode or falls back, once, to navigate).
//
// The frame's own file: when the bridge answers and that file is not among its `open_files`
// (CoCalc's kiosk page that never opens its URL target, upstream #8527), the relay opens it
// through the bridge, once per frame, before it reports ready (no extra message to Python).
//
// Memory: when mode "auto" fell back because the bridge never answered, the view remembers it
// in the browser's localStorage, per CoCalc origin (the key names the origin; the value is the
// origin and a time, nothing else), for NO_BRIDGE_MEMORY_MS; later frames in mode "auto" then
// start in navigate mode at once. A bridge that answers clears it; mode "bridge" always tries.

// The one protocol with the Python side (cocalc_widgets/frame.py's Kind): the `kind` of each
// custom message, 2 from Python and 7 to it.
export const FROM_PYTHON = Object.freeze({ SETUP: "setup", CMD: "cmd" });
export const TO_PYTHON = Object.freeze({
  HELLO: "hello",
  BYE: "bye",
  STATE: "state",
  MODE: "mode",
  ACK: "ack",
  REPLY: "reply",
  LOG: "log",
});

export const POLL_MS = 300;
export const ACK_DELAY_MS = 250;
export const SLOW_READY_MS = 8000;
export const BRIDGE_WAIT_MS = 10000;
/** How long the frame's own file may take to open through the bridge before it is ready anyway. */
export const HOME_OPEN_MS = 30000;
/** How long a browser remembers that a CoCalc origin's bridge did not answer (one hour). */
export const NO_BRIDGE_MEMORY_MS = 3600000;
export const NO_BRIDGE_KEY_PREFIX = "cocalc-widgets:no-bridge:";
const NAVIGATE_ACTIONS = new Set(["open", "closeall", "status"]);

export function isPlainObject(x) {
  if (x === null || typeof x !== "object" || Array.isArray(x)) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

const STATUSES = new Set(["ack", "done", "error"]);

/** A reply of CoCalc's IFrame bridge: {status: ack|done|error, mesg?, action?, path?, ...}. */
export function isReply(d) {
  if (!isPlainObject(d) || !STATUSES.has(d.status)) return false;
  for (const k of ["mesg", "action", "path", "project_id"]) {
    if (k in d && d[k] !== undefined && typeof d[k] !== "string") return false;
  }
  for (const k of ["connection", "open_files"]) {
    if (k in d && d[k] !== undefined && !isPlainObject(d[k])) return false;
  }
  return true;
}

/** CoCalc's unsolicited {source: "cocalc-project-log", payload: {project_log: {...}}}. */
export function isProjectLog(d) {
  return (
    isPlainObject(d) &&
    d.source === "cocalc-project-log" &&
    isPlainObject(d.payload) &&
    isPlainObject(d.payload.project_log)
  );
}

/**
 * Does `reply` answer the command `payload` in flight? "ack", "final" or null (not ours).
 * Replies carry no id: `open` replies are matched by action/project_id/path (its early
 * validation errors carry no action); a status-shaped reply only answers `status`.
 */
export function matchReply(payload, reply) {
  const action = payload.action;
  if (reply.action !== undefined) {
    if (reply.action !== action) return null;
    if (action === "open") {
      if (reply.project_id !== undefined && reply.project_id !== payload.project_id) return null;
      if (reply.path !== undefined && reply.path !== payload.path) return null;
    }
    return reply.status === "ack" ? "ack" : "final";
  }
  if (action === "open") return reply.status === "error" ? "final" : null;
  const statusShaped = reply.connection !== undefined || reply.open_files !== undefined;
  if (action === "status") {
    if (reply.status === "error") return "final";
    return statusShaped && reply.status === "done" ? "final" : null;
  }
  if (statusShaped) return null; // a late reply to a status poll
  return reply.status === "ack" ? "ack" : "final";
}

const defaultClock = {
  now: () => (globalThis.performance ? globalThis.performance.now() : Date.now()),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (t) => globalThis.clearTimeout(t),
  setInterval: (fn, ms) => globalThis.setInterval(fn, ms),
  clearInterval: (t) => globalThis.clearInterval(t),
};

const noop = () => {};

/**
 * The command queue next to the IFrame.
 *
 * options: origin (CoCalc's origin), getTarget() (the IFrame's contentWindow), callbacks
 * onReady(reply), onUnready(), onResult(id, reply, ack), onAck(id, ack), onLog(event),
 * onMode(mode, detail); for navigate mode: mode ("auto" | "bridge" | "navigate"), bridgeWaitMs,
 * home ({url, project_id, path}: the frame's own page) and navigate(url) (loads the IFrame);
 * onHomeOpen(path) (the frame's own file is being opened through the bridge); and pollMs,
 * ackDelayMs, homeOpenMs, clock (for tests).
 */
export class Relay {
  constructor(options) {
    this.origin = options.origin;
    this.getTarget = options.getTarget;
    this.onReady = options.onReady || noop;
    this.onUnready = options.onUnready || noop;
    this.onResult = options.onResult || noop;
    this.onAck = options.onAck || noop;
    this.onLog = options.onLog || noop;
    this.onMode = options.onMode || noop;
    this.navigate = options.navigate || noop;
    this.home = isPlainObject(options.home) ? options.home : null;
    this.pollMs = options.pollMs ?? POLL_MS;
    this.ackDelayMs = options.ackDelayMs ?? ACK_DELAY_MS;
    this.bridgeWaitMs = options.bridgeWaitMs ?? BRIDGE_WAIT_MS;
    this.clock = options.clock || defaultClock;
    const wanted = options.mode || "bridge";
    this.mode = wanted === "auto" ? "connecting" : wanted;
    this.ready = false;
    this.polling = false;
    this.pollCount = 0;
    this.queue = [];
    this.inflight = null;
    this.pollTimer = null;
    this.fallbackTimer = null;
    // Navigate mode: what the IFrame shows ({url, project_id, path}), and whether a page has
    // loaded since the switch (commands wait for it).
    this.shown = null;
    this.pageUp = false;
    this.kioskLoaded = false; // mode "auto": the fallback clock starts at the first kiosk load
    // The frame's own file through the bridge: "todo" -> "opening" -> "checking" -> "done".
    this.homeState = "todo";
    this.homeTries = 0;
    this.homeTimer = null;
    this.homeFirst = null; // the bridge's first status reply
    this.homeResult = null; // CoCalc's final answer to the open
    this.homeOpenMs = options.homeOpenMs ?? HOME_OPEN_MS;
    this.onHomeOpen = options.onHomeOpen || noop;
  }

  /** Queue commands [{id, payload, timeout_ms}] from Python; duplicates (same id) are skipped. */
  enqueue(cmds) {
    if (!Array.isArray(cmds)) return;
    const now = this.clock.now();
    for (const c of cmds) {
      if (!isPlainObject(c) || !Number.isInteger(c.id) || !isPlainObject(c.payload)) continue;
      if (typeof c.payload.action !== "string") continue;
      if (this.has(c.id)) continue;
      const ms = Number.isFinite(c.timeout_ms) ? c.timeout_ms : 30000;
      const nav = typeof c.nav === "string" ? c.nav : null;
      this.queue.push({ id: c.id, payload: c.payload, nav, deadline: now + ms, ack: null });
    }
    this.pump();
  }

  has(id) {
    return (this.inflight && this.inflight.id === id) || this.queue.some((c) => c.id === id);
  }

  /** A page loaded in the IFrame. A kiosk page: CoCalc is not listening yet; poll `status`
   * until it answers (mode "auto": for at most bridgeWaitMs, then fall back to navigating).
   * In navigate mode: the page a command (or the fallback) asked for is there. */
  frameLoaded() {
    if (this.mode === "navigate") {
      this.pageLoaded();
      return;
    }
    const wasReady = this.ready;
    this.ready = false;
    const f = this.inflight;
    if (f) {
      // Its page is gone: send it again once the new page answers.
      this.clearTimers(f);
      this.inflight = null;
      f.ack = null;
      this.queue.unshift(f);
    }
    if (wasReady) this.onUnready();
    if (this.homeState === "opening" || this.homeState === "checking") {
      // The page went away while its own file was opening: try again (at most twice in all).
      this.clearHomeTimer();
      this.homeState = this.homeTries < 2 ? "todo" : "done";
    }
    this.startPolling();
    if (this.mode === "connecting" && !this.kioskLoaded) {
      this.kioskLoaded = true;
      this.clearFallback(); // the backstop armed before the page loaded
      this.fallbackTimer = this.clock.setTimeout(() => this.fallBack(), this.bridgeWaitMs);
    }
  }

  /** Mode "auto": fall back after `ms` even if the kiosk page never finishes loading. */
  armFallback(ms) {
    if (this.mode === "connecting" && !this.kioskLoaded && this.fallbackTimer === null) {
      this.fallbackTimer = this.clock.setTimeout(() => this.fallBack(), ms);
    }
  }

  /** Mode "auto" and no answer from the bridge in time: navigate from now on (never back). */
  fallBack() {
    this.fallbackTimer = null;
    if (this.mode !== "connecting" || this.ready) return;
    this.stopPolling();
    this.mode = "navigate";
    this.pageUp = false;
    this.shown = null;
    this.onMode("navigate", { waited_ms: this.bridgeWaitMs, polls: this.pollCount });
    if (this.home && typeof this.home.url === "string") this.navigate(this.home.url);
  }

  /** Navigate mode: a page finished loading; finish the command that asked for it. */
  pageLoaded() {
    const f = this.inflight;
    if (f && f.target) {
      this.clearTimers(f);
      this.inflight = null;
      this.shown = f.target;
      const { action, project_id, path } = f.payload;
      const reply =
        action === "open"
          ? { status: "done", action, path, project_id, mode: "navigate" }
          : { status: "done", action, mode: "navigate", mesg: "showing the project's files" };
      this.onResult(f.id, reply, null);
    } else if (!this.pageUp && this.home) {
      this.shown = this.home;
    }
    this.pageUp = true;
    this.pump();
  }

  startPolling() {
    this.stopPolling();
    this.polling = true;
    const poll = () => {
      this.pollCount += 1;
      this.post({ action: "status" });
    };
    poll();
    this.pollTimer = this.clock.setInterval(poll, this.pollMs);
  }

  stopPolling() {
    if (this.pollTimer !== null) this.clock.clearInterval(this.pollTimer);
    this.pollTimer = null;
    this.polling = false;
  }

  /** A window "message" event; returns true if it was CoCalc's and was used. */
  handleMessage(event) {
    if (!event || event.source == null || event.source !== this.getTarget()) return false;
    if (event.origin !== this.origin) return false;
    const d = event.data;
    if (isProjectLog(d)) {
      // Project-log events belong to the bridge: in navigate mode the frame does not relay
      // them (CoCalc promises none there), so on_project_log means the same in every setting.
      if (this.mode === "navigate") return false;
      this.onLog(d.payload.project_log);
      return true;
    }
    if (!isReply(d)) return false;
    if (!this.ready) {
      if (this.mode === "navigate") return false;
      if (this.homeState === "opening" || this.homeState === "checking") return this.homeReply(d);
      if (!this.polling) return false;
      this.stopPolling();
      if (this.mode === "connecting") {
        this.clearFallback();
        this.mode = "bridge";
        this.onMode("bridge", {});
      }
      if (this.homeState === "todo" && this.homeMissing(d)) {
        this.openHome(d);
        return true;
      }
      this.becomeReady(d, null);
      return true;
    }
    const f = this.inflight;
    if (!f) return false; // a stray (late) reply
    const kind = matchReply(f.payload, d);
    if (kind === null) return false;
    if (kind === "ack") {
      f.ack = d;
      if (f.ackTimer == null) {
        // Usually `done` follows at once and carries the ack along (one message to Python);
        // tell Python about a slow command's ack separately.
        f.ackTimer = this.clock.setTimeout(() => {
          if (this.inflight === f) this.onAck(f.id, f.ack);
        }, this.ackDelayMs);
      }
      return true;
    }
    this.clearTimers(f);
    this.inflight = null;
    this.onResult(f.id, d, f.ack);
    this.pump();
    return true;
  }

  /** Whether the bridge's status reply `d` lacks the frame's own file (a stuck kiosk page). */
  homeMissing(d) {
    const h = this.home;
    if (!h || typeof h.project_id !== "string" || typeof h.path !== "string") return false;
    if (h.path === "" || h.path.endsWith("/")) return false; // a folder: nothing to open
    const files = isPlainObject(d.open_files) ? d.open_files[h.project_id] : undefined;
    return !(Array.isArray(files) && files.includes(h.path));
  }

  /** Open the frame's own file through the bridge; ready once CoCalc answered it and a fresh
   * `status` (or HOME_OPEN_MS passed: ready anyway, with the open's outcome unknown). */
  openHome(first) {
    this.homeState = "opening";
    this.homeTries += 1;
    this.homeFirst = first;
    this.homeResult = null;
    this.homeTimer = this.clock.setTimeout(() => {
      this.homeTimer = null;
      const mesg = `CoCalc did not answer the open of the frame's own file within ${this.homeOpenMs / 1000} s`;
      this.homeState = "done";
      this.becomeReady(this.homeFirst, this.homeResult || { status: "error", action: "open", mesg });
    }, this.homeOpenMs);
    this.post(this.homePayload());
    this.onHomeOpen(this.home.path);
  }

  /** Whether the frame's own file is being opened through the bridge right now. */
  get homeOpening() {
    return this.homeState === "opening" || this.homeState === "checking";
  }

  homePayload() {
    return { action: "open", project_id: this.home.project_id, path: this.home.path };
  }

  /** A reply while the frame's own file opens: the open's answer, then the status after it. */
  homeReply(d) {
    if (this.homeState === "opening") {
      const kind = matchReply(this.homePayload(), d);
      if (kind === null) return false;
      if (kind === "final") {
        this.homeResult = d;
        this.homeState = "checking";
        this.post({ action: "status" });
      }
      return true;
    }
    if (matchReply({ action: "status" }, d) !== "final") return false;
    this.clearHomeTimer();
    this.homeState = "done";
    this.becomeReady(d.status === "done" ? d : this.homeFirst, this.homeResult);
    return true;
  }

  clearHomeTimer() {
    if (this.homeTimer !== null) this.clock.clearTimeout(this.homeTimer);
    this.homeTimer = null;
  }

  becomeReady(reply, home) {
    this.ready = true;
    if (this.homeState === "todo") this.homeState = "done"; // once per frame
    this.onReady(reply, home);
    this.pump();
  }

  /** Send the next command if CoCalc is listening and nothing is in flight. */
  pump() {
    if (this.mode === "navigate") {
      this.pumpNavigate();
      return;
    }
    if (!this.ready || this.inflight) return;
    const now = this.clock.now();
    while (this.queue.length > 0) {
      const c = this.queue.shift();
      if (c.deadline <= now) continue; // Python has given up on it already
      this.inflight = c;
      c.timer = this.clock.setTimeout(() => this.expire(c), c.deadline - now);
      this.post(c.payload);
      return;
    }
  }

  /** Navigate mode: one command at a time; `open`/`closeall` load a page (c.nav), `status`
   * says what the frame shows, anything else is an error at once. */
  pumpNavigate() {
    if (!this.pageUp || this.inflight) return;
    const now = this.clock.now();
    while (this.queue.length > 0) {
      const c = this.queue.shift();
      if (c.deadline <= now) continue;
      const action = c.payload.action;
      if (action === "status") {
        const s = this.shown;
        const files = s && typeof s.path === "string" ? { [s.project_id]: [s.path] } : {};
        const reply = { status: "done", mode: "navigate", url: s ? s.url : null, open_files: files };
        this.onResult(c.id, reply, null);
        continue;
      }
      if (!NAVIGATE_ACTIONS.has(action) || typeof c.nav !== "string") {
        const mesg =
          `the frame is in navigate mode (CoCalc's IFrame bridge did not answer), so no bridge ` +
          `can answer '${action}'`;
        this.onResult(c.id, { status: "error", mode: "navigate", mesg }, null);
        continue;
      }
      const { project_id, path } = c.payload;
      c.target = {
        url: c.nav,
        project_id: typeof project_id === "string" ? project_id : this.home && this.home.project_id,
        path: action === "open" ? path : null,
      };
      this.inflight = c;
      c.timer = this.clock.setTimeout(() => this.expire(c), c.deadline - now);
      this.navigate(c.nav);
      return;
    }
  }

  clearFallback() {
    if (this.fallbackTimer !== null) this.clock.clearTimeout(this.fallbackTimer);
    this.fallbackTimer = null;
  }

  expire(c) {
    if (this.inflight !== c) return;
    this.clearTimers(c);
    this.inflight = null;
    this.pump();
  }

  clearTimers(c) {
    if (c.timer != null) this.clock.clearTimeout(c.timer);
    if (c.ackTimer != null) this.clock.clearTimeout(c.ackTimer);
    c.timer = null;
    c.ackTimer = null;
  }

  post(payload) {
    const w = this.getTarget();
    if (!w) return false;
    w.postMessage(payload, this.origin);
    return true;
  }

  /** Forget everything (the view lost its leadership or is going away). */
  reset() {
    this.stopPolling();
    this.clearFallback();
    this.clearHomeTimer();
    if (this.homeState !== "done") this.homeState = "todo";
    if (this.inflight) this.clearTimers(this.inflight);
    this.inflight = null;
    this.queue = [];
    this.ready = false;
  }
}

// -- the memory of a bridge that did not answer (per CoCalc origin, in localStorage) ---------

/** The storage key for `origin`'s memory. */
export function noBridgeKey(origin) {
  return NO_BRIDGE_KEY_PREFIX + String(origin);
}

/** When (ms since the epoch) `origin`'s bridge was last found not answering, if that is less
 * than `ttlMs` ago; else null (and a stale or malformed entry is removed). Never throws. */
export function recallNoBridge(storage, origin, now = Date.now(), ttlMs = NO_BRIDGE_MEMORY_MS) {
  try {
    if (!storage) return null;
    const raw = storage.getItem(noBridgeKey(origin));
    if (raw == null) return null;
    let v = null;
    try {
      v = JSON.parse(raw);
    } catch {
      v = null;
    }
    const at = isPlainObject(v) && v.origin === origin ? v.at : NaN;
    if (Number.isFinite(at) && at <= now && now - at < ttlMs) return at;
    storage.removeItem(noBridgeKey(origin));
  } catch {
    // no storage here (a sandboxed page, storage turned off): nothing remembered
  }
  return null;
}

/** Remember that `origin`'s bridge did not answer: only the origin and the time are stored. */
export function rememberNoBridge(storage, origin, now = Date.now()) {
  try {
    if (storage) storage.setItem(noBridgeKey(origin), JSON.stringify({ origin, at: now }));
  } catch {
    // full or forbidden storage: the next frame simply tries the bridge again
  }
}

/** Forget it (the bridge answered). */
export function forgetNoBridge(storage, origin) {
  try {
    if (storage) storage.removeItem(noBridgeKey(origin));
  } catch {
    // nothing to forget where there is no storage
  }
}

/** "HH:MM" of a time (ms since the epoch), in the browser's local time. */
export function clockTime(ms) {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

function browserStorage() {
  try {
    return globalThis.localStorage || null;
  } catch {
    return null; // reading localStorage itself throws where storage is forbidden
  }
}

export function isLoopbackHost(hostname) {
  const h = String(hostname).toLowerCase().replace(/^\[|\]$/g, "");
  return (
    h === "localhost" || h.endsWith(".localhost") || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h)
  );
}

/** "vscode" or "colab" when this page's origin shows the host, else null. */
export function hostOfOrigin(pageOrigin) {
  const o = String(pageOrigin || "").toLowerCase();
  if (o.startsWith("vscode-webview:") || o.startsWith("vscode-file:")) return "vscode";
  try {
    const host = new URL(o).hostname;
    if (host.endsWith(".googleusercontent.com") && host.includes("colab")) return "colab";
  } catch {
    return null;
  }
  return null;
}

/** A warning when CoCalc will not answer this page: a VS Code webview, a Colab output frame,
 * or plain http while CoCalc is not on loopback. */
export function originWarning(pageOrigin, cocalcOrigin) {
  const host = hostOfOrigin(pageOrigin);
  if (host === "vscode") {
    return (
      "VS Code's webview is not an https page, so CoCalc's IFrame bridge never answers it " +
      "(the frame navigates instead)"
    );
  }
  if (host === "colab") {
    return (
      `Colab's output frame (${pageOrigin}) answers only if CoCalc's iframe_comm_hosts lists ` +
      "'.googleusercontent.com'"
    );
  }
  try {
    if (!String(pageOrigin).startsWith("http://")) return null;
    if (isLoopbackHost(new URL(cocalcOrigin).hostname)) return null;
  } catch {
    return null;
  }
  return (
    `this page (${pageOrigin}) is not https: CoCalc only answers https origins listed in its ` +
    "iframe_comm_hosts setting, so commands will time out"
  );
}

/**
 * Set the IFrame's `allow` attribute (the permissions its page gets: clipboard, fullscreen, ...).
 * An empty value (or anything but a string) removes the attribute: nothing is delegated.
 * Browsers apply it when the IFrame next navigates, so set it before the first `src`.
 */
export function applyAllow(iframe, allow) {
  const value = typeof allow === "string" ? allow.trim() : "";
  if (value) iframe.setAttribute("allow", value);
  else iframe.removeAttribute("allow");
  return value;
}

/**
 * The Fullscreen API of `doc` (standard, or Safari's webkit-prefixed one), or null where this
 * page may not go fullscreen (e.g. a notebook shown in an IFrame that does not allow it).
 */
export function fullscreenApi(doc) {
  if (!doc) return null;
  if (doc.fullscreenEnabled) {
    return {
      element: () => doc.fullscreenElement || null,
      request: (el) => el.requestFullscreen(),
      exit: () => doc.exitFullscreen(),
      event: "fullscreenchange",
    };
  }
  if (doc.webkitFullscreenEnabled) {
    return {
      element: () => doc.webkitFullscreenElement || null,
      request: (el) => el.webkitRequestFullscreen(),
      exit: () => doc.webkitExitFullscreen(),
      event: "webkitfullscreenchange",
    };
  }
  return null;
}

const FULLSCREEN_ICON =
  '<svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true" fill="none" ' +
  'stroke="currentColor" stroke-width="1.5"><path d="M1 4V1h3M8 1h3v3M11 8v3H8M4 11H1V8"/></svg>';
const EXIT_ICON =
  '<svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true" fill="none" ' +
  'stroke="currentColor" stroke-width="1.5"><path d="M4 1v3H1M11 4H8V1M8 11V8h3M1 8h3v3"/></svg>';

function randomId() {
  const c = globalThis.crypto;
  if (c && c.randomUUID) return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function render({ model, el }) {
  const view = randomId();
  const cocalcOrigin = model.get("_origin");
  const kiosk = model.get("_kiosk");
  const signin = model.get("_signin");
  const nav = model.get("_nav") || {};
  const decided = model.get("_mode"); // what an earlier view found out (or "connecting")
  const storage = browserStorage();
  // Mode "auto" and this browser found CoCalc's bridge silent here lately: navigate at once.
  const remembered =
    decided === "connecting" && model.get("_mode_request") === "auto"
      ? recallNoBridge(storage, cocalcOrigin)
      : null;
  let rememberedSent = false;
  const wanted =
    remembered !== null ? "navigate" : decided === "connecting" ? model.get("_mode_request") : decided;
  const bridgeWaitMs = model.get("_bridge_wait_ms");
  const pageOrigin = globalThis.location ? globalThis.location.origin : "";
  const warning = originWarning(pageOrigin, cocalcOrigin);

  const root = document.createElement("div");
  root.className = "cocalc-frame";
  root.style.cssText = "display:flex;flex-direction:column;width:100%;";
  const bar = document.createElement("div");
  bar.className = "cocalc-frame-bar";
  bar.style.cssText = "display:flex;align-items:center;gap:4px;";
  const line = document.createElement("div");
  line.className = "cocalc-frame-status";
  line.style.cssText = "flex:1 1 auto;font:12px/1.6 sans-serif;color:#555;padding:0 4px;";
  const fsButton = document.createElement("button");
  fsButton.type = "button";
  fsButton.className = "cocalc-frame-fullscreen";
  fsButton.style.cssText =
    "flex:none;display:inline-flex;align-items:center;padding:1px 4px;margin:1px 2px;" +
    "border:1px solid #ccc;border-radius:3px;background:#fff;color:#555;cursor:pointer;";
  const iframe = document.createElement("iframe");
  iframe.className = "cocalc-frame-iframe";
  iframe.title = "CoCalc";
  iframe.style.cssText = "width:100%;border:1px solid #ddd;box-sizing:border-box;";
  iframe.style.height = model.get("height");
  // Before the first src: the browser reads `allow` when the IFrame navigates.
  applyAllow(iframe, model.get("allow"));
  bar.append(line, fsButton);
  root.append(bar, iframe);
  el.append(root);

  // The fullscreen button fills the screen with this frame (status line and CoCalc); Esc, or
  // the button again, leaves. It needs no `allow`: the notebook page itself goes fullscreen.
  const fullscreen = fullscreenApi(globalThis.document);
  const isFullscreen = () => fullscreen !== null && fullscreen.element() === root;
  const showFullscreen = () => {
    const on = isFullscreen();
    fsButton.innerHTML = on ? EXIT_ICON : FULLSCREEN_ICON;
    fsButton.title = on ? "Leave full screen (Esc)" : "Full screen (Esc leaves)";
    fsButton.setAttribute("aria-label", on ? "Leave full screen" : "Full screen");
    fsButton.setAttribute("aria-pressed", on ? "true" : "false");
    root.dataset.fullscreen = on ? "true" : "false";
    root.style.background = on ? "#fff" : "";
    iframe.style.flex = on ? "1 1 0" : "";
    iframe.style.minHeight = on ? "0" : "";
    iframe.style.height = on ? "auto" : model.get("height");
  };
  fsButton.hidden = fullscreen === null;
  showFullscreen();
  fsButton.addEventListener("click", () => {
    if (fullscreen === null) return;
    let asked;
    try {
      asked = isFullscreen() ? fullscreen.exit() : fullscreen.request(root);
    } catch (err) {
      asked = Promise.reject(err);
    }
    Promise.resolve(asked).catch((err) => {
      fsButton.title = `Full screen was refused: ${(err && err.message) || err}`;
    });
  });
  if (fullscreen !== null) globalThis.document.addEventListener(fullscreen.event, showFullscreen);

  let phase = "idle"; // idle -> (impersonate ->) page
  let loaded = false;
  let leader = false;
  let loadedAt = 0;
  let settled = false; // the kernel has said which view relays
  const earlyLogs = [];
  const setStatus = (text) => {
    const warn = warning && relay.mode !== "navigate" ? ` · ⚠ ${warning}` : "";
    line.textContent = `CoCalc · ${text}${warn}`;
    line.dataset.state = text.split(" ")[0];
    line.dataset.mode = relay.mode;
  };
  const send = (msg) => {
    try {
      model.send({ view, ...msg });
    } catch {
      // the model is closed
    }
  };
  let navigateReason =
    remembered !== null
      ? `remembered: CoCalc's bridge did not answer here at ${clockTime(remembered)}`
      : decided === "navigate"
        ? "CoCalc's IFrame bridge did not answer"
        : "";
  const retryNote =
    remembered !== null
      ? ` (the bridge is tried again ${NO_BRIDGE_MEMORY_MS / 60000} min after that, or now with mode='bridge')`
      : "";
  const navigateNote = () =>
    `navigate mode: ${navigateReason ? `${navigateReason}, so ` : ""}commands load CoCalc's ` +
    `file pages${retryNote}`;

  const relay = new Relay({
    origin: cocalcOrigin,
    getTarget: () => iframe.contentWindow,
    mode: wanted,
    bridgeWaitMs,
    home: nav,
    navigate: (url) => {
      iframe.src = url;
    },
    onReady: (reply, home) => {
      forgetNoBridge(storage, cocalcOrigin);
      setStatus(
        home && home.status === "error"
          ? `ready (CoCalc did not open ${nav.path}: ${home.mesg || "no reason given"})`
          : "ready",
      );
      // One message, as before: the frame's own file (if it was opened) rides along.
      send({ kind: TO_PYTHON.STATE, ready: true, reply, ...(home ? { home } : {}) });
    },
    onUnready: () => send({ kind: TO_PYTHON.STATE, ready: false }),
    onResult: (id, reply, ack) => send({ kind: TO_PYTHON.REPLY, id, reply, ack }),
    onAck: (id, ack) => send({ kind: TO_PYTHON.ACK, id, ack }),
    onHomeOpen: (path) =>
      setStatus(`CoCalc answers; opening ${path} through its bridge (its page did not open it)`),
    onLog: (event) => {
      if (leader) send({ kind: TO_PYTHON.LOG, event });
      else if (!settled && earlyLogs.length < 20) earlyLogs.push(event); // until we know
    },
    onMode: (mode, detail) => {
      if (mode === "navigate") {
        navigateReason = `CoCalc's IFrame bridge did not answer within ${bridgeWaitMs / 1000} s`;
        setStatus(navigateNote());
        if (leader) rememberNoBridge(storage, cocalcOrigin);
      }
      if (leader) send({ kind: TO_PYTHON.MODE, mode, ...detail });
    },
  });

  const slowCheck = globalThis.setInterval(() => {
    if (
      leader &&
      loaded &&
      kiosk &&
      relay.mode === "bridge" &&
      !relay.ready &&
      !relay.homeOpening &&
      performance.now() - loadedAt > SLOW_READY_MS
    ) {
      setStatus(
        `no answer from CoCalc yet: is this page's origin (${pageOrigin}) https and in ` +
          "CoCalc's iframe_comm_hosts, and is CoCalc still loading?",
      );
    }
  }, 1000);

  const startRelay = () => {
    if (!kiosk) {
      setStatus("not in kiosk mode: commands are off");
      return;
    }
    loadedAt = performance.now();
    if (relay.mode === "navigate") setStatus(navigateNote());
    else if (relay.mode === "connecting")
      setStatus(`waiting for CoCalc to answer (else navigate mode after ${bridgeWaitMs / 1000} s)`);
    else setStatus("waiting for CoCalc to answer");
    relay.frameLoaded();
  };

  iframe.addEventListener("load", () => {
    if (phase === "impersonate") {
      phase = "page"; // signed in: now the page (impersonate dropped its parameters)
      iframe.src = firstUrl();
      return;
    }
    if (phase !== "page") return; // the initial about:blank
    loaded = true;
    if (leader) startRelay();
    else setStatus("loaded (another view of this frame relays the commands)");
  });

  // The kiosk page, or in navigate mode the plain file page (CoCalc's normal UI).
  const firstUrl = () => (relay.mode === "navigate" && nav.url ? nav.url : model.get("_url"));

  const load = (token) => {
    if (phase !== "idle") return;
    if (signin === "impersonate" && token) {
      phase = "impersonate";
      setStatus("signing in");
      iframe.src = `${model.get("_impersonate_url")}?auth_token=${encodeURIComponent(token)}`;
    } else {
      phase = "page";
      setStatus("loading");
      const url = firstUrl();
      const sep = url.includes("?") ? "&" : "?";
      iframe.src =
        signin === "url" && token ? `${url}${sep}auth_token=${encodeURIComponent(token)}` : url;
    }
  };

  const onWindowMessage = (event) => {
    if (leader || !settled) relay.handleMessage(event);
  };
  globalThis.addEventListener("message", onWindowMessage);

  const onCustom = (msg) => {
    if (!isPlainObject(msg)) return;
    if (msg.kind === FROM_PYTHON.SETUP) {
      if (typeof msg.auth_token === "string") load(msg.auth_token);
      else if (signin === "none") load(null);
      settled = true;
      if (msg.leader === view) {
        if (!leader) {
          leader = true;
          if (loaded) startRelay();
          else relay.armFallback(2 * bridgeWaitMs); // if the kiosk page never finishes loading
        }
        for (const event of earlyLogs.splice(0)) send({ kind: TO_PYTHON.LOG, event });
        if (remembered !== null && !rememberedSent) {
          rememberedSent = true; // the one message that says why this frame navigates
          send({ kind: TO_PYTHON.MODE, mode: "navigate", remembered_at: remembered });
        }
        relay.enqueue(msg.cmds);
      } else {
        earlyLogs.length = 0;
        if (leader) {
          leader = false;
          relay.reset();
          if (loaded) setStatus("loaded (another view of this frame relays the commands)");
        }
      }
    } else if (msg.kind === FROM_PYTHON.CMD && leader) {
      relay.enqueue(msg.cmds);
    }
  };
  model.on("msg:custom", onCustom);
  // The relaying view fell back to navigating: so does this one (the mode never flips back).
  const onMode = () => {
    if (model.get("_mode") === "navigate" && relay.mode === "connecting") relay.fallBack();
  };
  model.on("change:_mode", onMode);
  const onHeight = () => {
    if (!isFullscreen()) iframe.style.height = model.get("height");
  };
  model.on("change:height", onHeight);
  // A new `allow` applies from the IFrame's next navigation (the page shown keeps its own).
  const onAllow = () => applyAllow(iframe, model.get("allow"));
  model.on("change:allow", onAllow);

  if (signin === "none") load(null);
  else setStatus("waiting for the kernel to sign in (run the cell if this stays)");
  send({ kind: TO_PYTHON.HELLO, origin: pageOrigin });

  return () => {
    globalThis.removeEventListener("message", onWindowMessage);
    globalThis.clearInterval(slowCheck);
    relay.reset();
    model.off("msg:custom", onCustom);
    model.off("change:_mode", onMode);
    model.off("change:height", onHeight);
    model.off("change:allow", onAllow);
    if (fullscreen !== null) {
      globalThis.document.removeEventListener(fullscreen.event, showFullscreen);
      if (isFullscreen()) Promise.resolve(fullscreen.exit()).catch(() => {});
    }
    send({ kind: TO_PYTHON.BYE });
  };
}

export default { render };
