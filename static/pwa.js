// The installable app: register the service worker (static/sw.js, served at /sw.js), and keep
// the visit card's pass rotating with no network. No inline script anywhere (the CSP).
(function () {
  "use strict";
  var me = document.currentScript;

  if ("serviceWorker" in navigator) {
    if (me && me.hasAttribute("data-signed-out")) {
      // The sign-in page: nothing cached for the previous user may survive (shared phones).
      // The sign-out response already sends Clear-Site-Data; this is the second lock.
      if (window.caches) {
        caches.keys().then(function (keys) {
          keys.forEach(function (k) { if (k.indexOf("cards-") === 0) { caches.delete(k); } });
        });
      }
      if (navigator.serviceWorker.controller) {
        navigator.serviceWorker.controller.postMessage({ type: "clear" });
      }
    }
    // /sw.js?v=<hash of the files it stores> (base.html): a deploy that changes them
    // installs the worker again, which stores the new ones (the visit cards are kept).
    var swUrl = (me && me.getAttribute("data-sw")) || "/sw.js";
    navigator.serviceWorker.register(swUrl, { scope: "/" }).catch(function () {
      // No service worker (private mode, old browser): the app still works online.
    });
  }

  var QR_SRC = "/static/vendor/qrcode-generator-2.0.4.js";
  var SINCE_KEY = "offline-since";

  function b64urlBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out;
  }

  function b64url(bytes) {
    var bin = "";
    var arr = new Uint8Array(bytes);
    for (var i = 0; i < arr.length; i++) { bin += String.fromCharCode(arr[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function utf8(text) { return new TextEncoder().encode(text); }

  function hmac(hash, secret, data) {
    return crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: hash }, false, ["sign"])
      .then(function (key) { return crypto.subtle.sign("HMAC", key, data); });
  }

  // The same token as webapp.auth.security.issue_pass_token: HS256 over python-jose's
  // compact JSON (header keys sorted, claims in this order).
  function passToken(p, step) {
    var header = '{"alg":"HS256","typ":"pass+jwt"}';
    var claims = "{" +
      '"iss":"inspection-registry",' +
      '"aud":"checkin",' +
      '"sub":' + JSON.stringify(p.sub) + "," +
      '"ent":' + p.ent + "," +
      '"stp":' + step + "," +
      '"iat":' + step * p.stepSeconds + "," +
      '"exp":' + (step + p.acceptedSteps) * p.stepSeconds +
      "}";
    var signing = b64url(utf8(header)) + "." + b64url(utf8(claims));
    return hmac("SHA-256", p.secret, utf8(signing)).then(function (sig) {
      return signing + "." + b64url(sig);
    });
  }

  // HOTP (RFC 4226) over the time step, as webapp.auth.security.code_digits.
  function codeDigits(secret, step) {
    var msg = new ArrayBuffer(8);
    var view = new DataView(msg);
    view.setUint32(0, Math.floor(step / 4294967296));
    view.setUint32(4, step >>> 0);
    return hmac("SHA-1", secret, msg).then(function (sig) {
      var mac = new Uint8Array(sig);
      var off = mac[mac.length - 1] & 0x0f;
      var value = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
      var digits = String(value % 1000000);
      while (digits.length < 6) { digits = "0" + digits; }
      return digits;
    });
  }

  function shortCode(p, step) {
    return codeDigits(p.secret, step).then(function (d) {
      return p.prefix + "-" + d.slice(0, 3) + "-" + d.slice(3);
    });
  }

  function readPass(el) {
    return {
      sub: el.getAttribute("data-sub"),
      secret: b64urlBytes(el.getAttribute("data-secret")),
      ent: parseInt(el.getAttribute("data-ent"), 10),
      prefix: el.getAttribute("data-prefix"),
      stepSeconds: parseInt(el.getAttribute("data-step-seconds"), 10),
      acceptedSteps: parseInt(el.getAttribute("data-accepted-steps"), 10),
      scanUrl: el.getAttribute("data-scan-url"),
    };
  }

  // For the browser tests: the same computation the card runs, on fixed inputs.
  window.offlinePass = {
    token: function (secretB64, sub, ent, step, stepSeconds, acceptedSteps) {
      return passToken({ sub: sub, secret: b64urlBytes(secretB64), ent: ent,
        stepSeconds: stepSeconds, acceptedSteps: acceptedSteps }, step);
    },
    code: function (secretB64, prefix, step) {
      return shortCode({ secret: b64urlBytes(secretB64), prefix: prefix }, step);
    },
  };

  // The user's display zone (the `tz` preference), given by the page: <html data-tz>.
  var ZONE = document.documentElement.getAttribute("data-tz") || "Asia/Shanghai";
  try { new Intl.DateTimeFormat("en-GB", { timeZone: ZONE }); } catch (e) { ZONE = "Asia/Shanghai"; }
  var TIME = new Intl.DateTimeFormat("en-GB", {
    timeZone: ZONE, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  var HM = new Intl.DateTimeFormat("en-GB", {
    timeZone: ZONE, hour: "2-digit", minute: "2-digit", hour12: false,
  });

  function passEl() { return document.querySelector("#pass[data-offline-pass]"); }

  var offline = false;
  var shownStep = null;
  var qrLoading = null;

  function loadQr() {
    if (window.qrcode) { return Promise.resolve(window.qrcode); }
    if (!qrLoading) {
      qrLoading = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = QR_SRC;
        s.onload = function () { resolve(window.qrcode); };
        s.onerror = reject;
        document.head.appendChild(s);
      });
    }
    return qrLoading;
  }

  function drawPass() {
    var el = passEl();
    if (!el) { return; }
    var p = readPass(el);
    var step = Math.floor(Date.now() / 1000 / p.stepSeconds);
    if (step === shownStep) { return; }
    shownStep = step;
    Promise.all([passToken(p, step), shortCode(p, step), loadQr()]).then(function (r) {
      if (!offline || shownStep !== step) { return; }
      var qr = r[2](0, "M"); // error correction M, as the server's QR
      qr.addData(p.scanUrl + r[0]);
      qr.make();
      var img = document.createElement("img");
      img.className = "qr";
      img.alt = "";
      img.src = qr.createDataURL(8, 4); // 4-module quiet zone, as the server's QR
      img.setAttribute("data-step", String(step));
      el.setAttribute("data-drawn", "");
      var box = el.querySelector(".qr-box");
      box.innerHTML = "";
      box.appendChild(img);
      var code = el.querySelector("[data-short-code]");
      if (code) { code.textContent = r[1]; }
      var expiry = el.querySelector("[data-pass-expiry]");
      var until = new Date((step + p.acceptedSteps) * p.stepSeconds * 1000);
      if (expiry) {
        expiry.textContent = el.getAttribute("data-valid-until").replace("__TIME__", TIME.format(until));
      }
    });
  }

  function showBanner() {
    var banner = document.getElementById("offline-banner");
    if (!banner) { return; }
    var since = parseInt(sessionStorage.getItem(SINCE_KEY) || "0", 10) || Date.now();
    banner.textContent = banner.getAttribute("data-template").replace("__TIME__", HM.format(new Date(since)));
    banner.hidden = !offline;
  }

  function goOffline() {
    if (!sessionStorage.getItem(SINCE_KEY)) { sessionStorage.setItem(SINCE_KEY, String(Date.now())); }
    offline = true;
    document.documentElement.classList.add("is-offline");
    showBanner();
    drawPass();
  }

  function backOnline(refresh) {
    if (!offline) { return; }
    sessionStorage.removeItem(SINCE_KEY);
    offline = false;
    shownStep = null;
    document.documentElement.classList.remove("is-offline");
    showBanner();
    // The server's pass again, at once rather than at the next poll.
    var el = passEl();
    if (refresh && el && window.htmx) {
      window.htmx.ajax("GET", el.getAttribute("hx-get"), { target: el, swap: "outerHTML" });
    }
  }
  function goOnline() { backOnline(true); }

  window.addEventListener("offline", goOffline);
  window.addEventListener("online", goOnline);
  // A failed poll means no network even when the phone thinks it has some (one bar).
  document.addEventListener("htmx:sendError", function (evt) {
    if (evt.target && evt.target.id === "pass") { goOffline(); }
  });
  // With no network at all the card computes the pass itself: no poll that can only fail.
  document.addEventListener("htmx:beforeRequest", function (evt) {
    if (!navigator.onLine && evt.target && evt.target.id === "pass") { evt.preventDefault(); }
  });
  // A poll that got through: the server's pass is shown again.
  document.addEventListener("htmx:afterRequest", function (evt) {
    if (evt.detail && evt.detail.successful && evt.target && evt.target.id === "pass") { backOnline(false); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    if (!navigator.onLine) { goOffline(); }
  });
  setInterval(function () {
    if (!offline) { return; }
    var el = passEl();
    if (navigator.onLine && el && shownStep !== null && !el.hasAttribute("data-drawn")) {
      backOnline(false); // a poll got through and swapped in the server's pass
      return;
    }
    drawPass();
  }, 1000);
})();
