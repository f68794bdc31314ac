// The agent's app: live acceptance countdowns, drafts kept through a sign-in, and a word
// when an htmx action is refused. Everything else is server-rendered (htmx).
(function () {
  "use strict";

  // A page brought back by Back from the browser's memory shows leads as they were (an
  // Accept already used): load it again instead. Pages are no-store, so this is rare.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) window.location.reload();
  });

  // A note being typed ([data-draft]) is kept in this tab until it is saved: a session that
  // expired sends the agent to sign in and back to this page, where the draft is put back.
  function draftKey(field) { return "draft:" + location.pathname + ":" + field.name; }
  function storage() { try { return window.sessionStorage; } catch (e) { return null; } }
  document.addEventListener("input", function (event) {
    var field = event.target, store = storage();
    if (!store || !field.matches || !field.matches("[data-draft]")) return;
    if (field.value) store.setItem(draftKey(field), field.value);
    else store.removeItem(draftKey(field));
  });
  function restoreDrafts() {
    var store = storage();
    if (!store) return;
    document.querySelectorAll("[data-draft]").forEach(function (field) {
      var draft = store.getItem(draftKey(field));
      if (draft && !field.value) field.value = draft;
    });
  }
  document.addEventListener("DOMContentLoaded", restoreDrafts);
  document.addEventListener("htmx:afterSettle", restoreDrafts);
  document.addEventListener("htmx:afterRequest", function (event) {
    var store = storage(), form = event.detail.elt;
    if (!store || !event.detail.successful || !form.querySelectorAll) return;
    form.querySelectorAll("[data-draft]").forEach(function (field) {
      store.removeItem(draftKey(field));
    });
  });

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = Math.round((Date.parse(el.dataset.due) - now) / 1000);
      if (left <= 0) {
        el.textContent = "overdue";
        el.classList.add("overdue");
        return;
      }
      var m = Math.floor(left / 60), s = left % 60;
      el.textContent = (m >= 60 ? Math.floor(m / 60) + "h " + (m % 60) + "m" : m + ":" + String(s).padStart(2, "0")) + " left";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });

  // After tapping Call (a tel: link), coming back to the page asks how the call went: the
  // phone app took over the screen, so the page was hidden and is shown again.
  var CALLED = "called:" + location.pathname;
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-asks-outcome]"), store = storage();
    if (link && store) store.setItem(CALLED, String(Date.now()));
  });
  function askOutcome(event) {
    if (event && event.persisted) return;  // reloaded at once (above): asked after that
    var store = storage(), dialog = document.getElementById("call-after");
    if (!store || !dialog || document.visibilityState !== "visible") return;
    var at = Number(store.getItem(CALLED) || 0);
    if (!at) return;
    store.removeItem(CALLED);
    if (Date.now() - at > 3 * 3600 * 1000 || dialog.open) return;  // hours ago: not this call
    dialog.showModal();
  }
  document.addEventListener("visibilitychange", askOutcome);
  window.addEventListener("pageshow", askOutcome);
  document.addEventListener("htmx:afterRequest", function (event) {
    var dialog = document.getElementById("call-after");
    if (dialog && dialog.open && event.detail.successful) dialog.close();
  });

  // Live screens: the inbox, pool, lead page or Today ([data-live], holding the ETag of what the
  // agent sees) asks again every few seconds with If-None-Match. The answer is 304 while
  // nothing changed, else the fragment to swap in, with its new ETag. No asking while the
  // tab is hidden (at once when it comes back), while the agent is in one of its fields or
  // while a dialog is open. A poll answered after an action of the agent's (Accept, a call
  // logged, a follow-up set) was sent is dropped: the action's own answer is newer, with its
  // "Follow-up set" word, and the poll's would wipe it.
  var asking = false, actions = 0, pollAfter = 0;
  function liveBox() { return document.querySelector("[data-live]"); }
  function isPoll(detail) {
    var config = detail.requestConfig;
    return !!(config && config.headers && config.headers["X-Leadline-Live"]);
  }
  function stalePoll(detail) { return isPoll(detail) && actions !== pollAfter; }
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!isPoll(event.detail)) actions++;
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (stalePoll(event.detail)) event.detail.shouldSwap = false;
  });
  function inUse(box) {
    var active = document.activeElement;
    if (document.querySelector("dialog[open]")) return true;  // asking how a call went
    return !!active && box.contains(active) && active.matches("input, select, textarea");
  }
  function ask() {
    var box = liveBox();
    if (!box || asking || document.hidden || inUse(box) || !window.htmx) return;
    asking = true;
    pollAfter = actions;
    var done = function () { asking = false; };
    window.htmx.ajax("GET", location.pathname + location.search, {
      source: box, target: box, swap: "innerHTML",
      headers: { "If-None-Match": box.dataset.live, "X-Leadline-Live": "1" }
    }).then(done, done);
  }
  document.addEventListener("htmx:afterRequest", function (event) {
    if (stalePoll(event.detail)) return;
    var tag = event.detail.xhr && event.detail.xhr.getResponseHeader("ETag"), box = liveBox();
    if (tag && box) box.dataset.live = tag;
  });
  document.addEventListener("DOMContentLoaded", function () {
    var box = liveBox();
    if (!box) return;
    setInterval(ask, 1000 * (parseInt(box.dataset.liveEvery, 10) || 5));
    document.addEventListener("visibilitychange", ask);
  });

  // The installable app: the service worker at the site's root (/sw.js) shows pushes and
  // does a notification's Accept or Claim. "Turn on notifications on this device" (the
  // settings page, [data-push]) asks the browser for a push subscription and sends it.
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
  }
  function keyBytes(base64url) {
    var text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((base64url.length + 3) % 4));
    return Uint8Array.from(text, function (c) { return c.charCodeAt(0); });
  }
  function csrfToken() {
    var field = document.querySelector("[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.querySelector("[data-push]");
    if (!box || !("serviceWorker" in navigator) || !("PushManager" in window)) return;
    var button = box.querySelector("[data-push-on]"), state = box.querySelector("[data-push-state]");
    button.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      state.textContent = "Asking this browser…";
      Notification.requestPermission().then(function (permission) {
        if (permission !== "granted") throw new Error("Notifications are blocked for this site in the browser's settings.");
        return navigator.serviceWorker.ready;
      }).then(function (registration) {
        return registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(box.dataset.key) });
      }).then(function (subscription) {
        return fetch(box.dataset.url, {
          method: "POST", credentials: "same-origin", body: JSON.stringify(subscription.toJSON()),
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() }
        });
      }).then(function (response) {
        if (!response.ok) return response.json().then(function (said) { throw new Error(said.error || "Not saved."); });
        state.textContent = "On: this device gets your alerts.";
        window.location.reload();
      }).catch(function (error) {
        state.textContent = error.message || "That didn't work. Try again.";
        button.disabled = false;
      });
    });
  });

  var REFUSED = {
    403: "You can't do that on this lead.",
    404: "That lead is no longer yours to see: someone else may have it.",
    429: "Too many tries. Wait a minute."
  };
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr, flash = document.getElementById("flash");
    var config = event.detail.requestConfig;
    if (!flash || (config && config.headers["X-Leadline-Live"])) return;
    var plain = (xhr.getResponseHeader("Content-Type") || "").indexOf("text/plain") === 0;
    var item = document.createElement("li");
    item.className = "msg error";
    item.textContent = plain ? xhr.responseText : (REFUSED[xhr.status] || "That didn't work. Try again.");
    var list = document.createElement("ul"), alert = document.createElement("div");
    list.className = "messages";
    list.appendChild(item);
    alert.setAttribute("role", "alert");  // on a wrapper: the list keeps its list semantics
    alert.appendChild(list);
    flash.replaceChildren(alert);
    window.scrollTo(0, 0);
  });
})();
