// Unit tests of the relay logic in frame.js: run with `node --test js/` (no npm install).
import assert from "node:assert/strict";
import { test } from "node:test";

import frameModule, {
  applyAllow,
  clockTime,
  forgetNoBridge,
  NO_BRIDGE_MEMORY_MS,
  noBridgeKey,
  recallNoBridge,
  rememberNoBridge,
  fullscreenApi,
  hostOfOrigin,
  isProjectLog,
  isReply,
  matchReply,
  originWarning,
  Relay,
} from "./frame.js";

const COCALC = "https://cocalc.example";
const PID = "7c1b2e7a-1111-4222-8333-944455556666";

/** A fake clock: timers run only when the test advances time. */
class FakeClock {
  constructor() {
    this.t = 0;
    this.timers = new Map();
    this.next = 1;
  }
  now() {
    return this.t;
  }
  setTimeout(fn, ms) {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn, every: null });
    return id;
  }
  setInterval(fn, ms) {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn, every: ms });
    return id;
  }
  clearTimeout(id) {
    this.timers.delete(id);
  }
  clearInterval(id) {
    this.timers.delete(id);
  }
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let best = null;
      for (const [id, tm] of this.timers) if (tm.at <= end && (!best || tm.at < best[1].at)) best = [id, tm];
      if (!best) break;
      const [id, tm] = best;
      this.t = tm.at;
      if (tm.every) tm.at += tm.every;
      else this.timers.delete(id);
      tm.fn();
    }
    this.t = end;
  }
}

/** A fake IFrame window recording what was posted to it. */
class FakeWindow {
  constructor() {
    this.posted = [];
  }
  postMessage(data, targetOrigin) {
    this.posted.push({ data, targetOrigin });
  }
}

function setup(opts = {}) {
  const clock = new FakeClock();
  const win = new FakeWindow();
  const events = [];
  const relay = new Relay({
    origin: COCALC,
    getTarget: () => win,
    clock,
    onReady: (r) => events.push(["ready", r]),
    onUnready: () => events.push(["unready"]),
    onResult: (id, reply, ack) => events.push(["result", id, reply, ack]),
    onAck: (id, ack) => events.push(["ack", id, ack]),
    onLog: (e) => events.push(["log", e]),
    ...opts,
  });
  const fromCoCalc = (data, extra = {}) => relay.handleMessage({ source: win, origin: COCALC, data, ...extra });
  const makeReady = () => {
    relay.frameLoaded();
    assert.ok(fromCoCalc({ status: "done", connection: { quality: "good" }, open_files: {} }));
    events.length = 0;
    win.posted.length = 0;
  };
  return { clock, win, events, relay, fromCoCalc, makeReady };
}

const STATUS_REPLY = { status: "done", connection: { quality: "good", status: "online" }, open_files: { [PID]: ["a.txt"] } };

test("the module has an anywidget default export with render", () => {
  assert.equal(typeof frameModule.render, "function");
});

test("reply shape checks", () => {
  assert.ok(isReply({ status: "done" }));
  assert.ok(isReply({ status: "ack", action: "open", path: "a", project_id: PID }));
  assert.ok(!isReply({ status: "maybe" }));
  assert.ok(!isReply("done"));
  assert.ok(!isReply(null));
  assert.ok(!isReply([{ status: "done" }]));
  assert.ok(!isReply({ status: "done", mesg: 3 }));
  assert.ok(!isReply({ status: "done", connection: "good" }));
  assert.ok(isProjectLog({ source: "cocalc-project-log", payload: { project_log: { event: "open" } } }));
  assert.ok(!isProjectLog({ source: "cocalc-project-log", payload: {} }));
  assert.ok(!isProjectLog({ source: "other", payload: { project_log: {} } }));
});

test("matchReply correlates without ids", () => {
  const open = { action: "open", project_id: PID, path: "a.txt" };
  assert.equal(matchReply(open, { status: "ack", action: "open", project_id: PID, path: "a.txt" }), "ack");
  assert.equal(matchReply(open, { status: "done", action: "open", project_id: PID, path: "a.txt" }), "final");
  assert.equal(matchReply(open, { status: "done", action: "open", project_id: PID, path: "b.txt" }), null);
  assert.equal(matchReply(open, { status: "error", mesg: "invalid path, it must be a string" }), "final");
  assert.equal(matchReply(open, STATUS_REPLY), null);
  assert.equal(matchReply({ action: "status" }, STATUS_REPLY), "final");
  assert.equal(matchReply({ action: "status" }, { status: "done", mesg: "all files are closed" }), null);
  assert.equal(matchReply({ action: "closeall" }, STATUS_REPLY), null);
  assert.equal(matchReply({ action: "closeall" }, { status: "done", mesg: "all files are closed" }), "final");
  assert.equal(matchReply({ action: "closeall" }, { status: "done", action: "open", path: "x", project_id: PID }), null);
  assert.equal(matchReply({ action: "frob" }, { status: "error", mesg: "Unknown action 'frob'" }), "final");
});

test("polls status until CoCalc answers, then is ready", () => {
  const { clock, win, events, relay, fromCoCalc } = setup({ pollMs: 300 });
  relay.frameLoaded();
  assert.deepEqual(win.posted, [{ data: { action: "status" }, targetOrigin: COCALC }]);
  clock.advance(900);
  assert.equal(win.posted.length, 4);
  assert.ok(win.posted.every((p) => p.targetOrigin === COCALC && p.data.action === "status"));
  assert.ok(fromCoCalc(STATUS_REPLY));
  assert.equal(relay.ready, true);
  assert.deepEqual(events, [["ready", STATUS_REPLY]]);
  clock.advance(3000);
  assert.equal(win.posted.length, 4, "polling stops once ready");
});

