// Unit tests of the relay logic in frame.js: run with `node --test js/` (no npm install).
import assert from "node:assert/strict";
import { test } from "node:test";

import frameModule, {
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
