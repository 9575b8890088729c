// Small page helpers; no inline scripts anywhere (the CSP forbids them).
(function () {
  "use strict";
  function flash(message) {
    var box = document.getElementById("flash");
    if (!box) { return; }
    box.innerHTML = "";
    var div = document.createElement("div");
    div.className = "notice bad";
    div.textContent = message;
    box.appendChild(div);
  }
  var lang = document.documentElement.lang || "zh-CN";
  var zh = lang.indexOf("zh") === 0;
  document.addEventListener("htmx:sendError", function () {
    flash(zh ? "没有网络连接：未发送，请稍后重试。" : "No connection: nothing was sent. Try again when you have signal.");
  });
  document.addEventListener("htmx:responseError", function (evt) {
    // Error fragments from our server retarget themselves into #flash; anything else
    // (a proxy's error page) still gets a plain message instead of silence.
    var xhr = evt.detail.xhr;
    if (xhr && xhr.getResponseHeader("HX-Retarget")) { return; }
    flash((zh ? "请求失败（" : "The request failed (") + (xhr ? xhr.status : "?") + (zh ? "），未保存。" : "); nothing was saved."));
  });
  document.addEventListener("htmx:beforeSwap", function (evt) {
    // Show our own error fragments (4xx/5xx) where they ask to go.
    var xhr = evt.detail.xhr;
    if (xhr && xhr.status >= 400 && xhr.getResponseHeader("HX-Retarget")) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
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
