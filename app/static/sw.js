/* Relais service worker: keeps the app shell and the capture forms for use without network,
   and sends the offline queue with Background Sync where the browser has it (queue.js: one
   sender at a time between this worker and the pages, through a Web Lock).
   Pages holding personal data (a contact, a note, a referral, a person-code history) are
   never kept: only the pages listed in CONFIG.pages are.
   Those pages show a person's day, so they are kept per person and per session: in a cache
   named after the session's offline key, which the server gives in every answer
   (X-Relais-Binding: KEY|USER_ID|ENDS_AT, or "-" when nobody is signed in). Another key or a
   signed-out answer drops every other person's pages; after ENDS_AT nothing kept is shown,
   not even without network. The shell (offline pages, CSS, scripts) names nobody.
   The offline pages are kept in every language (CONFIG.offline); the one shown is in the
   language of the last answer seen (its Content-Language, or a page's message). */
"use strict";
var CONFIG = __RELAIS_CONFIG__;
var CACHE = "relais-shell-" + CONFIG.version;
var DATA_CACHE = "relais-data";     // vocabularies and directory: nobody's personal data
var PAGES = "relais-pages-";        // + offline key: one person's pages, in one session
var BINDING = "/__relais/binding";  // in a PAGES cache: whose it is, and until when
var HEADER = "X-Relais-Binding";
var LANGUAGE = "/__relais/language";  // in the shell: the language of the offline pages

// The queue's script asks the worker to look at the answers it gets (its /api/v1/me).
self.relaisObserve = function (response) {
  return learn(response).catch(function () { return null; });
};
importScripts("/static/js/queue.js");

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return cache.addAll(CONFIG.assets);
  }).then(function () {
    return Promise.all(CONFIG.pages.map(function (page) { return keepPage(page); }));
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

// -- whose pages: one binding at a time -------------------------------------------------------
// What changes the kept pages runs one step after another, so that a late answer never
// brings back pages that a newer answer dropped.
var chain = Promise.resolve();
function serial(work) {
  var result = chain.then(work);
  chain = result.catch(function () { return null; });
  return result;
}

function parse(value) {
  var parts = (value || "").split("|");
  if (parts.length !== 3 || !/^[\w-]{8,128}$/.test(parts[0])) { return null; }
  return { key: parts[0], user: parseInt(parts[1], 10), ends: parseInt(parts[2], 10) * 1000 };
}

/* Drop every person's pages but those of the cache named `keep`. */
function forget(keep) {
  return caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (key) {
      return key.indexOf(PAGES) === 0 && key !== keep;
    }).map(function (key) { return caches.delete(key); }));
  });
}

/* An answer of the server says whose session it was made in: from then on only that
   session's pages are kept. Resolves with the name of its cache (null: nobody's). A new
   session gets its pages at once (`event` waits for them), as at install: the next person
   has the forms without network without having opened them first. */
function learn(response, event) {
  if (response) { setLanguage(response.headers.get("Content-Language")); }
  if (!response || !response.headers.has(HEADER)) { return Promise.resolve(null); }
  var binding = parse(response.headers.get(HEADER));
  if (!binding) {
    return serial(function () { return forget(null); }).then(function () { return null; });
  }
  // The end on this phone's clock: the server's, moved by the difference between the clocks.
  var served = Date.parse(response.headers.get("Date") || "");
  var deadline = binding.ends - (isNaN(served) ? 0 : served - Date.now());
  var name = PAGES + binding.key, fresh = false;
  return serial(function () {
    return caches.has(name).then(function (has) {
      fresh = !has;
      return forget(name);
    }).then(function () { return caches.open(name); }).then(function (cache) {
      return cache.put(BINDING, new Response(JSON.stringify({ user: binding.user,
                                                                deadline: deadline })));
    }).then(function () { return name; });
  }).then(function (kept) {
    if (fresh && event) { event.waitUntil(Promise.all(CONFIG.pages.map(keepPage))); }
    return kept;
  });
}

/* Keep a page in its session's cache, if that session is still the phone's. */
function keep(name, path, response) {
  return serial(function () {
    return caches.has(name).then(function (still) {
      return still ? caches.open(name).then(function (c) { return c.put(path, response); })
                   : null;
    });
  });
}

/* The session whose pages may be shown now, or null (nobody's, or it has ended: then its
   pages go). */