test("never targets '*': every post uses the CoCalc origin", () => {
  const { win, relay, makeReady, fromCoCalc } = setup();
  makeReady();
  relay.enqueue([{ id: 1, payload: { action: "closeall" }, timeout_ms: 1000 }]);
  fromCoCalc({ status: "done", mesg: "all files are closed" });
  assert.ok(win.posted.length > 0);
  for (const p of win.posted) assert.equal(p.targetOrigin, COCALC);
});

test("ignores messages from another window or another origin", () => {
  const { win, events, relay } = setup();
  relay.frameLoaded();
  const other = new FakeWindow();
  assert.equal(relay.handleMessage({ source: other, origin: COCALC, data: STATUS_REPLY }), false);
  assert.equal(relay.handleMessage({ source: win, origin: "https://evil.example", data: STATUS_REPLY }), false);
  assert.equal(relay.handleMessage({ source: win, origin: "http://cocalc.example", data: STATUS_REPLY }), false);
  assert.equal(relay.handleMessage({ source: null, origin: COCALC, data: STATUS_REPLY }), false);
  assert.equal(
    relay.handleMessage({ source: other, origin: COCALC, data: { source: "cocalc-project-log", payload: { project_log: {} } } }),
    false,
  );
  assert.equal(relay.ready, false);
  assert.deepEqual(events, []);
});

test("ignores badly shaped replies", () => {
  const { events, relay, fromCoCalc } = setup();
  relay.frameLoaded();
  assert.equal(fromCoCalc({ status: "yes" }), false);
  assert.equal(fromCoCalc(JSON.stringify(STATUS_REPLY)), false);
  assert.equal(relay.ready, false);
  assert.deepEqual(events, []);
});

test("replies are not accepted before polling starts", () => {
  const { relay, fromCoCalc } = setup();
  assert.equal(fromCoCalc(STATUS_REPLY), false);
  assert.equal(relay.ready, false);
});

test("commands wait for readiness, then go one at a time", () => {
  const { win, events, relay, fromCoCalc } = setup();
  relay.enqueue([
    { id: 1, payload: { action: "status" }, timeout_ms: 5000 },
    { id: 2, payload: { action: "closeall" }, timeout_ms: 5000 },
  ]);
  assert.equal(win.posted.length, 0, "nothing before the page loads");
  relay.frameLoaded();
  assert.deepEqual(win.posted.map((p) => p.data), [{ action: "status" }], "only the poll");
  fromCoCalc(STATUS_REPLY);
  assert.deepEqual(win.posted.map((p) => p.data), [{ action: "status" }, { action: "status" }]);
  assert.equal(relay.inflight.id, 1);
  // closeall is not sent until status is answered
  fromCoCalc(STATUS_REPLY);
  assert.deepEqual(win.posted.at(-1).data, { action: "closeall" });
  assert.equal(relay.inflight.id, 2);
  fromCoCalc({ status: "done", mesg: "all files are closed" });
  assert.equal(relay.inflight, null);
  assert.deepEqual(
    events.filter((e) => e[0] === "result").map((e) => [e[1], e[2]]),
    [
      [1, STATUS_REPLY],
      [2, { status: "done", mesg: "all files are closed" }],
    ],
  );
});

test("open: the ack rides along with done in one result", () => {
  const { win, events, relay, makeReady, fromCoCalc, clock } = setup();
  makeReady();
  const payload = { action: "open", project_id: PID, path: "a.txt" };
  relay.enqueue([{ id: 7, payload, timeout_ms: 5000 }]);
  assert.deepEqual(win.posted, [{ data: payload, targetOrigin: COCALC }]);
  const ack = { status: "ack", action: "open", project_id: PID, path: "a.txt" };
  const done = { status: "done", action: "open", project_id: PID, path: "a.txt" };
  fromCoCalc(ack);
  clock.advance(10);
  fromCoCalc(done);
  assert.deepEqual(events, [["result", 7, done, ack]]);
  clock.advance(1000);
  assert.deepEqual(events, [["result", 7, done, ack]], "no separate ack after done");
});

test("open: a slow done sends the ack ahead", () => {
  const { events, relay, makeReady, fromCoCalc, clock } = setup({ ackDelayMs: 250 });
  makeReady();
  relay.enqueue([{ id: 7, payload: { action: "open", project_id: PID, path: "a.txt" }, timeout_ms: 5000 }]);
  const ack = { status: "ack", action: "open", project_id: PID, path: "a.txt" };
  fromCoCalc(ack);
  clock.advance(300);
  assert.deepEqual(events, [["ack", 7, ack]]);
  const err = { status: "error", action: "open", project_id: PID, path: "a.txt", mesg: "no such file" };
  fromCoCalc(err);
  assert.deepEqual(events.at(-1), ["result", 7, err, ack]);
});

