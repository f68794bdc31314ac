(function () {
  "use strict";
  function report() {
    window.parent.postMessage({ leadline: "resize", height: document.documentElement.scrollHeight }, "*");
  }
  window.addEventListener("load", report);
  window.addEventListener("resize", report);
  report();
})();
