/* Relais on a phone without network: new records go through the offline queue (queue.js)
   and are sent with the idempotent PUTs of the API; a badge shows what waits. An edit made
   without network is queued with the version it was made from; when a colleague changed the
   same fields meanwhile, the comparison screen lets the worker choose, field by field.
   Without this script every form still posts to the server as usual. */
(function () {
  "use strict";
  var Q = window.RelaisQueue;
  var userId = parseInt(document.body.dataset.userId || "0", 10);
  if (!Q || !userId || !window.indexedDB || !window.fetch) { return; }

  // -- texts and dates in the page's language ----------------------------------------------
  // The texts come translated from the server (app/js_messages.py, a JSON block in the page);
  // FALLBACK is the French of the same texts, for a page without the block.
  // fallback: begin
  var FALLBACK = {
    state_waiting: "En attente du réseau", state_auth: "Reconnexion nécessaire",
    state_error: "À corriger", state_blocked: "Refusé par le serveur",
    state_to_resolve: "À résoudre", badge_to_resolve: "à résoudre",
    badge_waiting: { one: "%(num)d en attente d'envoi", other: "%(num)d en attente d'envoi" },
    badge_waiting_to_resolve: { one: "dont %(num)d à résoudre",
                                other: "dont %(num)d à résoudre" },
    other_author: {
      one: "%(num)d enregistrement attend son auteur·e : il partira à sa prochaine connexion " +
           "sur ce téléphone.",
      other: "%(num)d enregistrements attendent leur auteur·e : ils partiront à sa prochaine " +
             "connexion sur ce téléphone." },
    field_error: "%(field)s : %(errors)s", compare: "Comparer et choisir",
    correct: "Corriger", "delete": "Supprimer",
    confirm_delete: "Supprimer définitivement cet enregistrement du téléphone ? Il ne sera " +
                    "jamais envoyé.",
    reason_invalid: "Certaines données ne sont pas valides.",
    reason_403: "Écriture refusée : vous n'êtes peut-être plus membre de ce quartier. " +
                "Demandez à l'administration, ou supprimez cet enregistrement.",
    reason_404: "Un enregistrement lié n'existe plus (sortie, contact…). Corrigez ou supprimez.",
    reason_412: "Cet enregistrement n'existe plus sur le serveur : il ne peut pas être modifié.",
    reason_428: "Le serveur demande la version de départ de cette modification. Supprimez-la " +
                "et refaites-la depuis la fiche.",
    reason_to_resolve: "Un·e collègue a modifié les mêmes champs : choisissez, champ par " +
                       "champ, la version à garder.",
    label_contact: "Contact du %(when)s", label_referral: "Orientation du %(when)s",
    label_bridge_step: "Étape du %(when)s",
    label_collective_action: "Action collective du %(when)s",
    label_edit: "%(label)s (modification)", saved: "Enregistré.",
    saved_offline: "Enregistré sur le téléphone : il sera envoyé au retour du réseau.",
    conflict_title: { one: "Un champ a été modifié aussi par un·e collègue",
                      other: "%(num)d champs ont été modifiés aussi par un·e collègue" },
    conflict_intro: "« %(label)s » attend sur ce téléphone. Depuis la version que vous " +
      "aviez, un·e collègue a enregistré une autre valeur pour ces champs. Rien n'est encore " +
      "envoyé : choisissez, pour chaque champ, la version à garder. Vos autres changements " +
      "et ceux de votre collègue sont gardés.",
    yours: "Votre version", theirs: "Version actuelle (collègue)",
    code_typed: "Le code que vous avez tapé", code_removed: "Pas de code : vous l'aviez retiré",
    code_theirs: "Le code enregistré par votre collègue", code_none: "Pas de code",
    keep_both: "Garder les deux",
    keep_both_hint: "Votre texte, une ligne vide, puis celui de votre collègue.",
    save_choice: "Enregistrer ce choix", later: "Plus tard",
    changed_by: "par %(name)s, le %(when)s", changed_on: "le %(when)s", empty: "(vide)",
    other_outing: "Une autre sortie",
    changed_again: "Un·e collègue a encore modifié cet enregistrement : comparez à nouveau.",
    choice_kept: "Votre choix est gardé sur le téléphone : il sera envoyé au retour du réseau.",
    fields: {
      neighbourhood: "Quartier", outing: "Sortie", occurred_at: "Quand",
      people_count: "Nombre de personnes", place_type: "Lieu", initiative: "À l'initiative de",
      age_band: "Âge", gender: "Genre", languages: "Langues", situations: "Situations",
      themes: "Thèmes", responses: "Réponses", person_code: "Code personne", note: "Note",
      mission: "Mission", occurred_on: "Date", participants: "Nombre de participants",
      organisations: "Partenaires", title: "Intitulé", organisation: "Service",
      modality: "Modalité", message: "Message", kind: "Type d'étape" },
  };
  // fallback: end
  var MESSAGES = (function () {
    var block = document.getElementById("relais-messages");
    try { return (block && JSON.parse(block.textContent)) || FALLBACK; }
    catch (error) { return FALLBACK; }
  })();
  var LOCALE = { fr: "fr-BE", nl: "nl-BE", en: "en-GB" }[document.documentElement.lang] ||
               "fr-BE";
  var PLURAL = window.Intl && Intl.PluralRules ? new Intl.PluralRules(LOCALE) : null;

  function format(text, values) {
    return String(text).replace(/%\((\w+)\)[sd]/g, function (all, name) {
      return values && name in values ? String(values[name]) : all;
    });
  }

  /* A text of the scripts, its placeholders filled; with `values.num`, the plural form. */
  function t(key, values) {
    var text = key in MESSAGES ? MESSAGES[key] : FALLBACK[key];
    if (text && typeof text === "object") {
      var n = values ? values.num : 1;
      var form = PLURAL ? PLURAL.select(n) : (n > 1 ? "other" : "one");
      text = form === "one" ? text.one : text.other;
    }
    return format(text === undefined ? key : text, values);
  }

  function fieldLabel(field) {
    var own = MESSAGES.fields || FALLBACK.fields;
    return own[field] || FALLBACK.fields[field] || field;
  }

  var SHORT = { day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit" };
  var LONG_DAY = { day: "numeric", month: "long", year: "numeric" };
  var LONG = { day: "numeric", month: "long", year: "numeric", hour: "2-digit",
               minute: "2-digit" };

  /* "2026-11-25" as the page's language writes a day. */
  function localDay(value, options) {
    var day = /^(\d{4})-(\d\d)-(\d\d)$/.exec(value || "");
    if (!day) { return value || ""; }
    return new Date(+day[1], +day[2] - 1, +day[3]).toLocaleDateString(LOCALE, options);
  }

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
    return Q.all().then(function (all) {
      // A colleague's records (a shared phone) are listed, never sent nor changed from here:
      // they wait for their author's next sign-in.
      var items = all.filter(function (item) { return item.userId === userId; });
      var toResolve = items.filter(function (i) { return i.status === "to-resolve"; }).length;
      var badge = document.getElementById("queue-badge");
      if (badge) {
        badge.textContent = String(items.length);
        if (toResolve) {
          badge.appendChild(el("span", { "class": "queue-badge-state" },
                               t("badge_to_resolve")));
        }
        badge.classList.toggle("to-resolve", toResolve > 0);
        badge.hidden = items.length === 0;
        // Set only here, once the queue has been read: the page as served says nothing yet.
        badge.dataset.count = String(items.length);
        badge.dataset.toResolve = String(toResolve);
        badge.setAttribute("aria-label", t("badge_waiting", { num: items.length }) +
          (toResolve ? ", " + t("badge_waiting_to_resolve", { num: toResolve }) : ""));
      }
      var banner = document.getElementById("queue-banner");
      if (banner) {
        var auth = items.some(function (i) { return i.status === "auth"; });
        banner.hidden = !auth;
      }
      renderPanel(items, all.length - items.length);
      if (toResolve && navigator.onLine && !labelsKept) {
        labelsKept = true;
        Q.keepLabels();
      }
      return items;
    });
  }
  var labelsKept = false;

  var STATES = { waiting: "state_waiting", auth: "state_auth", error: "state_error",
                 blocked: "state_blocked", "to-resolve": "state_to_resolve" };
  var HELD = ["error", "blocked", "to-resolve"];

  /* Why a record waits: the server's message, or the reason the queue kept (items queued by
     an older version kept a text in `message`). */
  function why(item) {
    if (item.message) { return item.message; }
    if (item.reason && HELD.indexOf(item.status) !== -1) { return t("reason_" + item.reason); }
    return null;
  }

  function renderPanel(items, others) {
    var panel = document.getElementById("queue-panel");
    if (!panel) { return; }
    // The comparison screen stands alone.
    panel.hidden = (items.length === 0 && !others) || !!screen;
    var list = panel.querySelector("ul");
    list.textContent = "";
    if (others) {  // what they are is the author's: only how many wait for them
      list.appendChild(el("li", { "class": "queue-item queue-other-author" },
                          t("other_author", { num: others })));
    }
    items.forEach(function (item) {
      var li = el("li", { "class": "queue-item queue-" + item.status, "data-id": item.id });
      li.appendChild(el("strong", {}, item.label));
      li.appendChild(el("span", { "class": "queue-state" },
                        " — " + (STATES[item.status] ? t(STATES[item.status]) : item.status)));
      var reason = why(item);
      if (reason) {
        li.appendChild(el("p", { "class": item.status === "to-resolve" ? "queue-resolve-hint" :
                                   "field-error" }, reason));
      }
      Object.keys(item.errors || {}).forEach(function (field) {
        li.appendChild(el("p", { "class": "field-error" },
                          t("field_error", { field: fieldLabel(field),
                                             errors: item.errors[field].join(" ") })));
      });
      if (item.status === "to-resolve" && item.conflict) {
        li.appendChild(el("a", { "class": "button small primary", href: "#resolve=" + item.id,
                                 "data-resolve": item.id }, t("compare")));
      } else if (item.editUrl && (item.status === "error" || item.status === "blocked")) {
        li.appendChild(el("a", { "class": "button small", href: item.editUrl + "#queued=" +
                                 item.id }, t("correct")));
      }
      var drop = el("button", { type: "button", "class": "button small" }, t("delete"));
      drop.addEventListener("click", function () {
        if (window.confirm(t("confirm_delete"))) {
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
        return Promise.all(items.filter(function (i) { return i.userId === userId; })
                           .map(function (i) {
          return Q.save(i, function (stored) {
            if (stored.status === "blocked" || stored.status === "to-resolve") { return false; }
            stored.status = "waiting";
            return stored;
          });
        }));
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
      var when = data.get("occurred_at"), input = form.elements.occurred_at;
      payload.occurred_at = when ? new Date(when).toISOString() : null;
      // The field shows minutes only: untouched, an edit sends back the stored moment as it
      // is, so that seconds cut off by the form never count as a change (or a conflict).
      if (input && input.dataset.exact && input.value === input.defaultValue) {
        payload.occurred_at = input.dataset.exact;
      }
      var people = parseInt(data.get("people_count"), 10);
      payload.people_count = isNaN(people) ? data.get("people_count") : people;
      ["languages", "situations", "themes", "responses"].forEach(function (k) {
        payload[k] = data.getAll(k);
      });
      if (data.get("person_code")) { payload.person_code = data.get("person_code"); }
      if (data.get("note")) { payload.note = data.get("note"); }
      return { url: "/api/v1/contacts/", payload: payload, editUrl: "/contacts/new",
               label: t("label_contact", {
                 when: when ? new Date(when).toLocaleString(LOCALE, SHORT) : "" }) };
    },
    referral: function (form) {
      var data = new FormData(form);
      var payload = { contact: form.dataset.contact,
                      organisation: parseInt(data.get("organisation"), 10) || null,
                      modality: data.get("modality") || null,
                      message: data.get("message") || null, send: !!data.get("send") };
      if (data.get("bridge")) { payload.bridge = data.get("bridge"); }
      return { url: "/api/v1/referrals/", payload: payload, editUrl: location.pathname,
               label: t("label_referral", { when: new Date().toLocaleDateString(LOCALE) }) };
    },
    bridge_step: function (form) {
      var data = new FormData(form);
      return { url: "/api/v1/bridges/" + form.dataset.bridge + "/steps/",
               editUrl: location.pathname,
               label: t("label_bridge_step", { when: localDay(data.get("occurred_on")) }),
               payload: { occurred_on: data.get("occurred_on") || null,
                          kind: data.get("kind") || null, note: data.get("note") || null,
                          next_step_due: data.get("next_step_due") || null } };
    },
    collective_action: function (form) {
      var data = new FormData(form);
      var participants = parseInt(data.get("participants"), 10);
      return {
        url: "/api/v1/collective-actions/", editUrl: "/collective-actions/new",
        label: t("label_collective_action", { when: localDay(data.get("occurred_on")) }),
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
      var message = el("p", { "class": "field-error js-error", role: "alert" },
                       errors[field].join(" "));
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

  /* Names of a form's choices the vocabularies do not hold (neighbourhoods, outings,
     services), so that a comparison screen shown without network can still name them. */
  function choiceNames(form) {
    var names = {};
    form.querySelectorAll("select[name]").forEach(function (select) {
      var map = names[select.name] = {};
      Array.prototype.forEach.call(select.options, function (option) {
        if (option.value) { map[option.value] = option.textContent.trim(); }
      });
    });
    form.querySelectorAll('input[name="organisations"]').forEach(function (input) {
      var label = input.closest("label");
      names.organisations = names.organisations || {};
      if (label) { names.organisations[input.value] = label.textContent.trim(); }
    });
    return names;
  }

  /* Put an item in the queue, try to send it at once, then leave the form. */
  function queueAndLeave(form, item, next) {
    return Q.put(item).then(Q.sync).then(function (result) {
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
      if (left && left.status === "to-resolve") {  // a colleague changed the same fields
        location.href = "/today#resolve=" + left.id;
        return null;
      }
      flash(left ? t("saved_offline") : t("saved"));
      location.href = next;
      return null;
    });
  }

  function fillFromQueue(form, then) {
    var match = /#queued=([0-9a-f-]{36})/.exec(location.hash);
    if (!match) { return; }
    Q.get(match[1]).then(function (item) {
      if (item && item.userId === userId) {
        fill(form, item.payload);
        showErrors(form, item.errors);
        then(item);
      }
    });
  }

  document.querySelectorAll("form[data-queue]").forEach(function (form) {
    var kind = form.dataset.queue;
    var recordId = Q.newId(), reopened = null;
    fillFromQueue(form, function (item) { recordId = item.id; reopened = item; });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var then = event.submitter && event.submitter.value;
      var built = BUILDERS[kind](form);
      var item = { id: recordId, kind: kind, url: built.url + recordId,
                   payload: built.payload, label: built.label, editUrl: built.editUrl,
                   precondition: (reopened && reopened.precondition) || { create: true },
                   replayed: !!(reopened && reopened.replayed), names: choiceNames(form),
                   userId: userId, queuedAt: Date.now(), status: "waiting", attempts: 0 };
      queueAndLeave(form, item,
                    then === "another" ? built.editUrl : (form.dataset.after || "/today"));
    });
  });

  // -- edit forms: sent by the page with network, queued with their version without ------------
  /* "online", "auth" (the session has expired) or "offline" (no answer). */
  function reachable() {
    if (!navigator.onLine) { return Promise.resolve("offline"); }
    var ask = fetch("/api/v1/me", { credentials: "same-origin", cache: "no-store",
                                    headers: { Accept: "application/json" } })
      .then(function (r) { return r.status === 401 ? "auth" : "online"; },
            function () { return "offline"; });
    var late = new Promise(function (resolve) {
      setTimeout(function () { resolve("offline"); }, 8000);
    });
    return Promise.race([ask, late]);
  }

  document.querySelectorAll("form[data-queue-edit]").forEach(function (form) {
    var kind = form.dataset.queueEdit, recordId = form.dataset.record;
    var version = form.querySelector('input[name="version"]');
    var direct = false, reopened = null;
    if (!BUILDERS[kind] || !recordId) { return; }
    // A queued edit reopened to be corrected keeps the version it was made from: the form now
    // holds that edit, not the version the page was opened at.
    fillFromQueue(form, function (item) {
      reopened = item;
      if (version && item.precondition && item.precondition.version) {
        version.value = String(item.precondition.version);
      }
    });
    form.addEventListener("submit", function (event) {
      // The page's own conflict screen, or a page that does not say its version: the
      // server handles them (without network they cannot be kept: nothing to compare with).
      var base = version && parseInt(version.value, 10);
      if (direct || !base || form.querySelector(".conflict")) { return; }
      event.preventDefault();
      var submitter = event.submitter;
      reachable().then(function (state) {
        if (state === "online") {  // as without this script: the page posts it
          direct = true;
          // The page now sends the edit that waited in the queue: it waits no more.
          return (reopened ? Q.remove(reopened.id) : Promise.resolve()).then(function () {
            if (submitter) { form.requestSubmit(submitter); } else { form.requestSubmit(); }
          });
        }
        var built = BUILDERS[kind](form);
        var payload = built.payload;
        // A note is sent only when it was changed here: the queue never keeps a
        // colleague's note, and an absent note stays as it is on the server.
        var note = form.querySelector('textarea[name="note"]');
        if (note) {
          if (note.value !== note.defaultValue) { payload.note = note.value.trim() || null; }
          else { delete payload.note; }
        }
        var remove = form.querySelector('input[name="remove_person_code"]');
        if (remove && remove.checked) { payload.person_code = null; }
        var item = { id: recordId, kind: kind, url: built.url + recordId, payload: payload,
                     label: t("label_edit", { label: built.label }), editUrl: location.pathname,
                     precondition: { version: base }, names: choiceNames(form),
                     userId: userId, queuedAt: Date.now(), status: "waiting", attempts: 0 };
        return queueAndLeave(form, item, form.dataset.after || "/today");
      });
    });
  });

  // -- the comparison screen: the worker chooses, field by field -------------------------------
  // The same markup as the pages' conflict screen (templates/_versions.html), drawn from what
  // the queue kept of the server's answer: it works without network.
  var VOCABULARY_OF = { place_type: "place_type", initiative: "initiative", age_band: "age_band",
                        gender: "gender", languages: "language", situations: "situation",
                        themes: "theme", responses: "response", mission: "collective_mission",
                        modality: "referral_modality", kind: "bridge_step_kind" };
  var FREE_TEXT = ["note", "message"];

  function readJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .catch(function () {  // without network (and without the service worker): the copy kept
        if (!window.caches) { return null; }
        return caches.open(Q.DATA_CACHE).then(function (cache) { return cache.match(url); })
          .then(function (hit) { return hit ? hit.json() : null; });
      })
      .catch(function () { return null; });
  }

  function loadNames() {
    return Promise.all([readJson("/api/v1/vocabularies"), readJson("/api/v1/directory")])
      .then(function (found) {
        var terms = {}, services = {};
        var vocabularies = (found[0] && found[0].vocabularies) || {};
        Object.keys(vocabularies).forEach(function (name) {
          terms[name] = {};
          vocabularies[name].forEach(function (t) { terms[name][t.code] = t.label; });
        });
        ((found[1] && found[1].organisations) || []).forEach(function (o) {
          services[o.id] = o.name;
        });
        return { terms: terms, services: services };
      });
  }

  function shownOne(item, field, value, names) {
    var vocabulary = VOCABULARY_OF[field];
    if (vocabulary && names.terms[vocabulary] && names.terms[vocabulary][value]) {
      return names.terms[vocabulary][value];
    }
    if ((field === "organisations" || field === "organisation") && names.services[value]) {
      return names.services[value];
    }
    var own = (item.names || {})[field];
    if (own && own[value]) { return own[value]; }
    if (typeof value === "string" && /^\d{4}-\d\d-\d\dT/.test(value)) {
      return new Date(value).toLocaleString(LOCALE, LONG);
    }
    if (typeof value === "string" && /^\d{4}-\d\d-\d\d$/.test(value)) {
      return localDay(value, LONG_DAY);
    }
    if (field === "outing") { return t("other_outing"); }
    return String(value);
  }

  function shown(item, field, value, names) {
    if (value === null || value === undefined || value === "" ||
        (Array.isArray(value) && !value.length)) { return t("empty"); }
    return (Array.isArray(value) ? value : [value]).map(function (v) {
      return shownOne(item, field, v, names);
    }).join(", ");
  }

  // "par Amina, le 25/11 21:32": who gave the current value, as the pages say it.
  function whoChanged(change) {
    if (!change || !change.at) { return null; }
    var when = new Date(change.at).toLocaleString(LOCALE, SHORT);
    return change.name ? t("changed_by", { name: change.name, when: when })
                       : t("changed_on", { when: when });
  }

  function choice(field, value, who, text, hint) {
    var label = el("label", { "class": "choice" });
    var input = el("input", { type: "radio", name: "choice__" + field, value: value });
    if (value !== "both") { input.required = true; }
    label.appendChild(input);
    label.appendChild(document.createTextNode(" "));
    label.appendChild(el("span", { "class": "who" }, who));
    [[text, "value"], [hint, "by"]].forEach(function (part) {
      if (part[0] === null || part[0] === undefined) { return; }
      label.appendChild(document.createTextNode(" "));
      label.appendChild(el("span", { "class": part[1] }, part[0]));
    });
    return label;
  }

  function conflictForm(item, names) {
    var c = item.conflict, current = c.current || {};
    var form = el("form", { "class": "conflict-form", "data-conflict-for": item.id });
    var section = el("section", { "class": "conflict", "aria-labelledby": "conflict-title" });
    section.appendChild(el("h2", { id: "conflict-title", tabindex: "-1" },
                           t("conflict_title", { num: c.fields.length })));
    section.appendChild(el("p", {}, t("conflict_intro", { label: item.label })));
    c.fields.forEach(function (field) {
      var box = el("fieldset", { "class": "conflict-field", "data-field": field });
      box.appendChild(el("legend", {}, c.labels[field] || fieldLabel(field)));
      var yours = field in item.payload ? item.payload[field] : (c.yours || {})[field];
      if (field === "person_code") {  // never shown, never in an answer
        box.appendChild(choice(field, "yours", t("yours"),
                               yours ? t("code_typed") : t("code_removed")));
        box.appendChild(choice(field, "theirs", t("theirs"),
                               current.has_person_code ? t("code_theirs") : t("code_none")));
      } else {
        box.appendChild(choice(field, "yours", t("yours"), shown(item, field, yours, names)));
        box.appendChild(choice(field, "theirs", t("theirs"),
                               shown(item, field, current[field], names),
                               whoChanged((c.changedBy || {})[field])));
        if (FREE_TEXT.indexOf(field) !== -1) {
          box.appendChild(choice(field, "both", t("keep_both"), null, t("keep_both_hint")));
        }
      }
      section.appendChild(box);
    });
    section.appendChild(el("button", { type: "submit", "class": "button primary" },
                           t("save_choice")));
    section.appendChild(el("a", { "class": "button", href: "#queue" }, t("later")));
    form.appendChild(section);
    return form;
  }

  function say(text) {
    var main = document.getElementById("main");
    if (!main) { return; }
    main.querySelectorAll(".js-flash").forEach(function (n) { n.remove(); });
    main.insertBefore(el("p", { "class": "flash js-flash", role: "status" }, text),
                      main.firstChild);
  }

  var screen = null;

  function closeScreen() {
    if (!screen) { return; }
    screen.form.remove();
    screen.hidden.forEach(function (node) { node.hidden = false; });
    screen = null;
    refresh();
  }

  function openScreen(id) {
    var main = document.getElementById("main");
    if (!main) { return Promise.resolve(); }
    return Promise.all([Q.get(id), loadNames()]).then(function (found) {
      var item = found[0];
      closeScreen();
      if (!item || item.userId !== userId || item.status !== "to-resolve" || !item.conflict) {
        return;  // resolved or sent meanwhile
      }
      var form = conflictForm(item, found[1]), hidden = [];
      Array.prototype.forEach.call(main.children, function (node) {
        if (!node.hidden) { node.hidden = true; hidden.push(node); }
      });
      main.insertBefore(form, main.firstChild);
      screen = { form: form, hidden: hidden };
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var choices = {};
        item.conflict.fields.forEach(function (field) {
          var picked = form.querySelector('input[name="choice__' + field + '"]:checked');
          choices[field] = picked ? picked.value : null;
        });
        Q.get(id).then(function (fresh) {
          if (!fresh || fresh.status !== "to-resolve") { return null; }
          return Q.resolved(fresh, choices);
        }).then(function () {
          location.hash = "queue";  // closes the screen
          return Q.sync().catch(function () { return null; });
        }).then(function () { return Q.get(id); }).then(function (left) {
          say(!left ? t("saved") : left.status === "to-resolve" ? t("changed_again") :
              t("choice_kept"));
          return refresh();
        });
      });
      window.scrollTo(0, 0);
      form.querySelector("h2").focus();
    });
  }

  function route() {
    var match = /^#resolve=([0-9a-f-]{36})$/.exec(location.hash);
    if (match) { return openScreen(match[1]); }
    if (screen) {
      closeScreen();
      var target = location.hash && document.getElementById(location.hash.slice(1));
      if (target) { target.scrollIntoView(); }
    }
    return Promise.resolve();
  }
  window.addEventListener("hashchange", route);

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
      // This person's pages and the data go at once; the shell, which names nobody, stays.
      if (window.caches) {
        caches.keys().then(function (keys) {
          keys.forEach(function (key) {
            if (key.indexOf("relais-shell-") !== 0) { caches.delete(key); }
          });
        });
      }
      if (navigator.serviceWorker && navigator.serviceWorker.controller) {
        navigator.serviceWorker.controller.postMessage("forget");
      }
    });
  });

  if (window.BroadcastChannel) {
    new BroadcastChannel("relais-queue").onmessage = function () { refresh(); };
  }
  window.addEventListener("online", syncNow);
  refresh().then(function (items) { if (items.length && navigator.onLine) { syncNow(); } });
  route();
  window.relaisOffline = { refresh: refresh, syncNow: syncNow, openScreen: openScreen };
})();
