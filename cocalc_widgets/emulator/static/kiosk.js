// File pages of the cocalc-widgets CoCalc emulator (plain ES module, no build step).
//
// Shows a file (text, notebook, directory listing) or, on /app, the projects. Only on a kiosk
// page (?fullscreen=kiosk) whose server setting lets it (config.bridge: the emulator's
// kiosk="ok"), it runs CoCalc's IFrame postMessage listener exactly as PROTOCOL.md §4 describes
// it (CoCalc's src/packages/frontend/iframe-communication.ts): actions open / status / closeall,
// the same error texts, replies only to event.source with event.origin as target, and the
// silent drop of origins not allowed by CoCalc's block_origin rule. Plain pages (any other
// fullscreen value, or none) link their listing entries to the entries' own pages. Everything
// a file or a message contains is put into the page as text (textContent), never as HTML.

const config = JSON.parse(document.getElementById("kiosk-config").textContent);
const UUID = /[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}/i;
const pageStart = Date.now();

// CoCalc's old sign-in way leaves the token in the URL: drop it from the address (the server
// has already turned it into a cookie and never writes it into the page).
try {
  const url = new URL(window.location.href);
  if (url.searchParams.has("auth_token")) {
    url.searchParams.delete("auth_token");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  }
} catch (err) {
  console.warn("could not clean the URL", err);
}

// --- state: open files per project, in the order they were opened ---------------------------
const openFiles = new Map(); // project_id -> [paths]
let openSeq = 0; // the latest open wins the display
let generation = 0; // bumped by closeall: an open still loading then is not added back

function addOpenFile(project_id, path) {
  const files = openFiles.get(project_id) ?? [];
  if (!files.includes(path)) files.push(path);
  openFiles.set(project_id, files);
}

function allOpenedFiles() {
  const out = {};
  for (const [project_id, files] of openFiles) {
    if (files.length > 0) out[project_id] = [...files];
  }
  return out;
}

// --- rendering (DOM API and textContent only) -----------------------------------------------
const content = document.getElementById("content");
const titleEl = document.getElementById("kiosk-title");

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function show(kind, project_id, path, ...nodes) {
  content.replaceChildren(...nodes.filter((n) => n != null));
  content.dataset.kind = kind;
  if (path == null) {
    delete content.dataset.path;
    delete content.dataset.projectId;
    titleEl.textContent = "";
    document.title = "CoCalc emulator";
  } else {
    content.dataset.path = path;
    content.dataset.projectId = project_id;
    titleEl.textContent = path === "" ? "/" : path;
    document.title = `${path || "/"} - CoCalc emulator`;
  }
}

function showBanner() {
  show(
    "banner",
    null,
    null,
    el(
      "div",
      { class: "kiosk-banner", id: "kiosk-banner" },
      el("strong", { text: "CoCalc is ready." }),
      el("span", { text: " Kiosk mode: the embedding page opens files with postMessage." }),
    ),
  );
}

function renderNotebook(doc) {
  const cells = el("div", { class: "notebook" });
  for (const cell of doc.cells) {
    const box = el("div", { class: `cell cell-${cell.cell_type}` });
    if (cell.cell_type === "code") {
      const n = cell.execution_count == null ? " " : String(cell.execution_count);
      box.append(
        el("div", { class: "input" }, el("span", { class: "prompt", text: `In [${n}]:` }),
          el("pre", { class: "source", text: cell.source })),
      );
      for (const out of cell.outputs) {
        if (out.type === "image") {
          box.append(el("img", { class: "output output-image", alt: "output image",
            src: `data:${out.mime};base64,${out.data}` }));
        } else {
          box.append(el("pre", { class: `output output-${out.type}`, text: out.text }));
        }
      }
    } else {
      box.append(el("pre", { class: "markdown", text: cell.source }));
    }
    cells.append(box);
  }
  return cells;
}