test("open: an early validation error (no action) ends it; stray replies do not", () => {
  const { events, relay, makeReady, fromCoCalc } = setup();
  makeReady();
  relay.enqueue([{ id: 3, payload: { action: "open", project_id: "nope", path: "a" }, timeout_ms: 5000 }]);
  assert.equal(fromCoCalc(STATUS_REPLY), false, "a late status-poll reply is not the open's");
  assert.equal(fromCoCalc({ status: "done", action: "open", project_id: PID, path: "zzz" }), false);
  const err = { status: "error", mesg: "invalid project_id='nope'" };
  assert.ok(fromCoCalc(err));
  assert.deepEqual(events, [["result", 3, err, null]]);
});

test("a command in flight times out in the relay and the next one goes", () => {
  const { win, events, relay, makeReady, clock, fromCoCalc } = setup();
  makeReady();
  relay.enqueue([
    { id: 1, payload: { action: "status" }, timeout_ms: 100 },
    { id: 2, payload: { action: "closeall" }, timeout_ms: 5000 },
  ]);
  assert.equal(win.posted.length, 1);
  clock.advance(150);
  assert.equal(relay.inflight.id, 2);
  assert.deepEqual(win.posted.at(-1).data, { action: "closeall" });
  fromCoCalc({ status: "done", mesg: "all files are closed" });
  assert.deepEqual(events, [["result", 2, { status: "done", mesg: "all files are closed" }, null]]);
});

test("expired commands in the queue are dropped, not sent", () => {
  const { win, relay, clock, fromCoCalc } = setup();
  relay.enqueue([{ id: 1, payload: { action: "status" }, timeout_ms: 100 }]);
  relay.frameLoaded();
  clock.advance(200);
  fromCoCalc(STATUS_REPLY);
  assert.ok(win.posted.every((p) => p.data.action === "status"));
  assert.equal(relay.inflight, null);
});

test("duplicate ids are queued once", () => {
  const { relay } = setup();
  relay.enqueue([{ id: 1, payload: { action: "status" }, timeout_ms: 1000 }]);
  relay.enqueue([{ id: 1, payload: { action: "status" }, timeout_ms: 1000 }, { id: 2, payload: { action: "status" } }]);
  assert.deepEqual(relay.queue.map((c) => c.id), [1, 2]);
  relay.enqueue([{ id: "x", payload: { action: "status" } }, { id: 3, payload: "status" }, { id: 4, payload: {} }]);
  assert.deepEqual(relay.queue.map((c) => c.id), [1, 2]);
});

test("a page reload requeues the command in flight and polls again", () => {
  const { win, events, relay, makeReady, fromCoCalc } = setup();
  makeReady();
  relay.enqueue([{ id: 1, payload: { action: "closeall" }, timeout_ms: 5000 }]);
  relay.frameLoaded();
  assert.deepEqual(events, [["unready"]]);
  assert.equal(relay.ready, false);
  assert.deepEqual(win.posted.at(-1).data, { action: "status" });
  fromCoCalc(STATUS_REPLY);
  assert.deepEqual(win.posted.at(-1).data, { action: "closeall" });
  assert.equal(relay.inflight.id, 1);
});

test("project-log events are forwarded (checked for source and origin)", () => {
  const { events, fromCoCalc, relay } = setup();
  const log = { event: { event: "open", filename: "a.txt" }, project_id: PID, id: "x", time: "now" };
  assert.ok(fromCoCalc({ source: "cocalc-project-log", payload: { project_log: log } }));
  assert.deepEqual(events, [["log", log]]);
  assert.equal(relay.handleMessage({ source: {}, origin: COCALC, data: { source: "cocalc-project-log", payload: { project_log: log } } }), false);
});

test("reset forgets the queue and stops polling", () => {
  const { win, relay, clock } = setup();
  relay.enqueue([{ id: 1, payload: { action: "status" }, timeout_ms: 1000 }]);
  relay.frameLoaded();
  relay.reset();
  const n = win.posted.length;
  clock.advance(5000);
  assert.equal(win.posted.length, n);
  assert.deepEqual(relay.queue, []);
});

test("origin warning: http page and a non-loopback CoCalc", () => {
  assert.match(originWarning("http://localhost:8888", "https://cocalc.com"), /not https/);
  assert.equal(originWarning("https://lab.example", "https://cocalc.com"), null);
  assert.equal(originWarning("http://127.0.0.1:8888", "http://127.0.0.1:5000"), null);
  assert.equal(originWarning("http://localhost:8888", "http://localhost:5000"), null);
});

// -- modes: auto falls back to navigate once; navigate answers open/closeall/status itself ----
const HOME = { url: `${COCALC}/projects/${PID}/files/a.txt?fullscreen=project&session=`, project_id: PID, path: "a.txt" };
const navOf = (path) => `${COCALC}/projects/${PID}/files/${path}?fullscreen=project&session=`;

function autoSetup(opts = {}) {
  const nav = [];
  const ctx = setup({ mode: "auto", bridgeWaitMs: 1000, home: HOME, navigate: (url) => nav.push(url), onMode: (m, d) => ctx.events.push(["mode", m, d]), ...opts });
  return { ...ctx, nav };
}

