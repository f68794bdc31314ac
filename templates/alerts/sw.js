{% load static %}// Leadline's service worker (served at /sw.js: its scope is the whole app). It shows the
// pushes of agent alerts and does a notification's Accept or Claim: a POST of the push's
// signed one-use token, no session needed, then a second notification says what happened.
"use strict";

var ICON = "{% static 'alerts/icon-192.png' %}";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { body: event.data.text() }; }
  var actions = data.actions || [];
  event.waitUntil(self.registration.showNotification(data.title || "Leadline", {
    body: data.body || "",
    tag: data.tag,
    renotify: !!data.tag,
    requireInteraction: actions.length > 0,
    icon: ICON,
    badge: ICON,
    actions: actions,
    data: data
  }));
});

function openPage(url) {
  return self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (open) {
    for (var i = 0; i < open.length; i++) {
      if (new URL(open[i].url).pathname === url && "focus" in open[i]) {
        open[i].navigate(open[i].url);
        return open[i].focus();
      }
    }
    return self.clients.openWindow(url);
  });
}

self.addEventListener("notificationclick", function (event) {
  var data = event.notification.data || {};
  event.notification.close();
  if (!event.action || !data.token || !data.act) {
    event.waitUntil(openPage(data.url || "/"));
    return;
  }
  var body = new URLSearchParams({ token: data.token, do: event.action });
  event.waitUntil(
    fetch(data.act, { method: "POST", body: body, credentials: "omit" })
      .then(function (response) { return response.json(); })
      .then(function (said) {
        return self.registration.showNotification(said.title || "Leadline", {
          body: said.body || "", tag: data.tag, icon: ICON, data: { url: said.url || data.url }
        });
      })
      .catch(function () { return openPage(data.url || "/"); })
  );
});
