// The marketplace page: tasks, live leaderboards, agent previews, and task creation through the
// user's own wallet (EIP-1193). No private key ever reaches this page.

const view = document.getElementById("view");

// ---- small DOM helpers: text only, never innerHTML with data ----
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, { headers: { accept: "application/json" }, ...options });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const problem = body && body.title ? body : { title: response.statusText, detail: "" };
    throw new Error(`${problem.title}${problem.detail ? ": " + problem.detail : ""}`);
  }
  return body;
}

const short = (hex, n = 6) => (hex && hex.length > 2 * n + 2 ? `${hex.slice(0, n + 2)}…${hex.slice(-n)}` : hex || "");
const score = (s) => (s === null || s === undefined ? "—" : (s / 1e6).toFixed(6));
const tfuel = (wei) => {
  if (wei === null || wei === undefined) return "—";
  const w = BigInt(wei);
  const whole = w / 10n ** 18n;
  const frac = (w % 10n ** 18n).toString().padStart(18, "0").replace(/0+$/, "").slice(0, 6);
  return frac ? `${whole}.${frac}` : `${whole}`;
};
const when = (unix) => (unix ? new Date(unix * 1000).toLocaleString() : "—");
const badge = (text) => el("span", { class: `badge ${text}` }, text);

function errorBox(error) {
  return el("p", { class: "error" }, String(error.message || error));
}

// ---- routes ----
let teardown = () => {};

async function route() {
  teardown();
  teardown = () => {};
  const hash = location.hash || "#/";
  const [, first, second] = hash.slice(1).split("/");
  try {
    if (first === "tasks" && second) await taskView(Number(second));
    else if (first === "agents" && second) await agentView(second);
    else if (first === "create") await createView();
    else await tasksView(new URLSearchParams(hash.split("?")[1] || ""));
  } catch (error) {
    view.replaceChildren(errorBox(error));
  }
}

// ---- tasks list ----
async function tasksView(params) {
  const state = params.get("state") || "";
  const offset = Number(params.get("offset") || 0);
  const limit = 20;
  const query = new URLSearchParams({ limit, offset });
  if (state) query.set("state", state);
  const page = await api(`/tasks?${query}`);

  const filter = el("select", { id: "state-filter", onchange: (e) => {
    const q = new URLSearchParams();
    if (e.target.value) q.set("state", e.target.value);
    location.hash = `#/?${q}`;
  } }, ["", "open", "finalized", "cancelled"].map((s) => el("option", { value: s, selected: s === state }, s || "all states")));

  const rows = page.items.map((t) => el("tr", { "data-task": t.id },
    el("td", {}, el("a", { href: `#/tasks/${t.id}` }, `#${t.id}`)),
    el("td", {}, t.title || el("span", { class: "muted" }, "untitled")),
    el("td", { class: "env" }, t.env || el("span", { class: "muted" }, "spec not found")),
    el("td", {}, badge(t.state)),
    el("td", {}, t.phase || ""),
    el("td", { class: "num" }, tfuel(t.bounty_wei)),
    el("td", { class: "num" }, t.solutions),
    el("td", { class: "num" }, score(t.best_score)),
    el("td", { class: "mono winner" }, t.winner ? short(t.winner) : "—"),
    el("td", {}, when(t.reveal_deadline)),
  ));
  const pager = el("div", { class: "toolbar" },
    el("button", { class: "secondary", disabled: offset === 0, onclick: () => go(Math.max(0, offset - limit)) }, "← newer"),
    el("span", { class: "muted" }, `${page.total === 0 ? 0 : offset + 1}–${offset + page.items.length} of ${page.total}`),
    el("button", { class: "secondary", disabled: offset + limit >= page.total, onclick: () => go(offset + limit) }, "older →"),
  );
  function go(o) {
    const q = new URLSearchParams({ offset: o });
    if (state) q.set("state", state);
    location.hash = `#/?${q}`;
  }
  view.replaceChildren(
    el("h1", {}, "Tasks"),
    el("div", { class: "toolbar" }, el("label", {}, "State ", filter)),
    el("table", { id: "tasks" },
      el("thead", {}, el("tr", {}, ["Task", "Title", "Environment", "State", "Phase", "Bounty (TFUEL)", "Solutions", "Best verified", "Winner", "Reveals close"].map((h, i) => el("th", { class: [5, 6, 7].includes(i) ? "num" : "" }, h)))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 10, class: "muted" }, "No tasks yet."))),
    ),
    pager,
  );
}