test("auto: a bridge that answers within bridge_wait keeps bridge mode, and a late switch never comes", () => {
  const { clock, relay, events, fromCoCalc, nav } = autoSetup();
  assert.equal(relay.mode, "connecting");
  relay.frameLoaded();
  clock.advance(800); // answers at 0.8 x bridge_wait
  assert.ok(fromCoCalc(STATUS_REPLY));
  assert.equal(relay.mode, "bridge");
  assert.deepEqual(events.map((e) => e[0]), ["mode", "ready"]);
  assert.deepEqual(events[0], ["mode", "bridge", {}]);
  clock.advance(5000);
  assert.equal(relay.mode, "bridge");
  assert.deepEqual(nav, []);
  relay.frameLoaded(); // a reload in bridge mode polls again, with no fallback
  clock.advance(5000);
  assert.equal(relay.mode, "bridge");
});

test("auto: no answer within bridge_wait switches to navigate once, and a late answer is ignored", () => {
  const { clock, relay, events, fromCoCalc, nav, win } = autoSetup();
  relay.enqueue([{ id: 1, payload: { action: "open", project_id: PID, path: "b.md" }, nav: navOf("b.md"), timeout_ms: 5000 }]);
  relay.frameLoaded();
  clock.advance(999);
  assert.equal(relay.mode, "connecting");
  clock.advance(1);
  assert.equal(relay.mode, "navigate");
  assert.deepEqual(events[0][0], "mode");
  assert.equal(events[0][1], "navigate");
  assert.equal(events[0][2].waited_ms, 1000);
  assert.deepEqual(nav, [HOME.url], "the frame's own page first");
  const polls = win.posted.length;
  clock.advance(3000);
  assert.equal(win.posted.length, polls, "polling stopped");
  assert.equal(fromCoCalc(STATUS_REPLY), false, "a late bridge answer does not flip the mode back");
  assert.equal(relay.mode, "navigate");
  relay.frameLoaded(); // the home page is there: the queued open now navigates
  assert.deepEqual(nav, [HOME.url, navOf("b.md")]);
  relay.frameLoaded();
  const result = events.find((e) => e[0] === "result");
  assert.deepEqual(result, ["result", 1, { status: "done", action: "open", path: "b.md", project_id: PID, mode: "navigate" }, null]);
});

test("navigate: status says what the frame shows, closeall shows the listing, other actions fail at once", () => {
  const listing = `${COCALC}/projects/${PID}/files/?fullscreen=project&session=`;
  const { relay, events, nav, win } = autoSetup({ mode: "navigate" });
  assert.equal(relay.mode, "navigate");
  relay.frameLoaded(); // the plain page the frame loaded first
  relay.enqueue([
    { id: 1, payload: { action: "status" }, timeout_ms: 5000 },
    { id: 2, payload: { action: "frob" }, timeout_ms: 5000 },
    { id: 3, payload: { action: "closeall" }, nav: listing, timeout_ms: 5000 },
    { id: 4, payload: { action: "status" }, timeout_ms: 5000 },
  ]);
  assert.deepEqual(events[0], ["result", 1, { status: "done", mode: "navigate", url: HOME.url, open_files: { [PID]: ["a.txt"] } }, null]);
  assert.equal(events[1][1], 2);
  assert.equal(events[1][2].status, "error");
  assert.match(events[1][2].mesg, /navigate mode.*'frob'/);
  assert.deepEqual(nav, [listing]);
  assert.equal(events.length, 2, "status waits behind closeall");
  relay.frameLoaded();
  assert.deepEqual(events[2], ["result", 3, { status: "done", action: "closeall", mode: "navigate", mesg: "showing the project's files" }, null]);
  assert.deepEqual(events[3], ["result", 4, { status: "done", mode: "navigate", url: listing, open_files: {} }, null]);
  assert.equal(win.posted.length, 0, "navigate mode posts nothing to CoCalc");
});

test("navigate: a page that never loads lets the command time out and the next one go", () => {
  const { clock, relay, events, nav } = autoSetup({ mode: "navigate" });
  relay.frameLoaded();
  relay.enqueue([
    { id: 1, payload: { action: "open", project_id: PID, path: "x" }, nav: navOf("x"), timeout_ms: 500 },
    { id: 2, payload: { action: "open", project_id: PID, path: "y" }, nav: navOf("y"), timeout_ms: 5000 },
  ]);
  clock.advance(600);
  assert.deepEqual(nav, [navOf("x"), navOf("y")]);
  relay.frameLoaded();
  assert.deepEqual(events.map((e) => e[1]), [2]);
});

test("bridge mode never falls back", () => {
  const { clock, relay, nav } = autoSetup({ mode: "bridge" });
  relay.frameLoaded();
  clock.advance(60000);
  assert.equal(relay.mode, "bridge");
  assert.deepEqual(nav, []);
});

test("auto: the backstop falls back even if the kiosk page never loads; a load restarts the clock", () => {
  const a = autoSetup();
  a.relay.armFallback(2000);
  a.clock.advance(2000);
  assert.equal(a.relay.mode, "navigate");
  const b = autoSetup();
  b.relay.armFallback(2000);
  b.clock.advance(1500);
  b.relay.frameLoaded(); // bridge_wait (1 s) counts from the page's load
  b.clock.advance(900);
  assert.equal(b.relay.mode, "connecting");
  b.clock.advance(100);
  assert.equal(b.relay.mode, "navigate");
});

test("navigate mode relays no project-log events", () => {
  const { relay, events, fromCoCalc } = autoSetup({ mode: "navigate" });
  const log = { event: { event: "open", filename: "a.txt" }, project_id: PID, id: "x", time: "now" };
  assert.equal(fromCoCalc({ source: "cocalc-project-log", payload: { project_log: log } }), false);
  assert.deepEqual(events, []);
  assert.equal(relay.mode, "navigate");
});

