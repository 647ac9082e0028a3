// A small part of Telegram's Mini App bridge, written for this page (the
// SDK is not loaded from telegram.org): the launch parameters from the URL
// hash, postEvent to the client, and the events the page listens to.
// Telegram documents the three transports: TelegramWebviewProxy (Android,
// iOS), window.external.notify (Windows) and postMessage to the parent
// frame (Telegram Web).
"use strict";
(function () {
  const hash = new URLSearchParams(location.hash.slice(1));
  // The hash is read once and then removed, so the init data does not stay
  // in the address (history, a copied link).
  if (location.hash !== "") {
    history.replaceState(null, "", location.pathname);
  }
  const parse = (text, fallback) => {
    try {
      return text ? JSON.parse(text) : fallback;
    } catch {
      return fallback;
    }
  };
  const stored = parse(sessionStorage.getItem("tgLaunch"), {});
  const launch = {
    initData: hash.get("tgWebAppData") ?? stored.initData ?? "",
    version: hash.get("tgWebAppVersion") ?? stored.version ?? "6.0",
    platform: hash.get("tgWebAppPlatform") ?? stored.platform ?? "unknown",
    themeParams: parse(
      hash.get("tgWebAppThemeParams"),
      stored.themeParams ?? {},
    ),
  };
  // Kept for a reload inside the same view, as Telegram's own script does.
  sessionStorage.setItem("tgLaunch", JSON.stringify(launch));

  function postEvent(eventType, eventData) {
    const data = eventData === undefined ? "" : JSON.stringify(eventData);
    if (window.TelegramWebviewProxy !== undefined) {
      window.TelegramWebviewProxy.postEvent(eventType, data);
    } else if (window.external && "notify" in window.external) {
      window.external.notify(JSON.stringify({ eventType, eventData }));
    } else if (window.parent !== window) {
      window.parent.postMessage(
        JSON.stringify({ eventType, eventData }),
        "https://web.telegram.org",
      );
    }
  }

  const handlers = {};
  function receiveEvent(eventType, eventData) {
    for (const handler of handlers[eventType] ?? []) handler(eventData ?? {});
  }
  // Native clients call this; Telegram Web posts messages instead.
  window.Telegram = window.Telegram ?? {};
  window.Telegram.WebView = { receiveEvent, postEvent };
  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return;
    const message = parse(
      typeof event.data === "string" ? event.data : "",
      null,
    );
    if (message && typeof message.eventType === "string") {
      receiveEvent(message.eventType, message.eventData);
    }
  });

  const versionAtLeast = (wanted) => {
    const have = launch.version.split(".").map(Number);
    const want = wanted.split(".").map(Number);
    for (let i = 0; i < Math.max(have.length, want.length); i++) {
      const a = have[i] ?? 0, b = want[i] ?? 0;
      if (a !== b) return a > b;
    }
    return true;
  };

  function applyTheme(params) {
    const root = document.documentElement;
    for (const [key, value] of Object.entries(params)) {
      if (typeof value !== "string" || !/^#[0-9a-fA-F]{3,8}$/.test(value)) {
        continue;
      }
      root.style.setProperty(`--tg-theme-${key.replaceAll("_", "-")}`, value);
    }
    if (Object.keys(params).length > 0) root.classList.add("tg");
  }
  applyTheme(launch.themeParams);

  const webApp = {
    initData: launch.initData,
    version: launch.version,
    platform: launch.platform,
    themeParams: launch.themeParams,
    isVersionAtLeast: versionAtLeast,
    postEvent,
    onEvent(eventType, handler) {
      (handlers[eventType] ??= []).push(handler);
    },
    ready() {
      postEvent("web_app_ready");
      postEvent("web_app_expand");
    },
    setMainButton(params) {
      postEvent("web_app_setup_main_button", params);
    },
    setBackButton(visible) {
      if (versionAtLeast("6.1")) {
        postEvent("web_app_setup_back_button", { is_visible: visible });
      }
    },
    setSettingsButton(visible) {
      if (versionAtLeast("6.10")) {
        postEvent("web_app_setup_settings_button", { is_visible: visible });
      }
    },
    openLink(url) {
      if (
        window.TelegramWebviewProxy !== undefined || window.parent !== window
      ) {
        postEvent("web_app_open_link", { url });
      } else {
        window.open(url, "_blank", "noopener");
      }
    },
    // Telegram's own download (8.0 and later); false where it is missing.
    downloadFile(url, fileName) {
      if (
        !versionAtLeast("8.0") ||
        (window.TelegramWebviewProxy === undefined && window.parent === window)
      ) {
        return false;
      }
      postEvent("web_app_request_file_download", { url, file_name: fileName });
      return true;
    },
  };
  webApp.onEvent("theme_changed", (data) => {
    webApp.themeParams = data.theme_params ?? {};
    applyTheme(webApp.themeParams);
  });
  window.Telegram.WebApp = webApp;
})();
