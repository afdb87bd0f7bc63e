// Progressive enhancement only: every form works without this file.
(function () {
  "use strict";
  // People-count stepper: − and + around a number input.
  document.querySelectorAll("[data-stepper]").forEach(function (box) {
    var input = box.querySelector("input");
    box.querySelectorAll("button[data-step]").forEach(function (button) {
      button.addEventListener("click", function () {
        var min = parseInt(input.min || "1", 10), max = parseInt(input.max || "500", 10);
        var value = (parseInt(input.value, 10) || min) + parseInt(button.dataset.step, 10);
        input.value = Math.min(max, Math.max(min, value));
      });
    });
  });
})();

// Search as you type: <input data-filter="LIST_ID"> hides the items of the list whose
// data-search text does not contain every word typed (accents and case ignored).
(function () {
  "use strict";
  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var list = document.getElementById(input.dataset.filter);
    if (!list) { return; }
    var items = Array.prototype.slice.call(list.querySelectorAll("[data-search]"));
    var haystacks = items.map(function (item) { return fold(item.dataset.search); });
    var empty = document.querySelector('[data-filter-empty="' + input.dataset.filter + '"]');
    function apply() {
      var words = fold(input.value).split(/\s+/).filter(Boolean);
      var shown = 0;
      items.forEach(function (item, i) {
        var match = words.every(function (w) { return haystacks[i].indexOf(w) !== -1; });
        item.hidden = !match;
        if (match) { shown += 1; }
      });
      if (empty) { empty.hidden = shown > 0; }
    }
    input.addEventListener("input", apply);
    // In a form that posts (the referral picker), Enter must not submit half a choice.
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && input.form && input.form.method === "post") {
        event.preventDefault();
      }
    });
    apply();
  });
})();

// Person-code history: once a code is typed, ask the server what the team already knows
// behind it (earlier contacts, bridges, referrals). The code goes in a POST body, never in
// an address, and the answer never contains the code.
(function () {
  "use strict";
  document.querySelectorAll("[data-history-for]").forEach(function (box) {
    var input = document.getElementById(box.dataset.historyFor);
    var token = document.querySelector('meta[name="csrf-token"]');
    if (!input || !token || !window.fetch) { return; }
    var timer = null, last = "";
    function lookup() {
      var code = input.value.trim();
      if (code === last) { return; }
      last = code;
      if (code.length < 2) { box.innerHTML = ""; return; }
      var body = new FormData();
      body.append("person_code", code);
      body.append("csrf_token", token.content);
      if (box.dataset.exclude) { body.append("exclude_contact", box.dataset.exclude); }
      fetch(box.dataset.url, { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) { if (input.value.trim() === code) { box.innerHTML = html; } })
        .catch(function () { box.innerHTML = ""; });  // offline: no history, no error
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(lookup, 500);
    });
    input.addEventListener("change", lookup);
  });
})();

// A shared phone: the page says whose session it was made in (empty when nobody is signed
// in), so that the service worker drops another person's or session's kept pages even when
// it did not see this page come (a first visit, a forced reload). It never keeps anything
// because of this message.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="relais-binding"]');
  var sw = navigator.serviceWorker;
  if (!meta || !sw || !sw.controller) { return; }
  // Its language too: the worker's offline pages are shown in it.
  sw.controller.postMessage({ binding: meta.content || null,
                              lang: document.documentElement.lang || null });
})();

// Say what happened: a status message that arrives already written (the page after a save,
// a message a script inserts) is not read out reliably by screen readers, which announce
// changes to a live region they already know. #announcer is in the page from the start,
// empty; the texts of the statuses are written into it a moment later.
(function () {
  "use strict";
  var announcer = document.getElementById("announcer");
  var main = document.getElementById("main");
  if (!announcer || !main) { return; }
  function say(elements) {
    var text = elements.map(function (el) { return el.textContent.trim(); })
      .filter(Boolean).join(" ");
    if (!text) { return; }
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 150);
  }
  say(Array.prototype.slice.call(main.querySelectorAll("[role=status]")));
  new MutationObserver(function (changes) {
    var added = [];
    changes.forEach(function (change) {
      change.addedNodes.forEach(function (node) {
        if (node.nodeType === 1 && node.matches("[role=status]")) { added.push(node); }
      });
    });
    say(added);
  }).observe(main, { childList: true, subtree: true });
})();
