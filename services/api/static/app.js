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
    el("td", {}, t.title || el("span", { class: "muted" }, t.env || "task")),
    el("td", {}, badge(t.state)),
    el("td", {}, t.phase || ""),
    el("td", { class: "num" }, tfuel(t.bounty_wei)),
    el("td", { class: "num" }, t.solutions),
    el("td", { class: "num" }, score(t.best_score)),
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
      el("thead", {}, el("tr", {}, ["Task", "Title", "State", "Phase", "Bounty (TFUEL)", "Solutions", "Best verified", "Reveals close"].map((h, i) => el("th", { class: i === 4 || i === 5 || i === 6 ? "num" : "" }, h)))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No tasks yet."))),
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
  const preview = el("div", { class: "preview", id: "preview" });
  const details = el("div", { class: "grid", id: "task-details" });
  function renderDetails(task) {
    details.replaceChildren(
      field("State", badge(task.state)), field("Phase", task.phase || "—"),
      field("Bounty", `${tfuel(task.bounty_wei)} TFUEL`), field("Creator", el("span", { class: "mono" }, short(task.creator))),
      field("Commits close", when(task.commit_deadline)), field("Reveals close", when(task.reveal_deadline)),
      field("Evaluators", `${task.evaluators.length}, quorum ${task.quorum}`), field("Minimum score", score(task.min_score)),
      field("Solutions", el("span", { id: "solution-count" }, task.solutions)),
      field("Spec", el("span", { class: "mono", title: task.spec_cid || "" }, short(task.spec_cid || task.spec_digest, 8))),
      field("Winner", task.winner ? el("span", { class: "mono" }, short(task.winner)) : "—"),
      field("Payout", task.payout_wei ? `${tfuel(task.payout_wei)} TFUEL` : "—"),
      field("Evaluation seed", task.eval_seed ? el("span", { class: "mono" }, short(task.eval_seed, 8)) : "not sealed yet"),
    );
  }
  renderDetails(task);
  let shownPreview = null;

  function render(lb) {
    tbody.replaceChildren(...(lb.entries.length ? lb.entries.map((e) => el("tr", { class: e.rank === 1 ? "best" : "", "data-solution": e.solution_id },
      el("td", { class: "num" }, e.rank ?? "—"),
      el("td", { class: "num" }, e.solution_id),
      el("td", { class: "mono" }, short(e.solver)),
      el("td", {}, badge(e.status)),
      el("td", { class: "num" }, score(e.verified_score)),
      el("td", { class: "num" }, score(e.claimed_score)),
      el("td", { class: "num" }, `${e.attestations.length}/${task.evaluators.length}`),
      el("td", { class: "num" }, e.agent_size ?? "—"),
      el("td", { class: "mono" }, e.agent_digest ? el("a", { href: `#/agents/${e.agent_digest}` }, short(e.agent_digest)) : "—"),
    )) : [el("tr", {}, el("td", { colspan: 9, class: "muted" }, "No solutions committed yet."))]));
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
    el("h2", {}, "Leaderboard ", live),
    el("p", { class: "muted" }, "Ranked as the contract ranks: verified score, then the smaller agent, then the lower solution id."),
    el("table", { id: "leaderboard" },
      el("thead", {}, el("tr", {}, ["Rank", "Solution", "Solver", "Status", "Verified", "Claimed", "Attested", "Agent bytes", "Agent"].map((h, i) => el("th", { class: [0, 1, 4, 5, 6, 7].includes(i) ? "num" : "" }, h)))),
      tbody,
    ),
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
      field("Best verified score", score(agent.score)),
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
async function createView() {
  const chain = await api("/chain").catch(() => null);
  const out = el("pre", { class: "out", id: "create-out" }, "");
  const input = (name, label, value, type = "text", extra = {}) =>
    el("label", { class: extra.wide ? "wide" : "" }, label, el(type === "textarea" ? "textarea" : "input", { name, value, type: type === "textarea" ? undefined : type, ...extra.attrs }, type === "textarea" ? value : null));
  const form = el("form", { class: "create", id: "create-form" },
    input("title", "Title", "Learn a one-time pad", "text", { wide: true }),
    input("description", "Description", "Alice and Bob share a key; Eve must learn nothing.", "text", { wide: true }),
    el("label", {}, "Payload words", el("input", { name: "payload_words", type: "number", min: 1, max: 8, value: 3 })),
    el("label", {}, "Mix", el("select", { name: "mix" }, el("option", { value: "xor" }, "xor"), el("option", { value: "none" }, "none"))),
    el("label", {}, "Evaluation samples", el("input", { name: "samples", type: "number", min: 64, value: 4096 })),
    el("label", {}, "Population", el("input", { name: "population", type: "number", min: 4, value: 100 })),
    el("label", {}, "Generations", el("input", { name: "generations", type: "number", min: 1, value: 2000 })),
    el("label", {}, "Islands", el("input", { name: "islands", type: "number", min: 1, value: 4 })),
    el("label", {}, "Bounty (TFUEL)", el("input", { name: "bounty", value: "1" })),
    el("label", {}, "Commit bond (TFUEL)", el("input", { name: "bond", value: "0.01" })),
    el("label", {}, "Fee per evaluator (TFUEL)", el("input", { name: "fee", value: "0.01" })),
    el("label", {}, "Commits close in (minutes)", el("input", { name: "commit_minutes", type: "number", min: 1, value: 60 })),
    el("label", {}, "Reveals close after (minutes)", el("input", { name: "reveal_minutes", type: "number", min: 1, value: 30 })),
    el("label", {}, "Evaluation window (seconds, ≥ 60)", el("input", { name: "eval_window", type: "number", min: 60, value: 600 })),
    el("label", {}, "Minimum score (0–1)", el("input", { name: "min_score", value: "0.1" })),
    el("label", {}, "Quorum", el("input", { name: "quorum", type: "number", min: 1, max: 5, value: 2 })),
    input("evaluators", "Evaluators (one address a line; you choose whom solvers must trust)", "", "textarea", { wide: true, attrs: { rows: 3 } }),
    el("div", { class: "wide toolbar" },
      el("button", { type: "button", class: "secondary", id: "connect", onclick: connect }, "Connect wallet"),
      el("button", { type: "submit", id: "submit" }, "Create task"),
      el("span", { class: "muted", id: "account" }, window.ethereum ? "" : "No injected wallet found: the prepared transaction will be shown for any wallet."),
    ),
  );
  form.addEventListener("submit", (e) => { e.preventDefault(); submit(form, chain, out); });
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

function toWei(text) {
  const [whole, frac = ""] = String(text).trim().split(".");
  if (!/^\d+$/.test(whole || "0") || !/^\d*$/.test(frac) || frac.length > 18) throw new Error(`not an amount: ${text}`);
  return (BigInt(whole || "0") * 10n ** 18n + BigInt((frac + "0".repeat(18)).slice(0, 18))).toString();
}

async function submit(form, chain, out) {
  const f = Object.fromEntries(new FormData(form).entries());
  try {
    const spec = {
      schema: "edgemarket/task@1", scorer: "bisuna-core/1",
      env: { name: "cipher", params: { payload_words: Number(f.payload_words), mix: f.mix } },
      eval: { samples: Number(f.samples) },
      budget: { population: Number(f.population), generations: Number(f.generations), islands: Number(f.islands), epoch_generations: 50 },
      limits: { max_neurons: 256, max_connections: 2048, max_agent_bytes: 24576 },
      title: f.title, description: f.description,
    };
    out.textContent = "Storing the spec…";
    const stored = await api("/specs", { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: JSON.stringify(spec) });
    const now = Math.floor(Date.now() / 1000);
    const commitDeadline = now + 60 * Number(f.commit_minutes);
    const request = {
      spec_digest: stored.digest,
      bounty_wei: toWei(f.bounty),
      commit_deadline: commitDeadline,
      reveal_deadline: commitDeadline + 60 * Number(f.reveal_minutes),
      eval_window: Number(f.eval_window),
      evaluators: f.evaluators.split(/\s+/).filter(Boolean),
      quorum: Number(f.quorum),
      min_score: Math.round(Number(f.min_score) * 1e6),
      commit_bond_wei: toWei(f.bond),
      evaluator_fee_wei: toWei(f.fee),
    };
    const tx = await api("/tx/create-task", { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: JSON.stringify(request) });
    if (!window.ethereum) {
      out.textContent = `Spec ${stored.cid} stored. Sign and send this transaction with your wallet:\n${JSON.stringify(tx, null, 2)}`;
      return;
    }
    const from = account || (await connect());
    const walletChain = await window.ethereum.request({ method: "eth_chainId" });
    if (BigInt(walletChain) !== BigInt(tx.chain_id)) {
      await window.ethereum.request({ method: "wallet_switchEthereumChain", params: [{ chainId: "0x" + BigInt(tx.chain_id).toString(16) }] });
    }
    out.textContent = "Waiting for your wallet to sign…";
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