test("VS Code and Colab are told by their page origins", () => {
  assert.equal(hostOfOrigin("vscode-webview://1a2b3c4d"), "vscode");
  assert.equal(hostOfOrigin("https://abc123-0-colab.googleusercontent.com"), "colab");
  assert.equal(hostOfOrigin("https://lab.example"), null);
  assert.equal(hostOfOrigin("https://googleusercontent.com.evil.example"), null);
  assert.match(originWarning("vscode-webview://1a2b3c4d", "https://cocalc.com"), /VS Code/);
  assert.match(originWarning("https://abc-colab.googleusercontent.com", "https://cocalc.com"), /\.googleusercontent\.com/);
});

// -- the view: a tiny fake DOM, enough to run render() ----------------------------------------

/** A fake element: attributes, listeners, children; an IFrame records each navigation together
 * with the `allow` attribute it had at that moment (what the browser would apply). */
class FakeElement {
  constructor(tag, doc) {
    this.tagName = tag.toUpperCase();
    this.doc = doc;
    this.attrs = new Map();
    this.listeners = new Map();
    this.children = [];
    this.style = {};
    this.dataset = {};
    this.textContent = "";
    this.innerHTML = "";
    this.hidden = false;
    this.navigations = [];
    this.contentWindow = tag === "iframe" ? new FakeWindow() : undefined;
    this._src = "";
  }
  get src() {
    return this._src;
  }
  set src(url) {
    this._src = url;
    this.navigations.push({ url, allow: this.getAttribute("allow") });
  }
  setAttribute(k, v) {
    this.attrs.set(k, String(v));
  }
  getAttribute(k) {
    return this.attrs.has(k) ? this.attrs.get(k) : null;
  }
  hasAttribute(k) {
    return this.attrs.has(k);
  }
  removeAttribute(k) {
    this.attrs.delete(k);
  }
  append(...kids) {
    this.children.push(...kids);
  }
  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }
  removeEventListener(type, fn) {
    const fns = this.listeners.get(type) || [];
    if (fns.includes(fn)) fns.splice(fns.indexOf(fn), 1);
  }
  dispatch(type, event = {}) {
    for (const fn of [...(this.listeners.get(type) || [])]) fn(event);
  }
  click() {
    this.dispatch("click", {});
  }
  requestFullscreen() {
    this.doc.fullscreenRequests.push(this);
    if (!this.doc.grantFullscreen) return Promise.reject(new TypeError("Permissions check failed"));
    this.doc.fullscreenElement = this;
    this.doc.dispatch("fullscreenchange");
    return Promise.resolve();
  }
  find(cls) {
    if (String(this.className || "").split(" ").includes(cls)) return this;
    for (const c of this.children) {
      const hit = c.find && c.find(cls);
      if (hit) return hit;
    }
    return null;
  }
}

class FakeDocument extends FakeElement {
  constructor({ fullscreenEnabled = true, grantFullscreen = true } = {}) {
    super("#document", null);
    this.fullscreenEnabled = fullscreenEnabled;
    this.grantFullscreen = grantFullscreen;
    this.fullscreenElement = null;
    this.fullscreenRequests = [];
  }
  createElement(tag) {
    return new FakeElement(tag, this);
  }
  exitFullscreen() {
    this.fullscreenElement = null;
    this.dispatch("fullscreenchange");
    return Promise.resolve();
  }
}

/** An anywidget model of a CoCalcFrame: the synced traits, custom messages both ways. */
class FakeModel {
  constructor(state) {
    this.state = {
      _url: `${COCALC}/projects/${PID}/files/a.txt?fullscreen=kiosk&session=`,
      _origin: COCALC,
      _impersonate_url: `${COCALC}/auth/impersonate`,
      _signin: "none",
      _kiosk: true,
      _mode_request: "auto",
      _mode: "connecting",
      _bridge_wait_ms: 10000,
      _nav: { url: `${COCALC}/projects/${PID}/files/a.txt?fullscreen=project&session=`, project_id: PID, path: "a.txt" },
      height: "600px",
      allow: "clipboard-read; clipboard-write; fullscreen",
      ...state,
    };
    this.handlers = new Map();
    this.sent = [];
  }
  get(k) {
    return this.state[k];
  }
  set(k, v) {
    this.state[k] = v;
    for (const fn of this.handlers.get(`change:${k}`) || []) fn();
  }
  on(evt, fn) {
    if (!this.handlers.has(evt)) this.handlers.set(evt, []);
    this.handlers.get(evt).push(fn);
  }
  off(evt, fn) {
    const fns = this.handlers.get(evt) || [];
    if (fns.includes(fn)) fns.splice(fns.indexOf(fn), 1);
  }
  send(msg) {
    this.sent.push(msg);
  }
  fromKernel(msg) {
    for (const fn of this.handlers.get("msg:custom") || []) fn(msg);
  }
}

