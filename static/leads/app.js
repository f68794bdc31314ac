// The agent's app: live acceptance countdowns. Everything else is server-rendered (htmx).
(function () {
  "use strict";
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = Math.round((Date.parse(el.dataset.due) - now) / 1000);
      if (left <= 0) {
        el.textContent = "overdue";
        el.classList.add("overdue");
        return;
      }
      var m = Math.floor(left / 60), s = left % 60;
      el.textContent = (m >= 60 ? Math.floor(m / 60) + "h " + (m % 60) + "m" : m + ":" + String(s).padStart(2, "0")) + " left";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
})();
