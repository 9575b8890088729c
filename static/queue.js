// The offline registration queue. A visit registered with no network is kept on the phone
// (IndexedDB, one record per submission, under the idempotency key the form was given) and
// sent when the network returns: on the `online` event, on page load, on "send now", and
// again with a growing delay. Every send of an item carries the SAME key, so a send whose
// answer was lost creates nothing twice (the server replays its first answer).
// An item is only ever sent with the session of the user who queued it. The words shown come
// from the page (data-t-* attributes, translated there); none are written here (i18n, CSP).
(function () {
  "use strict";
  var me = document.currentScript;
  var DB_NAME = "registration-queue";
  var ITEMS = "items";
  var SENT = "sent";
  var LOCK = "registration-queue-send";
  var USER_KEY = "queue-user";
  var USED_KEY = "queue-used-keys";
  var SENDING_MS = 60000; // a "sending" mark older than this is a tab that went away
  var MAX_DELAY_MS = 300000;

  var pageUser = me ? me.getAttribute("data-user") || "" : "";
  var signoutText = me ? me.getAttribute("data-t-signout") || "" : "";
  if (pageUser) {
    try { localStorage.setItem(USER_KEY, pageUser); } catch (e) { /* private mode */ }
  }
  // The stored offline page has no user in it: it shows the last signed-in user's items.
  function currentUser() {
    if (pageUser) { return pageUser; }
    try { return localStorage.getItem(USER_KEY) || ""; } catch (e) { return ""; }
  }

  // --- IndexedDB, as promises -------------------------------------------------------------
  var dbPromise = null;
  function openDb() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        if (!window.indexedDB) { reject(new Error("no IndexedDB")); return; }
        var req = indexedDB.open(DB_NAME, 1);
        req.onupgradeneeded = function () {
          var db = req.result;
          if (!db.objectStoreNames.contains(ITEMS)) { db.createObjectStore(ITEMS, { keyPath: "key" }); }
          if (!db.objectStoreNames.contains(SENT)) { db.createObjectStore(SENT, { keyPath: "key" }); }
        };
        req.onsuccess = function () {
          var db = req.result;
          // Clear-Site-Data (sign-out) deletes the database: let it go rather than block it.
          db.onversionchange = function () { db.close(); dbPromise = null; };
          resolve(db);
        };
        req.onerror = function () { reject(req.error); };
      });
    }
    return dbPromise;
  }
  function tx(store, mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(store, mode);
        var result;
        var req = work(t.objectStore(store));
        if (req) { req.onsuccess = function () { result = req.result; }; }
        t.oncomplete = function () { resolve(result); };
        t.onerror = function () { reject(t.error); };
        t.onabort = function () { reject(t.error); };
      });
    });
  }
  function all(store) { return tx(store, "readonly", function (s) { return s.getAll(); }); }
  function put(store, value) { return tx(store, "readwrite", function (s) { return s.put(value); }); }
  function del(store, key) { return tx(store, "readwrite", function (s) { return s.delete(key); }); }
  function get(store, key) { return tx(store, "readonly", function (s) { return s.get(key); }); }

  function mine(items) {
    var user = currentUser();
    return items.filter(function (i) { return user && i.userId === user; });
  }

  // --- keys -------------------------------------------------------------------------------
  function newKey() {
    var bytes = new Uint8Array(18);
    crypto.getRandomValues(bytes);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function usedKeys() {
    try { return JSON.parse(localStorage.getItem(USED_KEY) || "[]"); } catch (e) { return []; }
  }
  function markUsed(key) {
    var keys = usedKeys().filter(function (k) { return k !== key; });
    keys.push(key);
    try { localStorage.setItem(USED_KEY, JSON.stringify(keys.slice(-200))); } catch (e) { /* full */ }
  }

  // --- showing the queue ------------------------------------------------------------------
  // In the user's display zone (the `tz` preference), given by the page: <html data-tz>.
  var ZONE = document.documentElement.getAttribute("data-tz") || "Asia/Shanghai";
  var DATE = new Intl.DateTimeFormat(document.documentElement.lang || "zh-CN", {
    timeZone: ZONE, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hour12: false,
  });
  function when(iso) { return iso ? DATE.format(new Date(iso)) : ""; }
  function localWhen(value) { return value ? value.replace("T", " ") : "?"; }
  function t(box, name) { return box.getAttribute("data-t-" + name) || ""; }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function describe(box, item) {
    var s = item.summary || {};
    var li = el("li", "queue-item");
    li.setAttribute("data-queue-item", item.key);
    li.setAttribute("data-status", item.status);
    var head = el("p");
    var badge = el("span", "badge " + (item.status === "refused" ? "rejected" : "pending"),
      t(box, item.status === "refused" ? "refused" : (item.status === "sending" ? "sending" : "waiting")));
    head.appendChild(badge);
    head.appendChild(document.createTextNode(" "));
    var name = s.enterprise || (s.uscc ? t(box, "uscc").replace("__CODE__", s.uscc) : "?");
    head.appendChild(el("strong", "", name));
    li.appendChild(head);
    if (s.basis === "extra") { li.appendChild(el("p", "small", t(box, "extra"))); }
    else if (s.entry) { li.appendChild(el("p", "small", s.entry)); }
    li.appendChild(el("p", "small", t(box, "window").replace("__START__", localWhen(s.start)).replace("__END__", localWhen(s.end))));
    li.appendChild(el("p", "small", s.items && s.items.length ? t(box, "items").replace("__ITEMS__", s.items.join(", ")) : t(box, "no-items")));
    li.appendChild(el("p", "small muted", t(box, "since").replace("__TIME__", when(item.queuedAt))));
    if (item.status === "refused") {
      var why = el("div", "notice bad");
      why.setAttribute("role", "alert");
      (item.messages || []).forEach(function (m) { why.appendChild(el("p", "", m)); });
      li.appendChild(why);
      var actions = el("p", "row");
      var edit = el("a", "button", t(box, "edit"));
      edit.href = "/visits/new#queued=" + encodeURIComponent(item.key);
      edit.setAttribute("data-queue-edit", item.key);
      var discard = el("button", "button secondary", t(box, "discard"));
      discard.type = "button";
      discard.setAttribute("data-queue-discard", item.key);
      actions.appendChild(edit);
      actions.appendChild(discard);
      li.appendChild(actions);
    } else if (item.status === "signin") {
      var p = el("p", "notice warn", t(box, "signin") + " ");
      var link = el("a", "", t(box, "signin-link"));
      link.href = "/login?next=" + encodeURIComponent(location.pathname);
      p.appendChild(link);
      li.appendChild(p);
    } else if (item.nextAttempt && item.attempts) {
      li.appendChild(el("p", "small muted", t(box, "retry").replace("__TIME__", when(new Date(item.nextAttempt).toISOString()))));
    }
    return li;
  }

  function render() {
    var boxes = document.querySelectorAll("[data-queue]");
    if (!boxes.length) { return Promise.resolve(); }
    return Promise.all([all(ITEMS), all(SENT)]).then(function (r) {
      var user = currentUser();
      var items = mine(r[0]).sort(function (a, b) { return a.queuedAt < b.queuedAt ? -1 : 1; });
      var aside = r[0].length - items.length;
      var sent = mine(r[1]);
      Array.prototype.forEach.call(boxes, function (box) {
        var list = box.querySelector("[data-queue-list]");
        list.innerHTML = "";
        items.forEach(function (item) { list.appendChild(describe(box, item)); });
        box.querySelector("[data-queue-waiting]").hidden = items.length === 0;
        var sentBox = box.querySelector("[data-queue-sent]");
        sentBox.innerHTML = "";
        sent.forEach(function (s) {
          var note = el("div", "notice ok");
          note.setAttribute("data-queue-sent-item", s.key);
          var p = el("p", "", t(box, "sent").replace("__NAME__", s.name || "?") + " ");
          var a = el("a", "", t(box, "open"));
          a.href = s.url;
          p.appendChild(a);
          note.appendChild(p);
          var hide = el("button", "link", t(box, "hide"));
          hide.type = "button";
          hide.setAttribute("data-queue-hide", s.key);
          note.appendChild(hide);
          sentBox.appendChild(note);
        });
        var asideEl = box.querySelector("[data-queue-aside]");
        asideEl.hidden = !user || aside === 0;
        asideEl.textContent = t(box, "aside").replace("__COUNT__", String(aside));
        box.hidden = items.length === 0 && sent.length === 0 && (aside === 0 || !user);
        box.setAttribute("data-count", String(items.length));
      });
    }).catch(function () { /* no IndexedDB: nothing kept, nothing to show */ });
  }

  // --- queuing a registration -------------------------------------------------------------
  function labelText(input) {
    var label = input && input.closest("label");
    var strong = label && label.querySelector("strong");
    return strong ? strong.textContent.trim() : "";
  }

  function summarise(form, fields) {
    function value(name) {
      for (var i = 0; i < fields.length; i++) { if (fields[i][0] === name) { return fields[i][1]; } }
      return "";
    }
    var s = { basis: value("plan_entry_id"), start: value("window_start"), end: value("window_end"),
      uscc: value("enterprise_uscc").trim().toUpperCase(), enterprise: "", entry: "", items: [] };
    var picked = form.querySelector("[data-offline-entry]");
    var ent = form.querySelector("input[name=enterprise_id]:checked");
    if (ent) { s.enterprise = labelText(ent); }
    else if (picked && picked.value && form.querySelector("input[data-picked][name=enterprise_id]")) {
      s.enterprise = picked.options[picked.selectedIndex].text.split(" · ")[0];
    } else {
      var prev = form.getAttribute("data-editing-enterprise");
      if (prev && value("enterprise_id")) { s.enterprise = prev; }
    }
    var entry = form.querySelector("input[name=plan_entry_id]:checked");
    if (entry && entry.value !== "extra") { s.entry = labelText(entry); }
    form.querySelectorAll("input[name=item_ids]:checked").forEach(function (box) {
      var code = box.closest("label") && box.closest("label").querySelector(".mono");
      s.items.push(code ? code.textContent.trim() : box.value);
    });
    if (!s.items.length) {
      form.querySelectorAll("input[data-prefilled][name=item_ids]").forEach(function (h) { s.items.push(h.value); });
    }
    return s;
  }

  function queueForm(form) {
    var data = new FormData(form);
    var fields = [];
    data.forEach(function (value, name) {
      if (typeof value !== "string" || name === "csrf_token" || name === "action" || name === "q") { return; }
      fields.push([name, value]);
    });
    var key = data.get("idempotency_key") || newKey();
    var user = currentUser();
    var item = { key: key, userId: user, queuedAt: new Date().toISOString(), fields: fields,
      summary: summarise(form, fields), status: "waiting", attempts: 0, nextAttempt: 0, messages: [] };
    var replaces = form.getAttribute("data-replaces");
    markUsed(key);
    return put(ITEMS, item).then(function () {
      return replaces && replaces !== key ? del(ITEMS, replaces) : null;
    }).then(function () {
      // A fresh form: the next registration gets its own key.
      var hidden = form.querySelector("input[name=idempotency_key]");
      if (hidden) { hidden.value = newKey(); }
      form.removeAttribute("data-replaces");
      var editing = document.querySelector("[data-queue-editing]");
      if (editing) { editing.hidden = true; }
      if (location.hash) { history.replaceState(null, "", location.pathname + location.search); }
      return render();
    }).then(function () {
      var box = document.querySelector("[data-queue]");
      if (box) { box.scrollIntoView({ block: "start" }); }
      if (navigator.onLine) { sendAll(true); }
    });
  }

  // --- sending ----------------------------------------------------------------------------
  var timer = null;
  function schedule(items) {
    if (timer) { clearTimeout(timer); timer = null; }
    var next = null;
    items.forEach(function (i) {
      if (i.status === "waiting" && i.nextAttempt && (next === null || i.nextAttempt < next)) { next = i.nextAttempt; }
    });
    if (next !== null) {
      timer = setTimeout(function () { sendAll(false); }, Math.max(1000, next - Date.now()));
    }
  }

  function backoff(item) {
    item.attempts = (item.attempts || 0) + 1;
    item.nextAttempt = Date.now() + Math.min(MAX_DELAY_MS, 5000 * Math.pow(2, item.attempts - 1));
    item.status = "waiting";
    item.sendingUntil = 0;
  }

  function withLock(work) {
    if (navigator.locks && navigator.locks.request) {
      // One tab sends at a time; a tab that finds the lock taken leaves it to the other.
      return navigator.locks.request(LOCK, { ifAvailable: true }, function (lock) {
        return lock ? work() : null;
      });
    }
    return work();
  }

  function messagesOf(body, fallback) {
    var out = [];
    if (body && body.errors && body.errors.length) {
      body.errors.forEach(function (e) { if (out.indexOf(e.message) < 0) { out.push(e.message); } });
    } else if (body && body.message) {
      out.push(body.message);
    } else if (fallback) {
      out.push(fallback);
    }
    return out;
  }

  function sendOne(item, session) {
    var body = new URLSearchParams();
    item.fields.forEach(function (f) { body.append(f[0], f[1]); });
    body.append("action", "register");
    body.append("csrf_token", session.csrf_token);
    return fetch("/visits/new", {
      method: "POST",
      body: body,
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json", "X-CSRF-Token": session.csrf_token,
        "X-Queued-At": item.queuedAt },
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      var json = type.indexOf("application/json") >= 0 ? response.json() : Promise.resolve(null);
      return json.then(function (answer) {
        if (response.ok && answer && answer.registered) {
          return put(SENT, { key: item.key, userId: item.userId, url: answer.url,
            name: item.summary && (item.summary.enterprise || item.summary.uscc),
            sentAt: new Date().toISOString() }).then(function () { return del(ITEMS, item.key); });
        }
        if (response.status === 401 || response.status === 403 || response.redirected) {
          item.status = "signin"; // kept: sent once the user has signed in again
        } else if (response.status >= 400 && response.status < 500 && answer) {
          item.status = "refused"; // kept until edited or discarded
          item.messages = messagesOf(answer, response.statusText);
        } else {
          backoff(item); // 5xx, a proxy's page: try again later
        }
        item.sendingUntil = 0;
        return put(ITEMS, item);
      });
    }, function () {
      backoff(item); // no network, or the answer was lost: the same key next time
      return put(ITEMS, item);
    });
  }

  var running = false;
  var again = false;
  function sendAll(force) {
    if (!navigator.onLine) { return Promise.resolve(); }
    if (running) { again = again || force || "later"; return Promise.resolve(); }
    running = true;
    return withLock(function () {
      return all(ITEMS).then(function (items) {
        if (!items.length) { return null; }
        return fetch("/pwa/session", { credentials: "same-origin", cache: "no-store",
          headers: { "Accept": "application/json" } }).then(function (r) {
          if (r.status === 401) { return { signed_in: false }; }
          if (!r.ok) { throw new Error("session " + r.status); }
          return r.json();
        }).then(function (session) {
          var chain = Promise.resolve();
          items.forEach(function (item) {
            chain = chain.then(function () { return get(ITEMS, item.key); }).then(function (fresh) {
              if (!fresh || fresh.status === "refused") { return null; }
              if (!session.signed_in) {
                if (fresh.status === "signin") { return null; }
                fresh.status = "signin";
                return put(ITEMS, fresh);
              }
              // Another user's item: set aside, never sent with this session.
              if (String(session.user_id) !== fresh.userId) { return null; }
              var now = Date.now();
              if (fresh.status === "sending" && fresh.sendingUntil > now) { return null; }
              if (!force && fresh.status === "waiting" && fresh.nextAttempt > now) { return null; }
              fresh.status = "sending";
              fresh.sendingUntil = now + SENDING_MS;
              return put(ITEMS, fresh).then(render).then(function () { return sendOne(fresh, session); });
            });
          });
          return chain;
        }, function () {
          // The session check itself failed (no network after all): every item waits.
          return Promise.all(items.map(function (item) {
            if (item.status !== "waiting" && item.status !== "sending") { return null; }
            backoff(item);
            return put(ITEMS, item);
          }));
        });
      });
    }).catch(function () { /* IndexedDB gone (signed out): nothing to send */ })
      .then(function () {
        running = false;
        if (again) {
          // Asked again while sending (a new item, "send now"): once more.
          var force2 = again === true;
          again = false;
          return sendAll(force2);
        }
        return all(ITEMS).then(function (items) { schedule(items); return render(); }, function () { return null; });
      });
  }

  // --- the registration form --------------------------------------------------------------
  function setHidden(form, name, value, attr) {
    form.querySelectorAll("input[" + attr + "][name=" + name + "]").forEach(function (h) { h.remove(); });
    if (value === null) { return; }
    var h = document.createElement("input");
    h.type = "hidden";
    h.name = name;
    h.value = value;
    h.setAttribute(attr, "");
    form.appendChild(h);
  }

  function showOnline() {
    var offline = !navigator.onLine;
    document.querySelectorAll("[data-offline-only]").forEach(function (node) { node.hidden = !offline; });
  }

  function prefill(form, item) {
    // Edit and send again: the form as it was queued; the same key until something changes.
    var byName = {};
    item.fields.forEach(function (f) { (byName[f[0]] = byName[f[0]] || []).push(f[1]); });
    form.querySelectorAll("input[type=checkbox], input[type=radio]").forEach(function (box) {
      if (byName[box.name]) { box.checked = byName[box.name].indexOf(box.value) >= 0; }
    });
    Object.keys(byName).forEach(function (name) {
      var values = byName[name];
      var fields = form.querySelectorAll("[name='" + name + "']");
      var boxes = Array.prototype.filter.call(fields, function (f) { return f.type === "checkbox" || f.type === "radio"; });
      if (boxes.length) {
        values.forEach(function (v) {
          var found = boxes.some(function (b) { return b.value === v; });
          if (!found) {
            var h = document.createElement("input");
            h.type = "hidden"; h.name = name; h.value = v; h.setAttribute("data-prefilled", "");
            form.appendChild(h);
          }
        });
      } else if (fields.length) {
        fields[0].value = values[0];
      } else {
        values.forEach(function (v) {
          var h = document.createElement("input");
          h.type = "hidden"; h.name = name; h.value = v; h.setAttribute("data-prefilled", "");
          form.appendChild(h);
        });
      }
    });
    form.setAttribute("data-replaces", item.key);
    form.setAttribute("data-editing-enterprise", (item.summary && item.summary.enterprise) || "");
    var note = document.querySelector("[data-queue-editing]");
    if (note) {
      note.querySelector("p").textContent = note.getAttribute("data-template").replace("__TIME__", when(item.queuedAt));
      note.hidden = false;
    }
  }

  function setUpForm(form) {
    var keyInput = form.querySelector("input[name=idempotency_key]");
    // A page the phone stored is the same every time it is opened: its key may be spent.
    if (keyInput && usedKeys().indexOf(keyInput.value) >= 0) { keyInput.value = newKey(); }
    var editing = false;
    var match = /^#queued=(.+)$/.exec(location.hash);
    if (match) {
      get(ITEMS, decodeURIComponent(match[1])).then(function (item) {
        if (item && item.userId === currentUser()) {
          prefill(form, item);
          if (keyInput) { keyInput.value = item.key; }
          editing = true;
        }
      }).catch(function () { /* nothing to edit */ });
    }
    // The inspector changes something: a new request, so a new key (the old one may have
    // reached the server with other content).
    function edited(evt) {
      if (evt.target && evt.target.name) {
        form.querySelectorAll("input[data-prefilled][name='" + evt.target.name + "']").forEach(function (h) { h.remove(); });
      }
      if (editing && keyInput) { keyInput.value = newKey(); editing = false; }
    }
    form.addEventListener("change", edited);
    form.addEventListener("input", edited);

    var picker = form.querySelector("[data-offline-entry]");
    if (picker) {
      picker.addEventListener("change", function () {
        var option = picker.options[picker.selectedIndex];
        if (!picker.value) {
          setHidden(form, "enterprise_id", null, "data-picked");
          setHidden(form, "plan_entry_id", null, "data-picked");
          return;
        }
        form.querySelectorAll("input[name=enterprise_id], input[name=plan_entry_id]").forEach(function (r) {
          if (r.type === "radio") { r.checked = false; }
        });
        var uscc = form.querySelector("#enterprise_uscc");
        if (uscc) { uscc.value = ""; }
        setHidden(form, "enterprise_id", option.getAttribute("data-enterprise-id"), "data-picked");
        setHidden(form, "plan_entry_id", picker.value, "data-picked");
        var wanted = (option.getAttribute("data-items") || "").split(",");
        form.querySelectorAll("input[name=item_ids]").forEach(function (box) {
          box.checked = wanted.indexOf(box.value) >= 0;
        });
      });
    }
    var usccInput = form.querySelector("#enterprise_uscc");
    if (usccInput) {
      usccInput.addEventListener("input", function () {
        if (!usccInput.value.trim()) { return; }
        // A typed code replaces any enterprise chosen before (the server looks it up).
        if (picker) { picker.value = ""; }
        setHidden(form, "enterprise_id", null, "data-picked");
        setHidden(form, "plan_entry_id", null, "data-picked");
        form.querySelectorAll("input[name=enterprise_id]").forEach(function (r) { r.checked = false; });
      });
    }

    form.addEventListener("submit", function (evt) {
      var action = evt.submitter ? evt.submitter.value : "register";
      if (action !== "register") { return; }
      if (keyInput) { markUsed(keyInput.value); }
      if (navigator.onLine && !form.hasAttribute("data-replaces")) { return; } // the server answers
      evt.preventDefault();
      queueForm(form);
    });
  }

  // With no network, the form's htmx helpers (warnings, plan entries) can only fail.
  document.addEventListener("htmx:beforeRequest", function (evt) {
    if (!navigator.onLine && evt.target && evt.target.closest && evt.target.closest("[data-queue-form]")) {
      evt.preventDefault();
    }
  });

  // --- buttons ----------------------------------------------------------------------------
  document.addEventListener("click", function (evt) {
    var target = evt.target;
    if (!target || !target.closest) { return; }
    var send = target.closest("[data-queue-send]");
    if (send) { sendAll(true); return; }
    var discard = target.closest("[data-queue-discard]");
    if (discard) {
      var box = discard.closest("[data-queue]");
      if (window.confirm(t(box, "discard-confirm"))) {
        del(ITEMS, discard.getAttribute("data-queue-discard")).then(render);
      }
      return;
    }
    var hide = target.closest("[data-queue-hide]");
    if (hide) { del(SENT, hide.getAttribute("data-queue-hide")).then(render); return; }
    var edit = target.closest("[data-queue-edit]");
    if (edit && location.pathname === "/visits/new" && !location.search) {
      // The same page with another hash is not loaded again by itself: load it, so that
      // the form is filled from the item.
      evt.preventDefault();
      location.hash = "queued=" + encodeURIComponent(edit.getAttribute("data-queue-edit"));
      location.reload();
    }
  });

  // Signing out deletes what the phone keeps (Clear-Site-Data): never silently.
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!form || form.getAttribute("action") !== "/logout" || form.hasAttribute("data-confirmed")) { return; }
    evt.preventDefault();
    all(ITEMS).then(function (items) { return mine(items).length; }, function () { return 0; })
      .then(function (count) {
        if (count > 0 && !window.confirm(signoutText.replace("__COUNT__", String(count)))) { return null; }
        var clear = count > 0
          ? all(ITEMS).then(function (items) {
            return Promise.all(mine(items).map(function (i) { return del(ITEMS, i.key); }));
          })
          : Promise.resolve();
        return clear.catch(function () { return null; }).then(function () {
          form.setAttribute("data-confirmed", "");
          form.submit();
        });
      });
  }, true);

  window.addEventListener("online", function () { showOnline(); sendAll(true); });
  window.addEventListener("offline", showOnline);
  document.addEventListener("DOMContentLoaded", function () {
    showOnline();
    var form = document.querySelector("form[data-queue-form]");
    if (form) { setUpForm(form); }
    render().then(function () { return sendAll(false); });
  });
  // For the browser tests: what the phone keeps.
  window.registrationQueue = {
    items: function () { return all(ITEMS); },
    sent: function () { return all(SENT); },
    send: function () { return sendAll(true); },
  };
})();
