/* Relais service worker: keeps the app shell and the capture forms for use without network,
   and sends the offline queue with Background Sync where the browser has it (queue.js: one
   sender at a time between this worker and the pages, through a Web Lock).
   Pages holding personal data (a contact, a note, a referral, a person-code history) are
   never kept: only the pages listed in CONFIG.pages are. */
"use strict";
importScripts("/static/js/queue.js");

var CONFIG = __RELAIS_CONFIG__;
var CACHE = "relais-shell-" + CONFIG.version;
var DATA_CACHE = "relais-data";

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return cache.addAll(CONFIG.assets).then(function () {
      return Promise.all(CONFIG.pages.map(function (page) { return keepPage(cache, page); }));
    });
  }).then(function () {
    // The labels of the codes, for a comparison screen opened without network.
    return self.RelaisQueue.keepLabels();
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (key) {
      return key.indexOf("relais-shell-") === 0 && key !== CACHE;
    }).map(function (key) { return caches.delete(key); }));
  }).then(function () { return self.clients.claim(); }));
});

function keepPage(cache, page) {
  // Only a real page of a signed-in user is kept, never the sign-in page it may redirect to.
  return fetch(page, { credentials: "same-origin" }).then(function (response) {
    if (response.ok && !response.redirected) { return cache.put(page, response); }
    return null;
  }).catch(function () { return null; });
}

function withTimeout(promise, ms) {
  return new Promise(function (resolve, reject) {
    var timer = setTimeout(function () { reject(new Error("timeout")); }, ms);
    promise.then(function (value) { clearTimeout(timer); resolve(value); },
                 function (error) { clearTimeout(timer); reject(error); });
  });
}

function page(request, url) {
  var kept = CONFIG.pages.indexOf(url.pathname) !== -1;
  return withTimeout(fetch(request), 6000).then(function (response) {
    if (kept && response.ok && !response.redirected) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { cache.put(url.pathname, copy); });
    }
    return response;
  }).catch(function () {
    return caches.open(CACHE).then(function (cache) {
      return (kept ? cache.match(url.pathname) : Promise.resolve(null)).then(function (hit) {
        return hit || cache.match("/offline");
      });
    }).then(function (hit) { return hit || Response.error(); });
  });
}

function cacheFirst(request) {
  return caches.match(request, { ignoreSearch: true }).then(function (hit) {
    return hit || fetch(request);
  });
}

function networkFirst(request) {
  // Vocabularies and directory: fresh when possible (ETag keeps it cheap), kept for offline.
  return fetch(request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      caches.open(DATA_CACHE).then(function (cache) { cache.put(request.url, copy); });
    }
    return response;
  }).catch(function () {
    return caches.open(DATA_CACHE).then(function (cache) { return cache.match(request.url); })
      .then(function (hit) { return hit || Response.error(); });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request, url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) { return; }
  if (url.pathname.indexOf("/static/") === 0 || url.pathname === "/manifest.webmanifest") {
    event.respondWith(cacheFirst(request));
  } else if (url.pathname === "/api/v1/vocabularies" || url.pathname === "/api/v1/directory") {
    event.respondWith(networkFirst(request));
  } else if (request.mode === "navigate") {
    event.respondWith(page(request, url));
  }
});

self.addEventListener("sync", function (event) {
  if (event.tag === "relais-queue") { event.waitUntil(self.RelaisQueue.sync()); }
});

self.addEventListener("message", function (event) {
  if (event.data === "forget") {  // sign-out: drop every kept page and data
    event.waitUntil(caches.keys().then(function (keys) {
      return Promise.all(keys.map(function (key) { return caches.delete(key); }));
    }));
  }
});
