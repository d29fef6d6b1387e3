// Installable app: register the service worker (it caches the shell only), and on the
// alerts page subscribe this phone to Web Push and hand the subscription to the server.
(function () {
  "use strict";
  var link = document.querySelector("link[rel=manifest]");
  var base = link ? link.getAttribute("href").replace(/\/manifest\.webmanifest$/, "") : "";
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(base + "/sw.js", { scope: base + "/" }).catch(function () {});
  }
  function key(text) {
    var pad = "=".repeat((4 - (text.length % 4)) % 4);
    var raw = atob((text + pad).replace(/-/g, "+").replace(/_/g, "/"));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("push-form");
    if (!form) return;
    var status = document.getElementById("push-status");
    form.addEventListener("submit", function (event) {
      if (form.elements.subscription.value) return;  // already filled: send it
      event.preventDefault();
      if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
        status.textContent = "This browser cannot show notifications. Install the app to the home screen first.";
        return;
      }
      Notification.requestPermission().then(function (answer) {
        if (answer !== "granted") throw new Error("Notifications were not allowed.");
        return navigator.serviceWorker.ready;
      }).then(function (registration) {
        return registration.pushManager.subscribe({
          userVisibleOnly: true, applicationServerKey: key(form.dataset.vapid)
        });
      }).then(function (subscription) {
        form.elements.subscription.value = JSON.stringify(subscription);
        form.submit();
      }).catch(function (err) {
        status.textContent = (err && err.message) || "Could not turn notifications on.";
      });
    });
  });
})();
