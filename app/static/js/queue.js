/* Relais offline queue: records waiting in IndexedDB until the server has them.
   Shared by the pages (offline.js) and the service worker (Background Sync).
   A record leaves the queue only after a 200 or 201; nothing is ever dropped silently.
   Every item carries its precondition (DESIGN §5): a creation is sent with
   `If-None-Match: *`, an edit with `If-Match: "<the version it was made from>"`. When a
   colleague changed the same fields, the server answers 409 (or 412 for a creation) and the
   item stays, "to resolve", with the server's answer, until the worker has chosen. */
(function (scope) {
  "use strict";
  var DB_NAME = "relais", STORE = "queue", LOCK = "relais-queue-sync";
  var DATA_CACHE = "relais-data", LABELS = ["/api/v1/vocabularies", "/api/v1/directory"];

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

  /* Write an item back only if it is still there: a record the worker deleted, or that
     was sent meanwhile, never comes back. `change` may return false to leave it as it is. */
  function save(item, change) {
    return run("readwrite", function (store, out) {
      var request = store.get(item.id);
      request.onsuccess = function () {
        var stored = request.result;
        if (!stored) { out.value = false; return; }
        var next = change ? change(stored) : item;
        if (next === false) { out.value = false; return; }
        store.put(next || stored);
        out.value = true;
      };
    }).then(function (written) { if (written) { announce(); } return written; });
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

  // Answers that block a record until the worker acts. The queue keeps why (item.reason) and
  // the server's own message, in the person's language; the page says the reason in its own
  // language when the server gave none (offline.js; this script also runs in the service
  // worker, which has no texts).
  var BLOCKING = [403, 404, 412, 428];
  // Statuses that wait for the worker, never sent again by themselves.
  var HELD = ["error", "blocked", "to-resolve"];

  /* The precondition of an item: items queued before versions existed were creations. */
  function preconditionHeaders(item) {
    var pre = item.precondition || { create: true };
    if (pre.create) { return { "If-None-Match": "*" }; }
    return { "If-Match": '"' + pre.version + '"' };
  }

  // -- one sender at a time, across the pages and the service worker --------------------------
  // The pages and the service worker each run their own copy of this script: a promise kept
  // here only stops this copy from sending twice. The Web Locks API is shared by every page
  // and worker of the origin, so that a record is never sent by two of them at the same time
  // (the same id sent twice would be stored once, but it must not reach the server twice).
  var syncing = null, again = null;

  function withLock(work) {
    var locks = scope.navigator && scope.navigator.locks;
    if (!locks || !locks.request) { return work(); }
    return locks.request(LOCK, function () { return work(); });
  }

  /* Send what waits, oldest first. Resolves with {sent, offline, auth, conflicts}. Asked
     while a sending runs, it runs once more after it: what was queued or resolved meanwhile
     is not left behind. */
  function sync() {
    if (!syncing) {
      syncing = withLock(doSync).then(function (result) { syncing = null; return result; },
                                      function (error) { syncing = null; throw error; });
      return syncing;
    }
    if (!again) {
      again = syncing.catch(function () { return null; }).then(function () {
        again = null;
        return sync();
      });
    }
    return again;
  }

  function doSync() {
    var result = { sent: 0, offline: false, auth: false, conflicts: 0 };
    return all().then(function (items) {
      if (!items.some(function (i) { return HELD.indexOf(i.status) === -1; })) {
        return result;
      }
      return fetch("/api/v1/me", { credentials: "same-origin", cache: "no-store",
                                   headers: { Accept: "application/json" } })
        .then(function (response) {
          // In the service worker: the answer also says whose pages it may keep.
          if (scope.relaisObserve) { scope.relaisObserve(response); }
          if (response.status === 401) { result.auth = true; return null; }
          return response.ok ? response.json() : null;
        }, function () { result.offline = true; return null; })
        .then(function (me) {
          if (!me) { return markAuth(items, result); }
          // Only the author's session sends a record: a colleague's waits for them, as it is.
          var mine = items.filter(function (item) { return item.userId === me.id; });
          return sendEach(mine, me.csrf_token, result);
        });
    });
  }

  function markAuth(items, result) {
    if (!result.auth) { return result; }
    return Promise.all(items.map(function (item) {
      return save(item, function (stored) {
        if (HELD.indexOf(stored.status) !== -1) { return false; }
        stored.status = "auth";
        return stored;
      });
    })).then(function () { return result; });
  }

  function sendEach(items, token, result) {
    var chain = Promise.resolve();
    items.forEach(function (listed) {
      chain = chain.then(function () {
        if (result.offline || result.auth) { return null; }
        // Read it again: the worker may have resolved, corrected or deleted it meanwhile.
        return get(listed.id).then(function (item) {
          if (!item || HELD.indexOf(item.status) !== -1) { return null; }
          return send(item, token, result);
        });
      });
    });
    return chain.then(function () { return result; });
  }

  function send(item, token, result) {
    item.attempts = (item.attempts || 0) + 1;
    var headers = { "Content-Type": "application/json", Accept: "application/json",
                    "X-CSRFToken": token };
    var pre = preconditionHeaders(item);
    Object.keys(pre).forEach(function (k) { headers[k] = pre[k]; });
    return fetch(item.url, {
      method: "PUT", credentials: "same-origin", headers: headers,
      body: JSON.stringify(item.payload),
    }).then(function (response) {
      if (response.status === 200 || response.status === 201) {
        // 200 also when the server merged our change with a colleague's: both are kept.
        result.sent += 1;
        return remove(item.id);
      }
      return response.json().catch(function () { return {}; }).then(function (body) {
        var created = !item.precondition || item.precondition.create;
        if (response.status === 412 && created && body.current) {
          // The record exists: our first sending reached the server but its answer was lost,
          // and somebody changed it since. Send it again as an edit of what this phone
          // created (version 1): the server keeps the colleague's changes and asks only
          // about a field changed on both sides.
          item.precondition = { version: 1 };
          item.replayed = true;
          return save(item).then(function (kept) {
            return kept ? send(item, token, result) : null;
          });
        }
        if (response.status === 409 || (response.status === 412 && body.current)) {
          result.conflicts += 1;
          item.status = "to-resolve";
          item.conflict = keptConflict(item, body, response.status);
          item.reason = "to_resolve";
          item.message = null;
          delete item.errors;
          return save(item).then(keepLabels);
        }
        if (response.status === 401 || response.status === 400) {
          result.auth = true;
          item.status = "auth";
        } else if (response.status === 422) {
          item.status = "error";
          item.errors = body.errors || {};
          item.reason = "invalid";
          item.message = body.error || null;
        } else if (BLOCKING.indexOf(response.status) !== -1) {
          item.status = "blocked";
          item.reason = String(response.status);
          item.message = body.error || null;
        } else {
          item.status = "waiting";  // a server hiccup: try again later
          result.offline = true;
        }
        return save(item);
      });
    }, function () {
      // No answer (no network, or the answer was lost): it stays, the same id comes again.
      result.offline = true;
      item.status = "waiting";
      return save(item);
    });
  }

  // -- what a conflict keeps on the phone -------------------------------------------------------
  function isDateTime(v) {
    return typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v);
  }

  /* Two values of one field, as the server or the phone wrote them, mean the same. */
  function same(a, b) {
    if (a === undefined || a === "") { a = null; }
    if (b === undefined || b === "") { b = null; }
    if (Array.isArray(a) || Array.isArray(b)) {
      var x = (a || []).map(String).sort(), y = (b || []).map(String).sort();
      return x.length === y.length && x.every(function (v, i) { return v === y[i]; });
    }
    if (isDateTime(a) && isDateTime(b)) { return Date.parse(a) === Date.parse(b); }
    if (a === null || b === null) { return a === b; }
    return String(a) === String(b);
  }

  /* The server's answer as the phone keeps it until the worker chooses: which fields this
     phone changed is worked out now, then free text (a colleague's note) is kept only where
     the worker has to read it to choose. It leaves the phone with the item. */
  function keptConflict(item, body, status) {
    var current = body.current || {}, base = body.base || null;
    var yours = body.yours || item.payload;
    var fields = body.conflicts;
    if (!Array.isArray(fields)) {  // a 412 without a base: every field that differs
      fields = Object.keys(item.payload).filter(function (k) {
        return k !== "person_code" && k in current && !same(item.payload[k], current[k]);
      });
    }
    var changed = {};
    Object.keys(item.payload).forEach(function (k) {
      changed[k] = base ? !same(k in yours ? yours[k] : item.payload[k], base[k]) : true;
    });
    // A code is never in an answer; a replayed creation's code is the one it was created
    // with, so it did not change here.
    if ("person_code" in changed) { changed.person_code = !item.replayed; }
    function trim(snapshot) {
      if (!snapshot) { return snapshot; }
      var copy = {};
      Object.keys(snapshot).forEach(function (k) {
        if (["note", "message", "reply"].indexOf(k) === -1 || fields.indexOf(k) !== -1) {
          copy[k] = snapshot[k];
        }
      });
      return copy;
    }
    return { status: status, error: body.error || "", fields: fields, labels: body.labels || {},
             changedBy: body.changed_by || {},
             current: trim(current), yours: trim(yours), base: trim(base), changed: changed,
             version: current.version };
  }

  /* The record to send once the worker has chosen: `choices` maps each conflicting field to
     "yours", "theirs" or "both" (a text: ours, a blank line, theirs). A field only this phone
     changed keeps our value; a field only the colleague changed keeps theirs; lists take the
     codes added and removed on both sides. */
  function resolve(item, choices) {
    var c = item.conflict, current = c.current || {}, base = c.base, out = {};
    Object.keys(item.payload).forEach(function (k) {
      var mine = item.payload[k], theirs = current[k];
      if (c.fields.indexOf(k) !== -1) {
        var choice = choices[k];
        if (choice === "theirs") {
          // A write-only code is never in the server's answer: left out, theirs stays.
          if (k !== "person_code" && k in current) { out[k] = theirs; }
        } else if (choice === "both") {
          out[k] = [mine, theirs].filter(function (v) { return v; }).join("\n\n") || null;
        } else {
          out[k] = mine;
        }
        return;
      }
      if (c.changed[k] === false) {
        // Untouched here: the colleague's value, or nothing for what the answer leaves out
        // (a code, a note not in question), which the server then keeps as it is.
        if (k in current) { out[k] = theirs; }
        else if (["person_code", "note", "message", "reply"].indexOf(k) === -1) {
          out[k] = mine;
        }
        return;
      }
      if (Array.isArray(mine) && base && Array.isArray(base[k]) && Array.isArray(theirs)) {
        var was = base[k].map(String), now = mine.map(String);
        var merged = theirs.filter(function (v) {
          return !(was.indexOf(String(v)) !== -1 && now.indexOf(String(v)) === -1);
        });
        mine.forEach(function (v) {
          if (was.indexOf(String(v)) === -1 &&
              !merged.some(function (m) { return String(m) === String(v); })) {
            merged.push(v);
          }
        });
        out[k] = merged;
        return;
      }
      out[k] = mine;
    });
    return out;
  }

  /* The worker has chosen: the item goes back to the queue as an edit of the current
     version, to be sent like any other. */
  function resolved(item, choices) {
    item.payload = resolve(item, choices);
    item.precondition = { version: item.conflict.version };
    item.status = "waiting";
    item.attempts = 0;
    delete item.conflict;
    delete item.message;
    delete item.reason;
    delete item.errors;
    return save(item);
  }

  /* The comparison screen shows labels, not codes, even without network: keep the
     vocabularies and the directory while the network is there. */
  function keepLabels() {
    if (!scope.caches) { return null; }
    return caches.open(DATA_CACHE).then(function (cache) {
      return Promise.all(LABELS.map(function (url) {
        return fetch(url, { credentials: "same-origin" }).then(function (response) {
          return response.ok ? cache.put(url, response) : null;
        }).catch(function () { return null; });
      }));
    }).catch(function () { return null; });
  }

  function newId() {
    if (scope.crypto && scope.crypto.randomUUID) { return scope.crypto.randomUUID(); }
    return "10000000-1000-4000-8000-100000000000".replace(/[018]/g, function (c) {
      return (c ^ (scope.crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4))))
        .toString(16);
    });
  }

  scope.RelaisQueue = { all: all, put: put, get: get, save: save, remove: remove, sync: sync,
                        newId: newId, resolve: resolve, resolved: resolved, same: same,
                        keepLabels: keepLabels, HELD: HELD, DATA_CACHE: DATA_CACHE };
})(self);