function current() {
  return serial(function () {
    return caches.keys().then(function (keys) {
      keys = keys.filter(function (key) { return key.indexOf(PAGES) === 0; });
      if (keys.length !== 1) { return forget(null).then(function () { return null; }); }
      return caches.open(keys[0]).then(function (cache) {
        return cache.match(BINDING).then(function (hit) { return hit ? hit.json() : null; })
          .then(function (binding) {
            if (binding && Date.now() < binding.deadline) {
              return { cache: cache, key: keys[0].slice(PAGES.length) };
            }
            return caches.delete(keys[0]).then(function () { return null; });
          });
      });
    });
  });
}

function keepPage(page) {
  // Only a real page of a signed-in user is kept, never the sign-in page it may redirect to.
  return fetch(page, { credentials: "same-origin" }).then(function (response) {
    return learn(response).then(function (name) {
      if (name && response.ok && !response.redirected) { return keep(name, page, response); }
      return null;
    });
  }).catch(function () { return null; });
}

function withTimeout(promise, ms) {
  return new Promise(function (resolve, reject) {
    var timer = setTimeout(function () { reject(new Error("timeout")); }, ms);
    promise.then(function (value) { clearTimeout(timer); resolve(value); },
                 function (error) { clearTimeout(timer); reject(error); });
  });
}

// -- the language of the offline pages --------------------------------------------------------
var language = null;

function setLanguage(value) {
  if (!value || !CONFIG.offline[value] || value === language) { return Promise.resolve(); }
  language = value;
  return caches.open(CACHE).then(function (cache) {
    return cache.put(LANGUAGE, new Response(value));
  }).catch(function () { return null; });
}

function currentLanguage() {
  if (language) { return Promise.resolve(language); }
  return caches.open(CACHE).then(function (cache) { return cache.match(LANGUAGE); })
    .then(function (hit) { return hit ? hit.text() : null; })
    .then(function (value) { language = CONFIG.offline[value] ? value : null; return language; })
    .catch(function () { return null; });
}

/* The offline page (`ended`: the one for a phone without an open session) in the person's
   language; the one kept at install when the language is not known. */
function offlinePage(ended) {
  return currentLanguage().then(function (lang) {
    var pages = CONFIG.offline[lang];
    return shell(pages ? pages[ended ? 1 : 0] : ended ? "/offline?session=ended" : "/offline");
  });
}

function shell(path) {
  return caches.open(CACHE).then(function (cache) { return cache.match(path); })
    .then(function (hit) { return hit || Response.error(); });
}

/* Without network: a kept page of the session still open on the phone, or an offline page
   that names nobody. */
function offline(url, kept) {
  return current().then(function (session) {
    if (!session) { return offlinePage(true); }
    return (kept ? session.cache.match(url.pathname) : Promise.resolve(null))
      .then(function (hit) {
        var own = hit && parse(hit.headers.get(HEADER));
        return own && own.key === session.key ? hit : offlinePage(false);
      });
  }).catch(function () { return offlinePage(true); });
}

function page(event, url) {
  var kept = CONFIG.pages.indexOf(url.pathname) !== -1;
  return withTimeout(fetch(event.request), 6000).then(function (response) {
    var copy = kept && response.ok && !response.redirected ? response.clone() : null;
    // Known before the page shows: a new person's page never leaves the last one's behind.
    return learn(response, event).catch(function () { return null; }).then(function (name) {
      if (name && copy) { event.waitUntil(keep(name, url.pathname, copy)); }
      event.waitUntil(caches.has(CACHE).then(function (has) {  // emptied by an old sign-out
        return has ? null : caches.open(CACHE).then(function (c) {
          return c.addAll(CONFIG.assets);
        });
      }).catch(function () { return null; }));
      return response;
    });
  }).catch(function () { return offline(url, kept); });
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
  } else if (url.pathname === "/api/v1/me") {  // the queue asks it: signed in, as whom
    event.respondWith(fetch(request).then(function (response) {
      return learn(response, event).catch(function () { return null; })
        .then(function () { return response; });
    }));
  } else if (request.mode === "navigate") {
    event.respondWith(page(event, url));
  }
});

self.addEventListener("sync", function (event) {
  if (event.tag === "relais-queue") { event.waitUntil(self.RelaisQueue.sync()); }
});

self.addEventListener("message", function (event) {
  var data = event.data;
  if (data === "forget") {  // sign-out: drop every person's pages and the data
    event.waitUntil(serial(function () {
      return forget(null).then(function () { return caches.delete(DATA_CACHE); });
    }));
  } else if (data && typeof data === "object" && "binding" in data) {
    // A page says whose session it was made in (it may have come without this worker):
    // another person's or session's pages go. It never keeps anything by itself.
    var binding = parse(data.binding);
    event.waitUntil(Promise.all([setLanguage(data.lang), serial(function () {
      return forget(binding ? PAGES + binding.key : null);
    })]));
  }
});
