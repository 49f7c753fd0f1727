// Unit tests of the relay logic in frame.js: run with `node --test js/` (no npm install).
import assert from "node:assert/strict";
import { test } from "node:test";

import frameModule, {
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