function renderDoc(doc) {
  const { project_id, path } = doc;
  switch (doc.kind) {
    case "text": {
      const pre = el("pre", { class: "file-text", id: "file-text", text: doc.text });
      const note = doc.truncated ? el("p", { class: "note", text: "(file cut off)" }) : null;
      show("text", project_id, path, pre, note);
      break;
    }
    case "notebook":
      show("notebook", project_id, path, renderNotebook(doc));
      break;
    case "directory": {
      const list = el("ul", { class: "listing", id: "listing" });
      for (const e of doc.entries) {
        const name = e.is_dir ? `${e.name}/` : e.name;
        const child = path === "" ? name : `${path.replace(/\/+$/, "")}/${name}`;
        const item = config.kiosk ? name : el("a", { href: pageHref(project_id, child), text: name });
        list.append(el("li", { class: e.is_dir ? "dir" : "file" }, item));
      }
      if (doc.entries.length === 0) list.append(el("li", { class: "empty", text: "(empty)" }));
      show("directory", project_id, path, list);
      break;
    }
    case "binary":
      show("binary", project_id, path, el("p", { class: "note", text: `Binary file, ${doc.size} bytes.` }));
      break;
    default:
      show("missing", project_id, path,
        el("p", { class: "error", id: "file-error", text: doc.error ?? "File not found." }));
  }
}

// A file's (or folder's) page, keeping this page's fullscreen parameter.
function pageHref(project_id, path) {
  const quoted = path.split("/").map(encodeURIComponent).join("/");
  const fs = config.fullscreen;
  const query = fs == null ? "" : `?${new URLSearchParams({ fullscreen: fs })}`;
  return `${config.base}/projects/${encodeURIComponent(project_id)}/files/${quoted}${query}`;
}

function renderProjects(projects) {
  const list = el("ul", { class: "projects" });
  for (const p of projects) {
    const href = pageHref(p.project_id, "");
    list.append(el("li", {}, el("a", { href, text: p.title || p.project_id })));
  }
  if (projects.length === 0) list.append(el("li", { class: "empty", text: "(no projects)" }));
  show("projects", null, null, el("h1", { text: "Projects" }), list);
}

