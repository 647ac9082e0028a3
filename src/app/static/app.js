// The privacy center page: asks the bot's API (init data in the
// Authorization header, never in a URL), shows what is stored, and offers
// download and erasure. All text comes translated from the API.
"use strict";
(function () {
  const tg = window.Telegram.WebApp;
  const main = document.getElementById("main");
  let view = null;
  let screen = "records";

  const el = (tag, attributes, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes ?? {})) {
      if (key === "onclick") node.addEventListener("click", value);
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  };

  async function call(action, method) {
    const response = await fetch(`/app/api/${action}`, {
      method,
      headers: { authorization: `tma ${tg.initData}` },
      cache: "no-store",
      credentials: "omit",
    });
    let body = {};
    try {
      body = await response.json();
    } catch { /* An empty or broken body: the status says enough. */ }
    if (!response.ok) {
      throw new Error(body.error ?? `HTTP ${response.status}`);
    }
    return body;
  }

  function show(...nodes) {
    main.replaceChildren(...nodes);
  }

  function showError(message) {
    show(el("p", { class: "error", role: "alert", id: "error" }, message));
    tg.setMainButton({ is_visible: false, text: "" });
    tg.setBackButton(false);
  }

  function records() {
    screen = "records";
    const t = view.texts;
    const nodes = [el("h1", {}, t.title), el("p", { id: "stored" }, t.stored)];
    for (const section of view.sections) {
      const card = el(
        "section",
        { "data-table": section.table },
        el("h2", {}, section.title),
      );
      for (const row of section.rows) {
        const list = el("dl");
        for (const [label, value] of row) {
          list.append(el("dt", {}, label), el("dd", {}, value));
        }
        card.append(list);
      }
      nodes.push(card);
    }
    if (view.firstStored !== null) {
      nodes.push(
        el(
          "p",
          { class: "hint", id: "first-stored" },
          `${t.firstStored}: ${view.firstStored}`,
        ),
      );
    }
    if (view.sections.length > 0) {
      nodes.push(
        el(
          "button",
          { id: "download", type: "button", onclick: download },
          t.download,
        ),
        el("button", {
          id: "erase",
          class: "danger",
          type: "button",
          onclick: confirmErase,
        }, t.erase),
      );
    }
    nodes.push(el("div", { class: "card policy", id: "policy" }, t.policy));
    if (view.policyUrl !== null) {
      nodes.push(el(
        "p",
        {},
        el("a", {
          href: view.policyUrl,
          id: "policy-link",
          rel: "noopener noreferrer",
          target: "_blank",
          onclick: (event) => {
            event.preventDefault();
            tg.openLink(view.policyUrl);
          },
        }, t.policyLink),
      ));
    }
    if (t.contact !== null) {
      nodes.push(el("p", { class: "hint", id: "contact" }, t.contact));
    }
    show(...nodes);
    tg.setBackButton(false);
    // Where Telegram shows a main button, it downloads too.
    tg.setMainButton({
      is_visible: view.sections.length > 0,
      is_active: true,
      text: t.download,
    });
  }

  function confirmErase() {
    screen = "confirm";
    const t = view.texts;
    const list = el("ul", { id: "erase-list" });
    for (const section of view.sections) {
      list.append(el("li", {}, section.title));
    }
    show(
      el("h1", {}, t.erase),
      el("p", { id: "confirm-text" }, t.confirm),
      el("p", {}, t.confirmList),
      list,
      el("button", {
        id: "erase-yes",
        class: "danger",
        type: "button",
        onclick: erase,
      }, t.yes),
      el("button", {
        id: "erase-no",
        class: "secondary",
        type: "button",
        onclick: records,
      }, t.no),
    );
    tg.setMainButton({ is_visible: false, text: t.download });
    tg.setBackButton(true);
  }

  async function erase() {
    try {
      const result = await call("erase", "POST");
      screen = "done";
      show(el("p", { id: "done", role: "status" }, result.message));
      tg.setBackButton(false);
    } catch (error) {
      showError(error.message);
    }
  }

  async function download() {
    const button = document.getElementById("download");
    button.disabled = true;
    try {
      const { url, fileName } = await call("export", "POST");
      if (!tg.downloadFile(url, fileName)) {
        // Older clients and plain browsers: the page fetches the one-time
        // link itself and saves what it got.
        const response = await fetch(new URL(url).pathname, {
          cache: "no-store",
          credentials: "omit",
        });
        if (!response.ok) throw new Error(view.texts.failed);
        const blob = await response.blob();
        const link = el("a", {
          href: URL.createObjectURL(blob),
          download: fileName,
        });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
      }
      const note = el("p", {
        class: "hint",
        id: "download-note",
        role: "status",
      }, view.texts.downloadReady);
      button.after(note);
    } catch (error) {
      const note = el("p", {
        class: "error",
        id: "download-error",
        role: "alert",
      }, error.message);
      button.after(note);
    } finally {
      button.disabled = false;
    }
  }

  tg.onEvent("back_button_pressed", () => {
    if (screen === "confirm") records();
  });
  tg.onEvent("main_button_pressed", () => {
    if (screen === "records") download();
  });
  tg.onEvent("settings_button_pressed", () => {
    if (view?.policyUrl) tg.openLink(view.policyUrl);
    else document.getElementById("policy")?.scrollIntoView();
  });

  async function start() {
    tg.ready();
    tg.setSettingsButton(true);
    if (tg.initData === "") {
      showError("Open this page from the bot in Telegram.");
      return;
    }
    try {
      view = await call("view", "GET");
      document.documentElement.lang = view.locale;
      document.title = view.texts.title;
      records();
    } catch (error) {
      showError(error.message);
    }
  }
  start();
})();