/** render() a view into a fake page; returns what the test needs and a cleanup. */
function renderView(state = {}, docOptions = {}) {
  const doc = new FakeDocument(docOptions);
  const saved = {
    document: globalThis.document,
    addEventListener: globalThis.addEventListener,
    removeEventListener: globalThis.removeEventListener,
  };
  globalThis.document = doc;
  globalThis.addEventListener = () => {};
  globalThis.removeEventListener = () => {};
  const model = new FakeModel(state);
  const el = doc.createElement("div");
  const dispose = frameModule.render({ model, el });
  const root = el.find("cocalc-frame");
  return {
    doc,
    model,
    root,
    iframe: el.find("cocalc-frame-iframe"),
    button: el.find("cocalc-frame-fullscreen"),
    line: el.find("cocalc-frame-status"),
    view: model.sent[0].view,
    cleanup() {
      dispose();
      Object.assign(globalThis, saved);
      if (saved.document === undefined) delete globalThis.document;
    },
  };
}

test("applyAllow sets the attribute, and removes it for an empty value", () => {
  const doc = new FakeDocument();
  const f = doc.createElement("iframe");
  assert.equal(applyAllow(f, "clipboard-read; fullscreen"), "clipboard-read; fullscreen");
  assert.equal(f.getAttribute("allow"), "clipboard-read; fullscreen");
  assert.equal(applyAllow(f, "  "), "");
  assert.equal(f.hasAttribute("allow"), false);
  applyAllow(f, "fullscreen");
  applyAllow(f, undefined); // an older kernel without the trait: no delegation
  assert.equal(f.hasAttribute("allow"), false);
});

test("every IFrame has `allow` before its first navigation, through sign-in and onto the page", () => {
  const v = renderView({ _signin: "impersonate" });
  try {
    assert.deepEqual(v.iframe.navigations, []); // waiting for the kernel's token
    v.model.fromKernel({ kind: "setup", leader: v.view, cmds: [], auth_token: "tok" });
    v.iframe.dispatch("load"); // the impersonate page set its cookie: now the kiosk page
    const allow = "clipboard-read; clipboard-write; fullscreen";
    assert.deepEqual(
      v.iframe.navigations.map((n) => [n.url.split("?")[0], n.allow]),
      [
        [`${COCALC}/auth/impersonate`, allow],
        [`${COCALC}/projects/${PID}/files/a.txt`, allow],
      ],
    );
  } finally {
    v.cleanup();
  }
});

test("allow '' means no attribute at all, from the first navigation on", () => {
  const v = renderView({ allow: "" });
  try {
    assert.equal(v.iframe.navigations.length, 1);
    assert.equal(v.iframe.navigations[0].allow, null);
    assert.equal(v.iframe.hasAttribute("allow"), false);
  } finally {
    v.cleanup();
  }
});

test("navigate mode: a changed `allow` applies from the next navigation, without a reload", () => {
  const v = renderView({ _mode_request: "navigate", _mode: "navigate" });
  try {
    v.model.fromKernel({ kind: "setup", leader: v.view, cmds: [] });
    v.iframe.dispatch("load");
    assert.equal(v.iframe.navigations.length, 1);
    assert.equal(v.iframe.navigations[0].allow, "clipboard-read; clipboard-write; fullscreen");
    v.model.set("allow", "fullscreen");
    assert.equal(v.iframe.getAttribute("allow"), "fullscreen");
    assert.equal(v.iframe.navigations.length, 1, "the page shown is not reloaded");
    const nav = `${COCALC}/projects/${PID}/files/b.txt?fullscreen=project&session=`;
    const payload = { action: "open", project_id: PID, path: "b.txt" };
    v.model.fromKernel({ kind: "cmd", cmds: [{ id: 1, payload, timeout_ms: 5000, nav }] });
    assert.deepEqual(v.iframe.navigations[1], { url: nav, allow: "fullscreen" });
    v.model.set("allow", "");
    v.iframe.dispatch("load");
    assert.equal(v.iframe.hasAttribute("allow"), false);
  } finally {
    v.cleanup();
  }
});

test("fullscreen button: the whole frame fills the screen, and leaves it again", async () => {
  const v = renderView();
  try {
    assert.equal(v.button.hidden, false);
    assert.equal(v.button.getAttribute("aria-pressed"), "false");
    const before = v.model.sent.length;
    v.button.click();
    await Promise.resolve();
    assert.deepEqual(v.doc.fullscreenRequests, [v.root]);
    assert.equal(v.doc.fullscreenElement, v.root);
    assert.equal(v.button.getAttribute("aria-pressed"), "true");
    assert.equal(v.root.dataset.fullscreen, "true");
    assert.equal(v.iframe.style.height, "auto"); // it takes the screen's height
    v.model.set("height", "300px"); // a new height waits until fullscreen ends
    assert.equal(v.iframe.style.height, "auto");
    v.button.click(); // the button again leaves (as Esc does)
    await Promise.resolve();
    assert.equal(v.doc.fullscreenElement, null);
    assert.equal(v.iframe.style.height, "300px");
    assert.equal(v.button.getAttribute("aria-pressed"), "false");
    assert.equal(v.model.sent.length, before, "fullscreen sends nothing to the kernel");
  } finally {
    v.cleanup();
  }
});

test("fullscreen button: hidden where the page may not go fullscreen; a refusal is shown", async () => {
  const hidden = renderView({}, { fullscreenEnabled: false });
  try {
    assert.equal(hidden.button.hidden, true);
    hidden.button.click();
    assert.deepEqual(hidden.doc.fullscreenRequests, []);
  } finally {
    hidden.cleanup();
  }
  const refused = renderView({}, { grantFullscreen: false });
  try {
    refused.button.click();
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(refused.doc.fullscreenElement, null);
    assert.match(refused.button.title, /refused: Permissions check failed/);
  } finally {
    refused.cleanup();
  }
  assert.equal(fullscreenApi(null), null);
  assert.equal(fullscreenApi({ fullscreenEnabled: false }), null);
  assert.equal(fullscreenApi({ webkitFullscreenEnabled: true }).event, "webkitfullscreenchange");
});

