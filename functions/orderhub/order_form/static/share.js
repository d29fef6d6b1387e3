// Payment links: the Share button opens the phone's share sheet (Web Share API); where
// there is none (most desktop browsers), it copies the message with the link instead.
(function () {
  "use strict";
  function copy(text, button) {
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () { button.textContent = "Copy failed"; });
    } else {
      var area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy"); done(); } catch (e) { button.textContent = "Copy failed"; }
      document.body.removeChild(area);
    }
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-share]"), function (button) {
    button.addEventListener("click", function () {
      var url = button.getAttribute("data-url"), text = button.getAttribute("data-text") || url;
      var data = { title: "Payment link", text: text, url: url };
      if (navigator.share && (!navigator.canShare || navigator.canShare(data))) {
        navigator.share(data).then(function () { button.textContent = "Shared"; }, function (err) {
          if (err && err.name !== "AbortError") copy(text, button);
        });
      } else {
        copy(text, button);
      }
    });
  });
})();