function uuid4() {
  // crypto.randomUUID needs a secure context; getRandomValues does not.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// --- project log ----------------------------------------------------------------------------
function projectLog(project_id, path) {
  const id = uuid4();
  const project_log = {
    // as CoCalc master 5cb3315c sends it (tests/conformance/traces/bridge.json)
    event: { event: "open", action: "open", filename: path, deleted: null, compute_server_id: 0 },
    project_id,
    time: new Date(), // CoCalc sends server_time(), a Date (structured-cloned as a Date)
    id,
  };
  // CoCalc posts every project-log entry to its parent with target "*" (project_actions.ts,
  // issue #4145), kiosk mode or not, whatever the parent's origin. The emulator delivers it to
  // the same parent, but names that parent's origin as the target: if the parent navigated to
  // another site meanwhile, the message is dropped instead of going there.
  const target = parentOrigin();
  if (target == null || target === "null") return;
  window.parent.postMessage({ source: "cocalc-project-log", payload: { project_log } }, target);
}

// The embedding page's origin, or null (not framed, or the browser does not say).
function parentOrigin() {
  if (window.parent === window) return null;
  const ancestors = window.location.ancestorOrigins;
  if (ancestors != null && ancestors.length > 0) return ancestors[0];
  try {
    return new URL(document.referrer).origin;
  } catch {
    return null;
  }
}

// --- fetching a file ------------------------------------------------------------------------
async function fetchDoc(project_id, path) {
  const q = new URLSearchParams({ project_id, path });
  const resp = await fetch(`${config.base}/_kiosk/file?${q}`, {
    credentials: "same-origin",
    cache: "no-store",
  });
  let body = null;
  try {
    body = await resp.json();
  } catch {
    body = null;
  }
  if (!resp.ok || body == null || body.error != null) {
    throw new Error(body?.error ?? `HTTP ${resp.status}`);
  }
  return body;
}

// --- CoCalc's origin rule (block_origin), plus the emulator's dev switch ---------------------
function blockOrigin(origin, hosts) {
  if (typeof origin !== "string") return true;
  if (origin.startsWith("http://")) {
    // Emulator-only development switch: exact http origins (a local JupyterLab).
    return !config.dev_http_origins.includes(origin);
  }
  for (const allowed of hosts) {
    if (allowed.slice(0, 1) === ".") {
      if (origin.endsWith(allowed)) return false;
      if (origin.endsWith(`https://${allowed.slice(1)}`)) return false;
    } else if (origin.endsWith(`https://${allowed}`)) {
      return false;
    }
  }
  return true;
}

// --- the IFrame protocol --------------------------------------------------------------------
async function handleOpen(data, reply) {
  const { project_id, path } = data;
  const action = "open";
  if (!(typeof project_id === "string" && project_id.length === 36 && UUID.test(project_id))) {
    reply({ status: "error", mesg: `invalid project_id='${project_id}'` });
    return;
  }
  if (path == null || typeof path !== "string") {
    reply({ status: "error", mesg: "invalid path, it must be a string" });
    return;
  }
  const seq = ++openSeq;
  const gen = generation;
  try {
    reply({ status: "ack", action, path, project_id });
    const doc = await fetchDoc(project_id, path);
    if (doc.kind !== "directory" && gen === generation) addOpenFile(project_id, path);
    projectLog(project_id, path);
    if (seq === openSeq) renderDoc(doc);
    reply({ status: "done", action, path, project_id });
  } catch (err) {
    if (seq === openSeq) renderDoc({ project_id, path, kind: "missing", error: String(err.message ?? err) });
    reply({ status: "error", action, path, project_id, mesg: err.toString() });
  }
}

// As CoCalc master 5cb3315c answers (tests/conformance/traces/bridge.json): "connected", the
// time of that status as a Date, and no average ping (its page store has none measured).
function connectionStatus() {
  return { quality: "good", status: "connected", status_time: new Date(pageStart), ping: undefined };
}

async function processMessage(mesg) {
  // ignore messages to myself (the project log posts to window.parent, which is us when not framed)
  if (window == mesg.source) return;
  if (blockOrigin(mesg.origin, config.iframe_comm_hosts)) return; // silently dropped
  if (mesg.source == null || typeof mesg.source.postMessage !== "function") return;
  const data = mesg.data;
  // Replies go only to the sender, with its origin as the target.
  const reply = (r) => mesg.source.postMessage(r, mesg.origin);
  if (data == null) {
    reply({ status: "error", mesg: 'There is no payload "data"' });
    return;
  }
  if (typeof data !== "object") {
    reply({ status: "error", mesg: 'The payload "data" must be an object' });
    return;
  }
  const { action } = data;
  switch (action) {
    case "open":
      await handleOpen(data, reply);
      break;
    case "status":
      reply({ status: "done", connection: connectionStatus(), open_files: allOpenedFiles() });
      break;
    case "closeall":
      try {
        openFiles.clear();
        openSeq++;
        generation++;
        showBanner();
        reply({ status: "done", mesg: "all files are closed" });
      } catch (err) {
        reply({ status: "error", mesg: err.toString() });
      }
      break;
    default: {
      const err = `Unknown action '${action}'`;
      console.warn(err);
      reply({ status: "error", mesg: err });
    }
  }
}

// --- start ----------------------------------------------------------------------------------
const doc = config.doc;
if (doc != null) {
  renderDoc(doc);
  if (doc.kind !== "missing") {
    if (config.kiosk && doc.kind !== "directory") addOpenFile(doc.project_id, doc.path);
    if (doc.kind !== "directory") projectLog(doc.project_id, doc.path);
  }
} else if (config.kiosk) {
  showBanner();
} else {
  renderProjects(config.projects);
}

function startListening() {
  // No ready message (CoCalc sends none): hosts poll {action:"status"} until it answers.
  window.addEventListener("message", processMessage, false);
  document.body.dataset.kioskReady = "true";
}

if (config.bridge) {
  // The listener exists only once the page has "loaded", after a configurable startup delay,
  // like CoCalc's app which is not listening while it starts. Under the emulator's
  // kiosk="no-bridge" a kiosk page never listens (nor marks itself ready).
  const start = () => setTimeout(startListening, config.startup_delay_ms);
  if (document.readyState === "complete") start();
  else window.addEventListener("load", start, { once: true });
}
