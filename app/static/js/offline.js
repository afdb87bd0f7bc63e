/* Relais on a phone without network: new records go through the offline queue (queue.js)
   and are sent with the idempotent PUTs of the API; a badge shows what waits.
   Without this script every form still posts to the server as usual. */
(function () {
  "use strict";
  var Q = window.RelaisQueue;
  var userId = parseInt(document.body.dataset.userId || "0", 10);
  if (!Q || !userId || !window.indexedDB || !window.fetch) { return; }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
  }

  // -- badge, banner and the list of waiting records ------------------------------------------
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) { node.textContent = text; }
    return node;
  }

  function refresh() {
    return Q.all().then(function (items) {
      items = items.filter(function (item) { return item.userId === userId; });
      var badge = document.getElementById("queue-badge");
      if (badge) {
        badge.textContent = String(items.length);
        badge.hidden = items.length === 0;
        // Set only here, once the queue has been read: the page as served says nothing yet.
        badge.dataset.count = String(items.length);
        badge.setAttribute("aria-label", items.length + " en attente d'envoi");
      }
      var banner = document.getElementById("queue-banner");
      if (banner) {
        var auth = items.some(function (i) { return i.status === "auth"; });
        banner.hidden = !auth;
      }
      renderPanel(items);
      return items;
    });
  }

  function renderPanel(items) {
    var panel = document.getElementById("queue-panel");
    if (!panel) { return; }
    panel.hidden = items.length === 0;
    var list = panel.querySelector("ul");
    list.textContent = "";
    items.forEach(function (item) {
      var li = el("li", { "class": "queue-item queue-" + item.status });
      li.appendChild(el("strong", {}, item.label));
      var state = { waiting: "En attente du réseau", auth: "Reconnexion nécessaire",
                    error: "À corriger", blocked: "Refusé par le serveur" }[item.status] ||
                  item.status;
      li.appendChild(el("span", { "class": "queue-state" }, " — " + state));
      if (item.message) { li.appendChild(el("p", { "class": "field-error" }, item.message)); }
      Object.keys(item.errors || {}).forEach(function (field) {
        li.appendChild(el("p", { "class": "field-error" },
                          field + " : " + item.errors[field].join(" ")));
      });
      if (item.editUrl && (item.status === "error" || item.status === "blocked")) {
        li.appendChild(el("a", { "class": "button small", href: item.editUrl + "#queued=" +
                                 item.id }, "Corriger"));
      }
      var drop = el("button", { type: "button", "class": "button small" }, "Supprimer");
      drop.addEventListener("click", function () {
        if (window.confirm("Supprimer définitivement cet enregistrement du téléphone ? " +
                           "Il ne sera jamais envoyé.")) {
          Q.remove(item.id).then(refresh);
        }
      });
      li.appendChild(drop);
      list.appendChild(li);
    });
  }

  function syncNow() {
    return Q.sync().then(refresh, refresh);
  }

  document.querySelectorAll("[data-queue-send]").forEach(function (button) {
    button.addEventListener("click", function () {
      Q.all().then(function (items) {
        return Promise.all(items.filter(function (i) { return i.status !== "blocked"; })
          .map(function (i) { i.status = "waiting"; return Q.put(i); }));
      }).then(syncNow);
    });
  });

  // -- forms that create a record go through the queue ---------------------------------------
  var BUILDERS = {
    contact: function (form) {
      var data = new FormData(form), payload = {};
      ["neighbourhood", "place_type", "initiative", "age_band", "gender"].forEach(function (k) {
        payload[k] = data.get(k) || null;
      });
      payload.outing = data.get("outing") || null;
      var when = data.get("occurred_at");
      payload.occurred_at = when ? new Date(when).toISOString() : null;
      var people = parseInt(data.get("people_count"), 10);
      payload.people_count = isNaN(people) ? data.get("people_count") : people;
      ["languages", "situations", "themes", "responses"].forEach(function (k) {
        payload[k] = data.getAll(k);
      });
      if (data.get("person_code")) { payload.person_code = data.get("person_code"); }
      if (data.get("note")) { payload.note = data.get("note"); }
      return { url: "/api/v1/contacts/", payload: payload, editUrl: "/contacts/new",
               label: "Contact du " + (when ? new Date(when).toLocaleString("fr-BE", {
                 day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit" }) : "") };
    },
    referral: function (form) {
      var data = new FormData(form);
      var payload = { contact: form.dataset.contact,
                      organisation: parseInt(data.get("organisation"), 10) || null,
                      modality: data.get("modality") || null,
                      message: data.get("message") || null, send: !!data.get("send") };
      if (data.get("bridge")) { payload.bridge = data.get("bridge"); }
      return { url: "/api/v1/referrals/", payload: payload, editUrl: location.pathname,
               label: "Orientation du " + new Date().toLocaleDateString("fr-BE") };
    },
    bridge_step: function (form) {
      var data = new FormData(form);
      return { url: "/api/v1/bridges/" + form.dataset.bridge + "/steps/",
               editUrl: location.pathname, label: "Étape du " + (data.get("occurred_on") || ""),
               payload: { occurred_on: data.get("occurred_on") || null,
                          kind: data.get("kind") || null, note: data.get("note") || null,
                          next_step_due: data.get("next_step_due") || null } };
    },
    collective_action: function (form) {
      var data = new FormData(form);
      var participants = parseInt(data.get("participants"), 10);
      return {
        url: "/api/v1/collective-actions/", editUrl: "/collective-actions/new",
        label: "Action collective du " + (data.get("occurred_on") || ""),
        payload: {
          neighbourhood: data.get("neighbourhood") || null,
          mission: data.get("mission") || null, occurred_on: data.get("occurred_on") || null,
          participants: isNaN(participants) ? data.get("participants") : participants,
          themes: data.getAll("themes"), title: data.get("title") || null,
          organisations: data.getAll("organisations").map(function (v) {
            return parseInt(v, 10);
          }),
        },
      };
    },
  };

  function fill(form, payload) {
    Object.keys(payload).forEach(function (name) {
      var value = payload[name];
      form.querySelectorAll('[name="' + name + '"]').forEach(function (input) {
        if (input.type === "radio" || input.type === "checkbox") {
          var values = Array.isArray(value) ? value.map(String) : [String(value || "")];
          input.checked = values.indexOf(input.value) !== -1;
        } else if (input.type === "datetime-local" && value) {
          var d = new Date(value);
          input.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000)
            .toISOString().slice(0, 16);
        } else if (value !== null && value !== undefined) {
          input.value = value;
        }
      });
    });
  }

  function showErrors(form, errors) {
    form.querySelectorAll(".js-error").forEach(function (n) { n.remove(); });
    Object.keys(errors || {}).forEach(function (field) {
      var input = form.querySelector('[name="' + field + '"]');
      var anchor = input ? (input.closest("fieldset, .field") || input) : form;
      var message = el("p", { "class": "field-error js-error" }, errors[field].join(" "));
      anchor.appendChild(message);
    });
  }

  function flash(text) {
    sessionStorage.setItem("relais-flash", text);
  }

  var pending = sessionStorage.getItem("relais-flash");
  if (pending) {
    sessionStorage.removeItem("relais-flash");
    var main = document.getElementById("main");
    if (main) { main.insertBefore(el("p", { "class": "flash", role: "status" }, pending),
                                  main.firstChild); }
  }

  // A form kept for offline use was rendered earlier: "now" is the phone's now.
  document.querySelectorAll("input[data-default-now]").forEach(function (input) {
    var now = new Date(), local = new Date(now.getTime() - now.getTimezoneOffset() * 60000);
    input.value = local.toISOString().slice(0, input.type === "date" ? 10 : 16);
  });

  document.querySelectorAll("form[data-queue]").forEach(function (form) {
    var kind = form.dataset.queue;
    var recordId = Q.newId();
    var match = /#queued=([0-9a-f-]{36})/.exec(location.hash);
    if (match) {
      Q.get(match[1]).then(function (item) {
        if (item && item.userId === userId) {
          recordId = item.id;
          fill(form, item.payload);
          showErrors(form, item.errors);
        }
      });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var then = event.submitter && event.submitter.value;
      var built = BUILDERS[kind](form);
      var item = { id: recordId, kind: kind, url: built.url + recordId,
                   payload: built.payload, label: built.label, editUrl: built.editUrl,
                   userId: userId, queuedAt: Date.now(), status: "waiting", attempts: 0 };
      Q.put(item).then(Q.sync).then(function (result) {
        // No network now: let the browser send it when the network is back, even if the
        // page is closed by then (Background Sync, where the browser has it).
        if (result.offline && navigator.serviceWorker && window.SyncManager) {
          navigator.serviceWorker.ready.then(function (reg) {
            return reg.sync.register("relais-queue");
          }).catch(function () {});
        }
        return Q.get(item.id);
      }).then(function (left) {
        if (left && left.status === "error") {
          showErrors(form, left.errors);
          var first = form.querySelector(".js-error");
          if (first) { first.scrollIntoView({ block: "center" }); }
          return refresh();
        }
        flash(left ? "Enregistré sur le téléphone : il sera envoyé au retour du réseau." :
              "Enregistré.");
        location.href = then === "another" ? built.editUrl : (form.dataset.after || "/today");
      });
    });
  });

  // -- signing out keeps the queue, warns, and empties the caches ------------------------------
  document.querySelectorAll("form[data-logout]").forEach(function (form) {
    Q.all().then(function (items) {
      var mine = items.filter(function (i) { return i.userId === userId; });
      var warning = document.getElementById("logout-waiting");
      if (warning && mine.length) {
        warning.hidden = false;
        warning.querySelector("strong").textContent = String(mine.length);
      }
    });
    form.addEventListener("submit", function () {
      if (window.caches) {
        caches.keys().then(function (keys) {
          keys.forEach(function (key) { caches.delete(key); });
        });
      }
    });
  });

  if (window.BroadcastChannel) {
    new BroadcastChannel("relais-queue").onmessage = function () { refresh(); };
  }
  window.addEventListener("online", syncNow);
  refresh().then(function (items) { if (items.length && navigator.onLine) { syncNow(); } });
  window.relaisOffline = { refresh: refresh, syncNow: syncNow };
})();
