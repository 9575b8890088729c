// The service worker (served at /sw.js, scope /). It keeps the app's shell, the visit cards
// the inspector opened online, so a card opens again at a gate with no signal, and the
// inspector's home and registration form (the offline registration queue, static/queue.js).
// Nothing else is stored: no API response, no POST, no scan page, no other page.
"use strict";

var VERSION = "v2";
var SHELL = "shell-" + VERSION;
var CARDS = "cards-" + VERSION;
var OFFLINE_URL = "/offline";
var SHELL_FILES = [
  "/static/app.css",
  "/static/app.js",
  "/static/pwa.js",
  "/static/queue.js",
  "/static/vendor/htmx-2.0.11.min.js",
  "/static/vendor/qrcode-generator-2.0.4.js",
  "/static/icons/icon-192.png",
  "/static/icons/icon-512.png",
  "/manifest.webmanifest",
  OFFLINE_URL,
];
// A visit card: /visits/<public id> (token_urlsafe(16): 22 characters), not /visits/new.
var CARD = /^\/visits\/[A-Za-z0-9_-]{16,64}$/;
// The inspector's home and the registration form: kept (with the cards, and forgotten with
// them at sign-out) so that a visit can be registered with no network and waits on the phone.
var PAGES = ["/visits", "/visits/new"];

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(SHELL).then(function (cache) {
      return cache.addAll(SHELL_FILES.map(function (u) { return new Request(u, { cache: "reload" }); }));
    }).then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (keys) {
      return Promise.all(keys.filter(function (k) { return k !== SHELL && k !== CARDS; })
        .map(function (k) { return caches.delete(k); }));
    }).then(function () { return self.clients.claim(); })
  );
});

// Sign-in page: forget every card (a shared phone must not show one user's card to another).
self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "clear") {
    event.waitUntil(caches.delete(CARDS));
  }
});

function offlinePage() {
  return caches.match(OFFLINE_URL, { cacheName: SHELL }).then(function (r) {
    return r || new Response("Offline", { status: 503, headers: { "Content-Type": "text/plain" } });
  });
}

function card(request, anyQuery) {
  return fetch(request).then(function (response) {
    // Only the card itself: not a redirect to the sign-in page, not an error page.
    if (response.ok && !response.redirected && response.type === "basic") {
      var copy = response.clone();
      // The app sends pages with Cache-Control: no-store; cache.put stores them anyway
      // (only the HTTP cache obeys that header), which is what an offline card needs.
      caches.open(CARDS).then(function (cache) { return cache.put(request.url, copy); });
    } else if (response.status === 404 || response.status === 403) {
      caches.open(CARDS).then(function (cache) { return cache.delete(request.url); });
    }
    return response;
  }).catch(function () {
    return caches.match(request.url, { cacheName: CARDS }).then(function (hit) {
      // The form opened with another query (?entry=...) is still the form.
      return hit || (anyQuery ? caches.match(request.url, { cacheName: CARDS, ignoreSearch: true }) : null);
    }).then(function (hit) {
      return hit || offlinePage();
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  var path = url.pathname;
  if (path.indexOf("/api/") === 0 || path === "/scan" || path === "/sw.js") { return; }

  if (request.mode === "navigate") {
    if (CARD.test(path) && !url.search) {
      event.respondWith(card(request, false));
    } else if (PAGES.indexOf(path) >= 0) {
      event.respondWith(card(request, true));
    } else {
      event.respondWith(fetch(request).catch(offlinePage));
    }
    return;
  }
  if (path.indexOf("/static/") === 0 || path === "/manifest.webmanifest") {
    // The shell: the network first (so a new app.css shows at once; the HTTP cache keeps it
    // fast: pages ask for /static/app.css?v=<content hash>, kept a year), the stored copy
    // with no network. It is stored under its path without the version, so a card stored
    // before a deploy still finds its files. The worker is registered as /sw.js?v=<hash of
    // SHELL_FILES> (webapp/static_files.py): a deploy that changes them installs it again.
    event.respondWith(
      fetch(request).then(function (response) {
        if (response.ok && SHELL_FILES.indexOf(path) >= 0) {
          var copy = response.clone();
          caches.open(SHELL).then(function (cache) { return cache.put(path, copy); });
        }
        return response;
      }).catch(function () {
        return caches.match(path, { cacheName: SHELL }).then(function (hit) {
          return hit || Response.error();
        });
      })
    );
  }
  // Anything else (htmx fragments, the pass poll): straight to the network, never stored.
});
