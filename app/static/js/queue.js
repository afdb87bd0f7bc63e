/* Relais offline queue: records waiting in IndexedDB until the server has them.
   Shared by the pages (offline.js) and the service worker (Background Sync).
   A record leaves the queue only after a 200 or 201; nothing is ever dropped silently. */
(function (scope) {
  "use strict";
  var DB_NAME = "relais", STORE = "queue";

  function openDb() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () {
        request.result.createObjectStore(STORE, { keyPath: "id" });
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function run(mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode), out = {};
        work(tx.objectStore(STORE), out);
        tx.oncomplete = function () { db.close(); resolve(out.value); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function all() {
    return run("readonly", function (store, out) {
      var request = store.getAll();
      request.onsuccess = function () {
        out.value = request.result.sort(function (a, b) { return a.queuedAt - b.queuedAt; });
      };
    });
  }

  function put(item) {
    return run("readwrite", function (store) { store.put(item); }).then(announce);
  }

  function remove(id) {
    return run("readwrite", function (store) { store.delete(id); }).then(announce);
  }

  function get(id) {
    return run("readonly", function (store, out) {
      var request = store.get(id);
      request.onsuccess = function () { out.value = request.result; };
    });
  }

  function announce() {
    if (scope.BroadcastChannel) { new BroadcastChannel("relais-queue").postMessage("changed"); }
  }

  var MESSAGES = {
    403: "Écriture refusée : vous n'êtes peut-être plus membre de ce quartier. Demandez à " +
         "l'administration, ou supprimez cet enregistrement.",
    404: "Un enregistrement lié n'existe plus (sortie, contact…). Corrigez ou supprimez.",
    409: "Le serveur a déjà une autre version de cet enregistrement.",
  };

  var syncing = null;

  /* Send what waits, oldest first. Resolves with {sent, offline, auth}. */
  function sync() {
    if (syncing) { return syncing; }
    syncing = doSync().then(function (result) { syncing = null; return result; },
                            function (error) { syncing = null; throw error; });
    return syncing;
  }

  function doSync() {
    var result = { sent: 0, offline: false, auth: false };
    return all().then(function (items) {
      if (!items.length) { return result; }
      return fetch("/api/v1/me", { credentials: "same-origin",
                                   headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status === 401) { result.auth = true; return null; }
          return response.ok ? response.json() : null;
        }, function () { result.offline = true; return null; })
        .then(function (me) {
          if (!me) { return markAuth(items, result); }
          var mine = items.filter(function (item) { return item.userId === me.id; });
          return sendEach(mine, me.csrf_token, result);
        });
    });
  }

  function markAuth(items, result) {
    if (!result.auth) { return result; }
    return Promise.all(items.map(function (item) {
      item.status = "auth";
      return put(item);
    })).then(function () { return result; });
  }

  function sendEach(items, token, result) {
    var chain = Promise.resolve();
    items.forEach(function (item) {
      chain = chain.then(function () {
        if (result.offline || result.auth || item.status === "error" ||
            item.status === "blocked") { return null; }
        return send(item, token, result);
      });
    });
    return chain.then(function () { return result; });
  }

  function send(item, token, result) {
    item.attempts = (item.attempts || 0) + 1;
    return fetch(item.url, {
      method: "PUT", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json",
                 "X-CSRFToken": token },
      body: JSON.stringify(item.payload),
    }).then(function (response) {
      if (response.status === 200 || response.status === 201) {
        result.sent += 1;
        return remove(item.id);
      }
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.status === 401 || response.status === 400) {
          result.auth = true;
          item.status = "auth";
        } else if (response.status === 422) {
          item.status = "error";
          item.errors = body.errors || {};
          item.message = body.error || "Certaines données ne sont pas valides.";
        } else if (MESSAGES[response.status]) {
          item.status = "blocked";
          item.message = body.error && response.status === 409 ? body.error :
            MESSAGES[response.status];
        } else {
          item.status = "waiting";  // a server hiccup: try again later
          result.offline = true;
        }
        return put(item);
      });
    }, function () {
      // No answer (no network, or the answer was lost): it stays, the same id comes again.
      result.offline = true;
      item.status = "waiting";
      return put(item);
    });
  }

  function newId() {
    if (scope.crypto && scope.crypto.randomUUID) { return scope.crypto.randomUUID(); }
    return "10000000-1000-4000-8000-100000000000".replace(/[018]/g, function (c) {
      return (c ^ (scope.crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4))))
        .toString(16);
    });
  }

  scope.RelaisQueue = { all: all, put: put, get: get, remove: remove, sync: sync,
                        newId: newId };
})(self);
