// Small page helpers; no inline scripts anywhere (the CSP forbids them).
(function () {
  "use strict";
  var lang = document.documentElement.lang || "zh-CN";
  var zh = lang.indexOf("zh") === 0;
  // Messages come translated from the template (data-msg-* on this script tag); the
  // fallbacks only serve a page that lacks them.
  var me = document.currentScript;
  function msg(name, zhText, enText) {
    var v = me && me.getAttribute("data-msg-" + name);
    return v || (zh ? zhText : enText);
  }
  var OFFLINE = msg("offline", "没有网络连接：未发送，也未保存。有信号时请重试。",
    "No connection: nothing was sent or saved. Try again when you have signal.");
  var FAILED = msg("failed", "请求失败（错误 __STATUS__）：未保存。请重试。",
    "The request failed (error __STATUS__): nothing was saved. Try again.");
  var RETRY = msg("retry", "重试", "Try again");

  // htmx errors and lost connections (issue 5: never a control that silently does nothing).
  // The message goes in a box right after the control that made the request (role=alert), so
  // a phone user sees it where they are looking; one box per control, cleared by its next
  // successful request. The control itself stays usable: htmx never disables it here.
  function keyOf(elt) {
    if (!elt || !elt.getAttribute) { return ""; }
    return elt.id || elt.getAttribute("hx-get") || elt.getAttribute("hx-post") || "";
  }
  function anchorOf(elt) {
    if (elt.tagName === "FORM") {
      // A form that shows its answer inside itself (the registration's warnings): the box
      // goes after that answer; a filter form's box goes right after the form.
      var sel = elt.getAttribute("hx-target") || "";
      var target = sel.charAt(0) === "#" ? document.querySelector(sel) : null;
      return target && elt.contains(target) ? target : elt;
    }
    // After the control's label or row, not inside it.
    return (elt.closest && elt.closest("label, .row")) || elt;
  }
  function findBox(key) {
    var boxes = document.querySelectorAll("[data-htmx-error]");
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].getAttribute("data-htmx-error") === key) { return boxes[i]; }
    }
    return null;
  }
  function errorBox(elt) {
    var key = keyOf(elt);
    if (!key || !elt.isConnected) { return document.getElementById("flash"); }
    var box = findBox(key);
    if (!box) {
      box = document.createElement("div");
      box.className = "notice bad htmx-error";
      box.setAttribute("role", "alert");
      box.setAttribute("data-htmx-error", key);
      var anchor = anchorOf(elt);
      anchor.parentNode.insertBefore(box, anchor.nextSibling);
    }
    return box;
  }
  function retryButton(elt, box) {
    // A part that loads by itself when the page opens has no control to use again: offer one.
    if (!/\bload\b/.test(elt.getAttribute("hx-trigger") || "") || !window.htmx) { return; }
    var path = elt.getAttribute("hx-get");
    if (!path) { return; }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "retry";
    button.textContent = RETRY;
    button.addEventListener("click", function () {
      window.htmx.ajax("GET", path, { source: elt });
    });
    box.appendChild(button);
  }
  function showError(elt, message, kind) {
    var box = errorBox(elt);
    if (!box) { return; }
    box.innerHTML = "";
    box.setAttribute("data-kind", kind);
    var p = document.createElement("p");
    p.textContent = message;
    box.appendChild(p);
    if (box.id !== "flash") { retryButton(elt, box); }
  }
  function eltOf(evt) {
    var d = evt.detail || {};
    // The control that made the request (detail.elt may be the swap's target instead).
    return (d.requestConfig && d.requestConfig.elt) || d.elt || evt.target;
  }
  function lost(evt) {
    var elt = eltOf(evt);
    // The visit card's pass has its own offline banner and computes the pass itself.
    if (elt && elt.id === "pass" && document.getElementById("offline-banner")) { return; }
    showError(elt, OFFLINE, "offline");
  }
  document.addEventListener("htmx:sendError", lost);
  document.addEventListener("htmx:timeout", lost);
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr;
    if (!xhr || xhr.status < 400) { return; }
    var elt = eltOf(evt);
    if (xhr.getResponseHeader("HX-Retarget")) {
      // Our own error fragment (translated, with its request id): shown beside the control.
      var box = errorBox(elt);
      if (box) {
        box.setAttribute("data-kind", "server");
        evt.detail.target = box;
        evt.detail.swapOverride = "innerHTML";
        if (box.id !== "flash") {
          // After the swap, under the server's message.
          setTimeout(function () { retryButton(elt, box); }, 0);
        }
      }
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
      return;
    }
    // Anything else (a proxy's error page, a gateway timeout): a plain message instead.
    evt.detail.shouldSwap = false;
    showError(elt, FAILED.replace("__STATUS__", String(xhr.status)), "failed");
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    var d = evt.detail || {};
    if (!d.successful || !d.xhr || d.xhr.status >= 400) { return; }
    var box = findBox(keyOf(eltOf(evt)));
    if (box && box.parentNode) { box.parentNode.removeChild(box); }
  });
  document.addEventListener("click", function (evt) {
    var t = evt.target;
    if (t && t.matches && t.matches("[data-confirm]")) {
      if (!window.confirm(t.getAttribute("data-confirm"))) { evt.preventDefault(); }
    }
  });
})();

// Scan page: send the phone's own clock with a confirming scan (stored beside the server's).
(function () {
  "use strict";
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!form || !form.querySelectorAll) { return; }
    var fields = form.querySelectorAll("input[name=device_time]");
    for (var i = 0; i < fields.length; i++) { fields[i].value = new Date().toISOString(); }
  });
})();

// Preferences: "this phone's time zone" is the zone the browser reports (Intl), filled in here;
// without script the option is empty and saving keeps the zone as it was.
(function () {
  "use strict";
  function fill() {
    var opts = document.querySelectorAll("option[data-device-tz]");
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    for (var i = 0; i < opts.length; i++) {
      if (!zone) { opts[i].disabled = true; continue; }
      opts[i].value = zone;
      opts[i].textContent = opts[i].textContent + " (" + zone + ")";
    }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", fill); } else { fill(); }
})();