// -- the frame's own file on a kiosk page stuck on its banner (upstream #8527) ----------------
const STUCK_STATUS = { status: "done", connection: { quality: "good" }, open_files: {} };

test("a stuck kiosk page: the frame opens its own file through the bridge once, then is ready", () => {
  const opening = [];
  const { relay, events, fromCoCalc, win } = autoSetup({ onHomeOpen: (p) => opening.push(p) });
  relay.enqueue([{ id: 1, payload: { action: "status" }, timeout_ms: 60000 }]);
  relay.frameLoaded();
  win.posted.length = 0;
  assert.ok(fromCoCalc(STUCK_STATUS));
  assert.equal(relay.mode, "bridge");
  assert.equal(relay.ready, false, "not ready before its own file is open");
  assert.deepEqual(win.posted.map((p) => p.data), [{ action: "open", project_id: PID, path: "a.txt" }]);
  assert.deepEqual(opening, ["a.txt"]);
  assert.equal(relay.homeOpening, true);
  assert.equal(fromCoCalc(STUCK_STATUS), false, "a late poll answer is not the open's");
  assert.ok(fromCoCalc({ status: "ack", action: "open", project_id: PID, path: "a.txt" }));
  assert.ok(fromCoCalc({ status: "done", action: "open", project_id: PID, path: "a.txt" }));
  assert.deepEqual(win.posted.at(-1).data, { action: "status" }, "then a fresh status");
  assert.equal(relay.ready, false);
  assert.ok(fromCoCalc(STATUS_REPLY));
  assert.equal(relay.ready, true);
  const ready = events.filter((e) => e[0] === "ready");
  assert.equal(ready.length, 1);
  assert.deepEqual(win.posted.at(-1).data, { action: "status" }, "the queued command goes after");
  assert.equal(relay.inflight.id, 1);
  // Python heard of none of it but the one ready (and the mode): no extra message.
  assert.deepEqual(events.map((e) => e[0]), ["mode", "ready"]);
  // Once per frame: a reload and a stuck page again open nothing.
  fromCoCalc(STATUS_REPLY);
  relay.frameLoaded();
  win.posted.length = 0;
  fromCoCalc(STUCK_STATUS);
  assert.equal(relay.ready, true);
  assert.deepEqual(win.posted, []);
});

test("the frame's own file already open (a working kiosk page): nothing extra is sent", () => {
  const { relay, events, fromCoCalc, win } = autoSetup();
  relay.frameLoaded();
  win.posted.length = 0;
  fromCoCalc(STATUS_REPLY);
  assert.equal(relay.ready, true);
  assert.deepEqual(win.posted, []);
  assert.deepEqual(events.map((e) => e[0]), ["mode", "ready"]);
});

test("the frame's own open fails or never answers: ready anyway, and the outcome rides along", () => {
  const a = autoSetup();
  a.relay.frameLoaded();
  a.fromCoCalc(STUCK_STATUS);
  const err = { status: "error", action: "open", project_id: PID, path: "a.txt", mesg: "no such project" };
  a.fromCoCalc(err);
  a.fromCoCalc(STUCK_STATUS);
  assert.deepEqual(a.events.at(-1), ["ready", STUCK_STATUS]);
  assert.equal(a.relay.ready, true);

  const ready = [];
  const b = autoSetup({ homeOpenMs: 5000, onReady: (r, h) => ready.push([r, h]) });
  b.relay.frameLoaded();
  b.fromCoCalc(STUCK_STATUS);
  b.clock.advance(4999);
  assert.equal(b.relay.ready, false);
  b.clock.advance(1);
  assert.equal(b.relay.ready, true);
  assert.equal(ready[0][0], STUCK_STATUS);
  assert.equal(ready[0][1].status, "error");
  assert.match(ready[0][1].mesg, /within 5 s/);
});

test("no own file (a project's listing, /app): nothing is opened", () => {
  for (const home of [{ ...HOME, path: null }, { ...HOME, path: "" }, { ...HOME, path: "sub/" }, null]) {
    const { relay, fromCoCalc, win } = autoSetup({ home });
    relay.frameLoaded();
    win.posted.length = 0;
    fromCoCalc(STUCK_STATUS);
    assert.equal(relay.ready, true);
    assert.deepEqual(win.posted, []);
  }
});

// -- the memory of a silent bridge -----------------------------------------------------------
class FakeStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(k) {
    return this.items.has(k) ? this.items.get(k) : null;
  }
  setItem(k, v) {
    this.items.set(k, String(v));
  }
  removeItem(k) {
    this.items.delete(k);
  }
}