// ---- one task: details, live leaderboard, preview of the best agent ----
async function taskView(id) {
  const task = await api(`/tasks/${id}`);
  const board = await api(`/tasks/${id}/leaderboard`);
  const live = el("span", { class: "live off", id: "live" }, "○ connecting");
  const tbody = el("tbody");
  const racing = el("tbody");
  const preview = el("div", { class: "preview", id: "preview" });
  const details = el("div", { class: "grid", id: "task-details" });
  function renderDetails(task) {
    details.replaceChildren(
      field("Environment", task.env || "—"), field("State", badge(task.state)), field("Phase", task.phase || "—"),
      field("Bounty", `${tfuel(task.bounty_wei)} TFUEL`), field("Creator", el("span", { class: "mono" }, short(task.creator))),
      field("Commits close", when(task.commit_deadline)), field("Reveals close", when(task.reveal_deadline)),
      field("Evaluators", `${task.evaluators.length}, quorum ${task.quorum}`), field("Minimum score", score(task.min_score)),
      field("Commit bond", `${tfuel(task.commit_bond_wei)} TFUEL`), field("Evaluator fee", `${tfuel(task.evaluator_fee_wei)} TFUEL each`),
      field("Solutions", el("span", { id: "solution-count" }, task.solutions)),
      field("Spec", el("span", { class: "mono", title: task.spec_cid || "" }, short(task.spec_cid || task.spec_digest, 8))),
      field("Winner", task.winner ? el("span", { class: "mono" }, short(task.winner)) : "—"),
      field("Payout", task.payout_wei ? `${tfuel(task.payout_wei)} TFUEL` : "—"),
      field("Evaluation seed", task.eval_seed ? el("span", { class: "mono" }, short(task.eval_seed, 8)) : "not sealed yet"),
    );
  }
  renderDetails(task);
  // Where every wei went: one row per credit the contract made (bounty, fees, bonds, refunds,
  // forfeited shares), summed per reason; refreshed with the task on new blocks.
  const money = el("tbody");
  const moneyTotals = el("p", { class: "muted", id: "credit-totals" });
  const REASONS = { bounty: "bounty to the winner", fee: "evaluator's fee", bond: "bond back to its solver", forfeit: "share of a forfeited bond", refund: "refund to the requester", cancel: "cancelled: refund" };
  async function renderCredits() {
    const credits = await api(`/tasks/${id}/credits`);
    money.replaceChildren(...(credits.credits.length ? credits.credits.map((c) => el("tr", { "data-reason": c.reason },
      el("td", {}, REASONS[c.reason] || c.reason),
      el("td", { class: "mono" }, short(c.account)),
      el("td", { class: "num" }, tfuel(c.amount_wei)),
      el("td", { class: "num" }, c.block),
    )) : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, "Nothing credited yet: the escrow holds the bounty, fees and bonds."))]));
    const totals = Object.entries(credits.total_wei);
    moneyTotals.textContent = totals.length ? "Totals: " + totals.map(([k, v]) => `${k} ${tfuel(v)} TFUEL`).join(", ") : "";
  }
  await renderCredits();
  let shownPreview = null;

  function render(lb) {
    const solvers = lb.solvers || [];
    racing.replaceChildren(...(solvers.length ? solvers.map((r) => el("tr", { class: r.rank === 1 && r.best_verified_score !== null ? "best" : "", "data-solver": r.solver },
      el("td", { class: "num" }, r.rank),
      el("td", { class: "mono" }, short(r.solver)),
      el("td", { class: "num" }, r.commitments),
      el("td", { class: "num" }, r.reveals),
      el("td", { class: "num" }, r.verified),
      el("td", { class: "num" }, score(r.best_verified_score)),
      el("td", { class: "num" }, score(r.best_claimed_score)),
    )) : [el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No solver has committed yet."))]));
    tbody.replaceChildren(...(lb.entries.length ? lb.entries.map((e) => el("tr", { class: e.rank === 1 ? "best" : "", "data-solution": e.solution_id },
      el("td", { class: "num" }, e.rank ?? "—"),
      el("td", { class: "num" }, e.solution_id),
      el("td", { class: "mono" }, short(e.solver)),
      el("td", {}, badge(e.status)),
      el("td", { class: "num" }, score(e.verified_score)),
      el("td", { class: "num" }, score(e.claimed_score)),
      el("td", { class: "num" }, `${e.attestations.length}/${task.evaluators.length}`),
      el("td", { class: "num" }, e.agent_size ?? "—"),
      el("td", {}, e.bond || "—"),
      el("td", { class: "mono" }, e.agent_digest ? el("a", { href: `#/agents/${e.agent_digest}` }, short(e.agent_digest)) : "—"),
    )) : [el("tr", {}, el("td", { colspan: 10, class: "muted" }, "No solutions committed yet."))]));
    // The seed's "agents encrypting images, with their scores": the top three distinct agents.
    const shown = [];
    for (const e of lb.entries) {
      if (e.agent_digest && !shown.some((x) => x.agent_digest === e.agent_digest)) shown.push(e);
      if (shown.length === 3) break;
    }
    const key = shown.map((e) => `${e.agent_digest}:${e.verified_score}`).join(",");
    if (task.env === "cipher" && shown.length && key !== shownPreview) {
      shownPreview = key;
      preview.replaceChildren(
        el("h2", {}, "Agents encrypting a picture"),
        ...shown.map((e, i) => el("figure", {},
          el("img", { src: `/agents/${e.agent_digest}/preview.png?task=${id}`, alt: `cipher preview of solution ${e.solution_id}`, id: i === 0 ? "preview-img" : undefined }),
          el("figcaption", {}, `Solution ${e.solution_id}`, e.rank ? ` — rank ${e.rank}, verified ${score(e.verified_score)}` : ` — ${e.status}, claimed ${score(e.claimed_score)}`),
        )),
      );
    }
  }
  render(board);

  view.replaceChildren(
    el("h1", {}, `Task #${task.id}`, task.title ? ` — ${task.title}` : ""),
    task.description ? el("p", { class: "muted" }, task.description) : "",
    details,
    el("h2", {}, "Solvers racing ", live),
    el("table", { id: "solvers" },
      el("thead", {}, el("tr", {}, ["Place", "Solver", "Commitments", "Reveals", "Verified", "Best verified", "Best claimed"].map((h, i) => el("th", { class: i === 1 ? "" : "num" }, h)))),
      racing,
    ),
    el("h2", {}, "Leaderboard"),
    el("p", { class: "muted" }, "Ranked as the contract ranks: verified score, then the smaller agent, then the lower solution id."),
    el("table", { id: "leaderboard" },
      el("thead", {}, el("tr", {}, ["Rank", "Solution", "Solver", "Status", "Verified", "Claimed", "Attested", "Agent bytes", "Bond", "Agent"].map((h, i) => el("th", { class: [0, 1, 4, 5, 6, 7].includes(i) ? "num" : "" }, h)))),
      tbody,
    ),
    el("h2", {}, "Where the money went"),
    el("table", { id: "credits" },
      el("thead", {}, el("tr", {}, ["Credit", "Account", "TFUEL", "Block"].map((h, i) => el("th", { class: i >= 2 ? "num" : "" }, h)))),
      money,
    ),
    moneyTotals,
    preview,
  );

  const source = new EventSource(`/tasks/${id}/events`);
  source.addEventListener("open", () => { live.textContent = "● live"; live.className = "live"; });
  source.addEventListener("error", () => { live.textContent = "○ reconnecting"; live.className = "live off"; });
  let lastBlock = board.block;
  source.addEventListener("leaderboard", (event) => {
    const lb = JSON.parse(event.data);
    render(lb);
    // The task itself moves with the chain too (phase, seed, winner): refresh it on new blocks.
    if (lb.block !== lastBlock) {
      lastBlock = lb.block;
      api(`/tasks/${id}`).then(renderDetails).catch(() => {});
      renderCredits().catch(() => {});
    }
  });
  teardown = () => source.close();
}

function field(label, value) {
  return el("div", {}, el("span", {}, label), value);
}

// ---- one agent ----
async function agentView(digest) {
  const agent = await api(`/agents/${digest}`);
  const networks = agent.networks.map((n, i) => el("tr", {},
    el("td", {}, n.name || `network ${i}`),
    el("td", { class: "num" }, n.neurons), el("td", { class: "num" }, n.connections),
    el("td", {}, Object.entries(n.kinds || {}).map(([k, v]) => `${k} ${v}`).join(", ")),
  ));
  view.replaceChildren(
    el("h1", {}, "Agent ", el("span", { class: "mono" }, short(agent.digest, 10))),
    el("div", { class: "grid" },
      field("CID", el("span", { class: "mono" }, agent.cid)),
      field("Size", `${agent.size} bytes`),
      field("Neurons", agent.neurons), field("Connections", agent.connections),
      field("Best verified score", el("span", { id: "agent-score" }, score(agent.score), agent.score_explained ? el("span", { class: "explained", id: "score-explained" }, ` — ${agent.score_explained}`) : "")),
      field("Tasks", agent.solutions.map((s) => el("a", { href: `#/tasks/${s.task_id}` }, `#${s.task_id}/${s.solution_id} `))),
    ),
    agent.decodes ? "" : el("p", { class: "error" }, `These bytes are not a valid agent (${agent.error}); evaluators attest it 0.`),
    el("h2", {}, "Networks"),
    el("table", {}, el("thead", {}, el("tr", {}, ["Network", "Neurons", "Connections", "Kinds"].map((h) => el("th", {}, h)))), el("tbody", {}, networks)),
    agent.env === "cipher" && agent.decodes ? el("div", { class: "preview" }, el("h2", {}, "Cipher preview"), el("img", { src: `/agents/${digest}/preview.png`, alt: "cipher preview" })) : "",
    agent.decodes ? el("h2", {}, "Graph") : "",
    agent.decodes ? el("div", { class: "preview" }, el("img", { src: `/agents/${digest}/graph.svg`, alt: "the agent's networks", id: "graph-img" })) : "",
    el("p", {}, el("a", { href: `/agents/${digest}/graph.dot` }, "Graphviz DOT"), el("span", { class: "muted" }, " (render with dot -Tsvg)")),
  );
}

// ---- create a task through the user's wallet ----
// The form is built from the spec's JSON Schema (GET /specs/schema): every environment, its
// parameters with their bounds and defaults, the budget and the limits. Nothing about an
// environment is written into this page.
async function createView() {
  const [schema, chain] = await Promise.all([api("/specs/schema"), api("/chain").catch(() => null)]);
  const out = el("pre", { class: "out", id: "create-out" }, "");
  const props = schema.properties;
  const envs = props.env.oneOf;
  const envName = (variant) => variant.properties.name.const;

  // One input for one schema property; `name` is the spec path it fills (a.b.c).
  const fieldFor = (name, prop, required = false) => {
    const label = prop.title || name.split(".").pop().replaceAll("_", " ");
    const hint = [prop.minimum !== undefined ? `${prop.minimum}–${prop.maximum ?? "…"}` : "", prop.description || ""].filter(Boolean).join(" · ");
    let control;
    if (Array.isArray(prop.enum)) {
      control = el("select", { name, "data-kind": "string" }, prop.enum.map((v) => el("option", { value: v, selected: v === prop.default }, v)));
    } else if (prop.type === "integer") {
      control = el("input", { name, type: "number", step: 1, min: prop.minimum, max: prop.maximum, value: prop.default, required, "data-kind": "integer" });
    } else {
      control = el("input", { name, type: "text", maxlength: prop.maxLength, value: prop.default ?? "", required, "data-kind": "string" });
    }
    return el("label", { class: prop.type === "string" && !prop.enum ? "wide" : "" }, label, control, hint ? el("small", { class: "muted" }, hint) : null);
  };
  const section = (key) => {
    const group = props[key];
    return Object.entries(group.properties || {}).map(([k, p]) => fieldFor(`${key}.${k}`, p));
  };

  const envSelect = el("select", { name: "env.name", id: "env-name" }, envs.map((v) => el("option", { value: envName(v) }, v.title || envName(v))));
  const envFields = el("div", { class: "wide subgrid", id: "env-params" });
  function renderEnv() {
    const variant = envs.find((v) => envName(v) === envSelect.value);
    const params = variant.properties.params.properties || {};
    const samples = variant["x-eval-samples"];
    const fields = Object.entries(params).map(([k, p]) => fieldFor(`env.params.${k}`, p));
    if (samples) fields.push(fieldFor("eval.samples", { ...props.eval.properties.samples, ...samples, type: "integer" }));
    envFields.replaceChildren(...(fields.length ? fields : [el("p", { class: "muted" }, "This environment has no parameters: every case is scored.")]));
  }
  envSelect.addEventListener("change", renderEnv);
  renderEnv();

  const known = chain && chain.evaluators ? chain.evaluators : [];
  const evaluatorNote = known.length
    ? `${chain.evaluators_source === "stack" ? "The evaluators this stack runs" : "The evaluators of the newest task"} are filled in; you choose whom solvers must trust.`
    : "One address a line; you choose whom solvers must trust.";
  const majority = known.length ? Math.floor(known.length / 2) + 1 : 2;

  const form = el("form", { class: "create", id: "create-form" },
    el("h2", { class: "wide" }, "The spec"),
    fieldFor("title", { ...props.title, title: "Title", default: "" }),
    fieldFor("description", { ...props.description, title: "Description", default: "" }),
    el("label", {}, "Environment", envSelect),
    fieldFor("scorer", { ...props.scorer, title: "Scorer" }),
    envFields,
    el("h3", { class: "wide" }, "Budget (a hint to solvers)"),
    ...section("budget"),
    el("h3", { class: "wide" }, "Limits on the agent"),
    ...section("limits"),
    el("h2", { class: "wide" }, "The task on chain"),
    el("label", {}, "Bounty (TFUEL)", el("input", { name: "bounty", value: "1" })),
    el("label", {}, "Commit bond (TFUEL)", el("input", { name: "bond", value: "0.01" })),
    el("label", {}, "Fee per evaluator (TFUEL)", el("input", { name: "fee", value: "0.01" })),
    el("label", {}, "Commits close in (minutes)", el("input", { name: "commit_minutes", type: "number", min: 0.25, step: "any", value: 60 })),
    el("label", {}, "Reveals close after (minutes)", el("input", { name: "reveal_minutes", type: "number", min: 0.25, step: "any", value: 30 })),
    el("label", {}, "Evaluation window (seconds, ≥ 60)", el("input", { name: "eval_window", type: "number", min: 60, value: 600 })),
    el("label", {}, "Minimum score (0–1, as task create --min-score)", el("input", { name: "min_score", value: "0.1" })),
    el("label", {}, "Quorum", el("input", { name: "quorum", type: "number", min: 1, max: 5, value: majority })),
    el("label", { class: "wide" }, "Evaluators", el("textarea", { name: "evaluators", rows: 3, id: "evaluators" }, known.join("\n")), el("small", { class: "muted", id: "evaluator-note" }, evaluatorNote)),
    el("div", { class: "wide toolbar" },
      el("button", { type: "button", class: "secondary", id: "connect", onclick: connect }, "Connect wallet"),
      el("button", { type: "submit", id: "submit" }, "Create task"),
      el("span", { class: "muted", id: "account" }, window.ethereum ? "" : "No injected wallet found: the prepared transaction will be shown for any wallet."),
    ),
  );
  form.addEventListener("submit", (e) => { e.preventDefault(); submit(form, out); });
  view.replaceChildren(
    el("h1", {}, "Create a task"),
    el("p", { class: "muted" }, chain ? `Contract ${chain.contract} on chain ${chain.chain_id}.` : "The API does not know the contract deployment."),
    form, out,
  );
}

let account = null;

async function connect() {
  if (!window.ethereum) throw new Error("no injected wallet (EIP-1193) in this browser");
  const accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
  account = accounts[0];
  document.getElementById("account").textContent = `Wallet ${short(account)}`;
  return account;
}

function toWei(text, what) {
  const [whole, frac = ""] = String(text).trim().split(".");
  if (!/^\d+$/.test(whole || "0") || !/^\d*$/.test(frac) || frac.length > 18) throw new Error(`${what}: not an amount in TFUEL: ${text}`);
  return (BigInt(whole || "0") * 10n ** 18n + BigInt((frac + "0".repeat(18)).slice(0, 18))).toString();
}

// The minimum score as the CLI takes it: a fraction 0..1 with at most 6 decimals.
function toScoreUnits(text) {
  const t = String(text).trim();
  const m = /^(0|1)?(?:\.(\d{0,6}))?$/.exec(t);
  if (!t || !m || (m[1] === "1" && /[1-9]/.test(m[2] || ""))) throw new Error(`minimum score: a fraction 0..1 with at most 6 decimals (e.g. 0.95), got ${text}`);
  return Number(m[1] || 0) * 1e6 + Number(((m[2] || "") + "000000").slice(0, 6));
}

// The spec from the form: every named control, at its path; integers as numbers.
function specFrom(form) {
  const spec = { schema: "edgemarket/task@1" };
  for (const control of form.querySelectorAll("[data-kind], select[name='env.name']")) {
    const path = control.name.split(".");
    if (!["title", "description", "scorer", "env", "eval", "budget", "limits"].includes(path[0])) continue;
    let value = control.value;
    if (control.dataset.kind === "integer") {
      if (!/^\d+$/.test(value.trim())) throw new Error(`${control.name}: a whole number, got ${JSON.stringify(value)}`);
      value = Number(value);
    }
    let node = spec;
    for (const key of path.slice(0, -1)) node = node[key] ??= {};
    node[path[path.length - 1]] = value;
  }
  spec.env.params ??= {};
  return spec;
}

async function submit(form, out) {
  const f = Object.fromEntries(new FormData(form).entries());
  const post = (path, body) => api(path, { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: JSON.stringify(body) });
  try {
    const spec = specFrom(form);
    const now = Math.floor(Date.now() / 1000);
    const commitDeadline = now + Math.round(60 * Number(f.commit_minutes));
    const terms = {
      bounty_wei: toWei(f.bounty, "bounty"),
      commit_deadline: commitDeadline,
      reveal_deadline: commitDeadline + Math.round(60 * Number(f.reveal_minutes)),
      eval_window: Number(f.eval_window),
      evaluators: f.evaluators.split(/\s+/).filter(Boolean),
      quorum: Number(f.quorum),
      min_score: toScoreUnits(f.min_score),
      commit_bond_wei: toWei(f.bond, "commit bond"),
      evaluator_fee_wei: toWei(f.fee, "fee per evaluator"),
    };
    out.textContent = "Storing the spec…";
    const stored = await post("/specs", spec);
    // The pre-flight: the API runs the checks `edgemarket task create` runs (the spec is in the
    // stack's content store, valid, with a known scorer and limits the core accepts; the
    // evaluators are addresses) and only then encodes the transaction. Nothing is sent otherwise.
    out.textContent = "Checking the task…";
    const tx = await post("/tx/create-task", { spec_digest: stored.digest, ...terms });
    if (!window.ethereum) {
      out.textContent = `Spec ${stored.cid} stored and checked. Sign and send this transaction with your wallet:\n${JSON.stringify(tx, null, 2)}`;
      return;
    }
    const from = account || (await connect());
    const walletChain = await window.ethereum.request({ method: "eth_chainId" });
    if (BigInt(walletChain) !== BigInt(tx.chain_id)) {
      await window.ethereum.request({ method: "wallet_switchEthereumChain", params: [{ chainId: "0x" + BigInt(tx.chain_id).toString(16) }] });
    }
    out.textContent = "Checked. Waiting for your wallet to sign…";
    const hash = await window.ethereum.request({ method: "eth_sendTransaction", params: [{ from, to: tx.to, data: tx.data, value: tx.value }] });
    out.textContent = `Sent: ${hash}\nThe task appears in the list once the indexer sees the block.`;
  } catch (error) {
    out.textContent = "";
    out.append(errorBox(error));
  }
}

async function showChain() {
  const chain = await api("/chain").catch(() => null);
  if (chain) document.getElementById("chain").textContent = `chain ${chain.chain_id} · ${short(chain.contract)}`;
}

window.addEventListener("hashchange", route);
showChain();
route();
