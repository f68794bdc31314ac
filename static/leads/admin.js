// Operations' admin: a raw body shown in a read-only field (an inbound request, a webhook's
// payload) arrives as one long line. JSON is shown indented, a form body one field a line
// (as sent, still encoded); anything else is left as it is. The stored bytes never change.
(function () {
  "use strict";
  function layOut(text) {
    var trimmed = text.trim();
    if (trimmed.charAt(0) === "{" || trimmed.charAt(0) === "[") {
      try { return JSON.stringify(JSON.parse(trimmed), null, 2); } catch (e) { return null; }
    }
    if (/^[^\s=&]+=[^\s&]*(&[^\s=&]+=[^\s&]*)+$/.test(trimmed)) return trimmed.split("&").join("\n&");
    return null;
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".readonly pre").forEach(function (pre) {
      var laid = layOut(pre.textContent);
      if (laid === null) return;
      pre.textContent = laid;
      pre.classList.add("laid-out");
    });
  });
})();