test("memory: only an origin and a time, per CoCalc origin, for an hour", () => {
  const st = new FakeStorage();
  const t = Date.UTC(2026, 0, 1, 12, 0);
  assert.equal(recallNoBridge(st, COCALC, t), null);
  rememberNoBridge(st, COCALC, t);
  assert.deepEqual(JSON.parse(st.getItem(noBridgeKey(COCALC))), { origin: COCALC, at: t });
  assert.equal(recallNoBridge(st, COCALC, t + NO_BRIDGE_MEMORY_MS - 1), t);
  assert.equal(recallNoBridge(st, "https://other.example", t + 1), null, "per origin");
  assert.equal(recallNoBridge(st, COCALC, t + NO_BRIDGE_MEMORY_MS), null, "expired");
  assert.equal(st.getItem(noBridgeKey(COCALC)), null, "an expired entry is removed");
  st.setItem(noBridgeKey(COCALC), "{not json");
  assert.equal(recallNoBridge(st, COCALC, t), null);
  st.setItem(noBridgeKey(COCALC), JSON.stringify({ origin: "https://evil.example", at: t }));
  assert.equal(recallNoBridge(st, COCALC, t), null, "an entry naming another origin is ignored");
  rememberNoBridge(st, COCALC, t);
  forgetNoBridge(st, COCALC);
  assert.equal(recallNoBridge(st, COCALC, t), null);
  const throwing = { getItem() { throw new Error("denied"); }, setItem() { throw new Error("denied"); }, removeItem() { throw new Error("denied"); } };
  assert.equal(recallNoBridge(throwing, COCALC, t), null);
  rememberNoBridge(throwing, COCALC, t);
  forgetNoBridge(throwing, COCALC);
  assert.equal(recallNoBridge(null, COCALC, t), null);
  assert.match(clockTime(t), /^\d\d:\d\d$/);
});

function withStorage(st, fn) {
  const saved = Object.getOwnPropertyDescriptor(globalThis, "localStorage");
  Object.defineProperty(globalThis, "localStorage", { value: st, configurable: true, writable: true });
  try {
    return fn();
  } finally {
    if (saved) Object.defineProperty(globalThis, "localStorage", saved);
    else delete globalThis.localStorage;
  }
}

test("remembered: a frame in mode auto starts in navigate mode at once and says why", () => {
  const st = new FakeStorage();
  const at = Date.now() - 60000;
  rememberNoBridge(st, COCALC, at);
  withStorage(st, () => {
    const v = renderView();
    try {
      v.model.fromKernel({ kind: "setup", leader: v.view, cmds: [] });
      assert.equal(v.iframe.navigations.length, 1);
      assert.match(v.iframe.navigations[0].url, /fullscreen=project/, "the plain page, no kiosk page");
      v.iframe.dispatch("load");
      assert.equal(v.line.dataset.mode, "navigate");
      assert.match(v.line.textContent, new RegExp(`remembered: CoCalc's bridge did not answer here at ${clockTime(at)}`));
      const modes = v.model.sent.filter((m) => m.kind === "mode");
      assert.deepEqual(modes.map((m) => [m.mode, m.remembered_at]), [["navigate", at]]);
      v.model.fromKernel({ kind: "setup", leader: v.view, cmds: [] });
      assert.equal(v.model.sent.filter((m) => m.kind === "mode").length, 1, "said once");
    } finally {
      v.cleanup();
    }
  });
});

test("remembered, but mode bridge (or an expired memory): the bridge is tried", () => {
  for (const [state, at] of [
    [{ _mode_request: "bridge", _mode: "bridge" }, Date.now() - 60000],
    [{}, Date.now() - NO_BRIDGE_MEMORY_MS - 1000],
  ]) {
    const st = new FakeStorage();
    rememberNoBridge(st, COCALC, at);
    withStorage(st, () => {
      const v = renderView(state);
      try {
        v.model.fromKernel({ kind: "setup", leader: v.view, cmds: [] });
        assert.match(v.iframe.navigations[0].url, /fullscreen=kiosk/);
        assert.notEqual(v.line.dataset.mode, "navigate");
        assert.deepEqual(v.model.sent.filter((m) => m.kind === "mode"), []);
      } finally {
        v.cleanup();
      }
    });
  }
});

test("a bridge that answers clears the memory", () => {
  const st = new FakeStorage();
  const listeners = [];
  withStorage(st, () => {
    const doc = new FakeDocument();
    const saved = { document: globalThis.document, add: globalThis.addEventListener, remove: globalThis.removeEventListener };
    globalThis.document = doc;
    globalThis.addEventListener = (type, fn) => {
      if (type === "message") listeners.push(fn);
    };
    globalThis.removeEventListener = () => {};
    try {
      rememberNoBridge(st, COCALC, Date.now() - NO_BRIDGE_MEMORY_MS - 1000); // expired: tried again
      const model = new FakeModel({});
      const el = doc.createElement("div");
      const dispose = frameModule.render({ model, el });
      const iframe = el.find("cocalc-frame-iframe");
      model.fromKernel({ kind: "setup", leader: model.sent[0].view, cmds: [] });
      assert.match(iframe.navigations[0].url, /fullscreen=kiosk/);
      iframe.dispatch("load");
      rememberNoBridge(st, COCALC, Date.now()); // a fresh entry, as another frame may leave
      for (const fn of listeners) fn({ source: iframe.contentWindow, origin: COCALC, data: STATUS_REPLY });
      assert.equal(st.getItem(noBridgeKey(COCALC)), null);
      assert.equal(model.sent.filter((m) => m.kind === "state").length, 1);
      dispose();
    } finally {
      globalThis.document = saved.document;
      if (saved.document === undefined) delete globalThis.document;
      globalThis.addEventListener = saved.add;
      globalThis.removeEventListener = saved.remove;
    }
  });
});
