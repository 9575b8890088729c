// The in-app scanner (templates/checkin/camera.html): the rear camera's live view, decoded
// with jsQR a few times a second on a downscaled canvas. A pass of THIS server opens its scan
// page (the same page a phone's camera app opens); anything else gets a plain message. When
// the camera cannot be used, the code entry form on the same page is the way on.
(function () {
  "use strict";
  var root = document.getElementById("scanner");
  if (!root) { return; }
  var video = document.getElementById("scanner-video");
  var view = document.getElementById("scanner-view");
  var status = document.getElementById("scanner-status");
  var codeInput = document.getElementById("code");
  var scanPath = root.getAttribute("data-scan-path") || "/scan";
  var INTERVAL_MS = 150; // decoding is the costly part: a few times a second is plenty
  var MAX_SIDE = 640; // downscale big camera frames before decoding
  var stream = null;
  var timer = null;
  var leaving = false;
  var notPassAt = 0;
  var canvas = document.createElement("canvas");
  var ctx = canvas.getContext("2d", { willReadFrequently: true });

  function say(key, state) {
    status.textContent = root.getAttribute("data-msg-" + key) || "";
    status.setAttribute("data-state", state);
  }

  function originOf(url) {
    try { return new URL(url).origin; } catch (e) { return ""; }
  }
  var origins = [window.location.origin];
  var configured = originOf(root.getAttribute("data-base-url") || "");
  if (configured && origins.indexOf(configured) < 0) { origins.push(configured); }

  // The scan page's path and query when `text` is a pass of this server, else null.
  function passTarget(text) {
    var url;
    try { url = new URL(text); } catch (e) { return null; }
    if (origins.indexOf(url.origin) < 0 || url.pathname !== scanPath) { return null; }
    var token = url.searchParams.get("p");
    if (!token) { return null; }
    return scanPath + "?p=" + encodeURIComponent(token);
  }

  function stop() {
    if (timer !== null) { window.clearTimeout(timer); timer = null; }
    if (stream) {
      stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }
    if (video) { video.srcObject = null; }
  }

  // No camera: say why in plain words and hand over to the code entry form.
  function wayOn(key) {
    stop();
    if (view) { view.hidden = true; }
    say(key, "fallback");
    root.classList.add("scanner-off");
    if (codeInput) { codeInput.focus(); }
  }

  function tick() {
    timer = null;
    if (!stream || leaving) { return; }
    if (video.readyState >= 2 && video.videoWidth > 0) {
      var scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
      var w = Math.round(video.videoWidth * scale);
      var h = Math.round(video.videoHeight * scale);
      if (canvas.width !== w) { canvas.width = w; }
      if (canvas.height !== h) { canvas.height = h; }
      ctx.drawImage(video, 0, 0, w, h);
      var found = window.jsQR(ctx.getImageData(0, 0, w, h).data, w, h, {
        inversionAttempts: "dontInvert"
      });
      if (found && found.data) {
        var target = passTarget(found.data);
        if (target) {
          leaving = true;
          say("opening", "opening");
          stop();
          window.location.assign(target);
          return;
        }
        say("not-pass", "not-pass");
        notPassAt = Date.now();
      } else if (notPassAt && Date.now() - notPassAt > 3000) {
        // The wrong code has left the view: back to the plain instruction.
        notPassAt = 0;
        say("looking", "looking");
      }
    }
    timer = window.setTimeout(tick, INTERVAL_MS);
  }

  function start() {
    leaving = false;
    if (typeof window.jsQR !== "function" || !window.isSecureContext ||
        !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      wayOn("unsupported");
      return;
    }
    navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: "environment" } }
    }).then(function (s) {
      if (leaving) { s.getTracks().forEach(function (t) { t.stop(); }); return; }
      stream = s;
      video.srcObject = s;
      view.hidden = false;
      root.classList.remove("scanner-off");
      say("looking", "looking");
      var played = video.play();
      if (played && played.catch) { played.catch(function () { /* autoplay: muted, fine */ }); }
      timer = window.setTimeout(tick, INTERVAL_MS);
    }).catch(function (err) {
      var name = err && err.name;
      if (name === "NotAllowedError" || name === "SecurityError") { wayOn("denied"); }
      else if (name === "NotFoundError" || name === "OverconstrainedError") { wayOn("no-camera"); }
      else { wayOn("failed"); }
    });
  }

  // Leaving the page (or hiding it) releases the camera; coming back starts it again.
  window.addEventListener("pagehide", function () { leaving = true; stop(); });
  window.addEventListener("pageshow", function (evt) { if (evt.persisted) { start(); } });
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { stop(); }
    else if (!stream && !leaving && status.getAttribute("data-state") !== "fallback") { start(); }
  });
  start();
})();
