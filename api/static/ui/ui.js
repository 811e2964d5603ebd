// The /ui pages' behaviour (api/routes/ui.py): the API key kept in localStorage and sent as
// `Authorization: Bearer` with every request; HTML fragments rendered by the server put into
// the page; submits through the JSON API; progress read from the job's events stream with
// fetch (EventSource cannot send the header). No inline script: the pages' CSP forbids it.
"use strict";

(() => {
  const STORAGE_KEY = "mediagen.apiKey";
  const TERMINAL = new Set(["completed", "failed", "canceled"]);
  const body = document.body;
  const root = body.dataset.root || "";
  const $ = (selector) => document.querySelector(selector);

  class Refused extends Error {}

  const storedKey = () => localStorage.getItem(STORAGE_KEY);

  function notify(message) {
    const notice = $("#notice");
    notice.textContent = message;
    notice.hidden = !message;
  }

  function showKeyState() {
    const key = storedKey();
    $("#key-form").hidden = Boolean(key);
    $("#key-saved").hidden = !key;
    $("#key-hint").textContent = key ? `${key.split("_").slice(0, 2).join("_")}_…` : "";
    for (const region of document.querySelectorAll("[data-needs-key]")) region.hidden = !key;
  }

  function forgetKey(message) {
    localStorage.removeItem(STORAGE_KEY);
    for (const region of document.querySelectorAll("#result, #gallery")) region.replaceChildren();
    const live = $("#live");
    if (live) live.hidden = true;
    showKeyState();
    notify(message || "");
    $("#api-key").focus();
  }

  async function call(path, options = {}) {
    const headers = new Headers(options.headers || {});
    headers.set("Authorization", `Bearer ${storedKey()}`);
    const response = await fetch(root + path, { ...options, headers });
    if (response.status === 401) {
      forgetKey("That API key was refused (unknown or revoked): enter another one.");
      throw new Refused();
    }
    return response;
  }

  // The API's errors are JSON `{"detail": "..."}`, or a list of `{loc, msg}` for a 422.
  async function problem(response) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      const document = await response.json();
      if (typeof document.detail === "string") detail = document.detail;
      else if (Array.isArray(document.detail)) {
        detail = document.detail
          .map((item) => `${(item.loc || []).slice(1).join(".")}: ${item.msg}`)
          .join("; ");
      }
    } catch (_) {
      // not JSON: the status line says enough
    }
    return new Error(detail);
  }

  // Puts the fragment at `path` into `into`, unless a later call for `into` has begun since.
  const latest = new WeakMap();
  async function fragment(path, into) {
    const turn = (latest.get(into) || 0) + 1;
    latest.set(into, turn);
    into.setAttribute("aria-busy", "true");
    const response = await call(path);
    if (!response.ok) throw await problem(response);
    const html = await response.text();
    if (latest.get(into) !== turn) return;
    into.innerHTML = html;
    into.setAttribute("aria-busy", "false");
  }

  // Calls `onEvent(name, job)` for each event of the job's stream until `done`; resumes
  // with Last-Event-ID when the connection drops before it.
  async function follow(jobId, onEvent) {
    let lastId = null;
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const headers = { Accept: "text/event-stream" };
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      const response = await call(`/api/v1/jobs/${jobId}/events`, { headers });
      if (!response.ok) throw await problem(response);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      let fields = {};
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, end).replace(/\r$/, "");
          buffer = buffer.slice(end + 1);
          if (line === "") {
            if (fields.data !== undefined) {
              if (fields.id !== undefined) lastId = fields.id;
              onEvent(fields.event || "message", JSON.parse(fields.data));
              if (fields.event === "done") return;
            }
            fields = {};
          } else if (!line.startsWith(":")) {
            const colon = line.indexOf(":");
            const name = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            fields[name] = name === "data" && fields.data !== undefined ? `${fields.data}\n${value}` : value;
          }
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    throw new Error("the events stream kept closing before the job ended");
  }

  function showProgress(job) {
    const percent = Math.round(job.progress * 100);
    $("#live").hidden = false;
    $("#live-progress").setAttribute("value", String(job.progress));
    $("#live-status").textContent = `${job.status}: ${percent}%`;
  }

  // Shows the job's progress live and its fragment (outputs, variants) at each status change
  // (the last one comes with or before `done`, whose document holds the same status).
  async function watch(job) {
    const result = $("#result");
    showProgress(job);
    await fragment(`/ui/fragments/jobs/${job.id}`, result);
    let status = job.status;
    if (TERMINAL.has(status)) return;
    await follow(job.id, (name, update) => {
      showProgress(update);
      if (update.status !== status) {
        status = update.status;
        fragment(`/ui/fragments/jobs/${job.id}`, result).catch(report);
      }
    });
    if (body.dataset.page === "index") loadGallery();
  }

  function report(error) {
    if (!(error instanceof Refused)) notify(error.message);
  }

  function galleryQuery() {
    const params = new URLSearchParams(location.search);
    return { status: params.get("status") || "", page: Number(params.get("page")) || 0 };
  }

  async function loadGallery(change = {}) {
    const wanted = { ...galleryQuery(), ...change };
    const params = new URLSearchParams();
    if (wanted.status) params.set("status", wanted.status);
    if (wanted.page > 0) params.set("page", String(wanted.page));
    const query = params.toString() ? `?${params}` : "";
    history.replaceState(null, "", location.pathname + query);
    $("#status-filter").value = wanted.status;
    await fragment(`/ui/fragments/jobs${query}`, $("#gallery")).catch(report);
  }

  function intOf(form, name) {
    const raw = form.elements[name].value.trim();
    return raw === "" ? undefined : Number(raw);
  }

  async function submitGenerate(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const parameters = {
      width: intOf(form, "width"),
      height: intOf(form, "height"),
      output_format: form.elements.format.value,
      num_outputs: intOf(form, "outputs"),
    };
    const seed = intOf(form, "seed");
    if (seed !== undefined) parameters.seed = seed;
    await submit(form, "/api/v1/generate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        prompt: form.elements.prompt.value,
        model_name: form.elements.model.value.trim(),
        parameters,
      }),
    });
  }

  async function submitUpload(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData();
    const file = form.elements.file.files[0];
    if (!file) return notify("Choose an image to upload.");
    data.append("file", file);
    const chosen = [...form.querySelectorAll("input[name=variants]:checked")].map((box) => box.value);
    data.append("variants", chosen.join(","));
    await submit(form, "/api/v1/uploads", { method: "POST", body: data });
  }

  async function submit(form, path, options) {
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    notify("");
    try {
      const response = await call(path, options);
      if (response.status !== 202) throw await problem(response);
      const job = await response.json();
      button.disabled = false; // another job may be submitted while this one runs
      if (body.dataset.page === "index") loadGallery({ page: 0 });
      await watch(job);
    } catch (error) {
      report(error);
    } finally {
      button.disabled = false;
    }
  }

  async function cancel(button) {
    button.disabled = true;
    const response = await call(`/api/v1/jobs/${button.dataset.cancel}`, { method: "DELETE" });
    if (response.status !== 202) throw await problem(response);
    const job = await response.json();
    showProgress(job);
    await fragment(`/ui/fragments/jobs/${job.id}`, $("#result"));
  }

  async function start() {
    showKeyState();
    if (!storedKey()) return;
    if (body.dataset.page === "index") await loadGallery();
    if (body.dataset.page === "job") {
      const response = await call(`/api/v1/status/${body.dataset.jobId}`);
      if (!response.ok) throw await problem(response);
      await watch(await response.json());
    }
  }

  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem(STORAGE_KEY, $("#api-key").value.trim());
    $("#api-key").value = "";
    notify("");
    start().catch(report);
  });
  $("#forget-key").addEventListener("click", () => forgetKey());
  document.addEventListener("click", (event) => {
    const target = event.target.closest("button[data-cancel], #gallery button[data-page]");
    if (!target) return;
    if (target.dataset.cancel) cancel(target).catch(report);
    else loadGallery({ page: Number(target.dataset.page) });
  });
  const filter = $("#status-filter");
  if (filter) filter.addEventListener("change", () => loadGallery({ status: filter.value, page: 0 }));
  const generateForm = $("#generate-form");
  if (generateForm) generateForm.addEventListener("submit", submitGenerate);
  const uploadForm = $("#upload-form");
  if (uploadForm) uploadForm.addEventListener("submit", submitUpload);
  start().catch(report);
})();
