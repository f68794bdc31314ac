(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var params = new URLSearchParams(window.location.search);
  var query = new URLSearchParams({ embed: "1", page_url: window.location.href.slice(0, 2000) });
  if (document.referrer) { query.set("referrer", document.referrer.slice(0, 2000)); }
  ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "gclid", "fbclid"].forEach(function (name) {
    if (params.get(name)) { query.set(name, params.get(name).slice(0, 255)); }
  });
  ["lead_type", "zip_code", "mls_number", "property_address"].forEach(function (name) {
    var value = script.getAttribute("data-" + name.replace(/_/g, "-"));
    if (value) { query.set(name, value); }
  });
  var frame = document.createElement("iframe");
  frame.src = "{{ form_url|escapejs }}?" + query.toString();
  frame.title = script.getAttribute("data-title") || "Contact form";
  frame.style.cssText = "width:100%;border:0;min-height:560px;";
  frame.setAttribute("loading", "lazy");
  script.parentNode.insertBefore(frame, script.nextSibling);
  window.addEventListener("message", function (event) {
    if (event.origin !== "{{ site_origin|escapejs }}" || event.source !== frame.contentWindow) { return; }
    var data = event.data || {};
    if (data.leadline === "resize" && typeof data.height === "number") {
      frame.style.height = Math.ceil(data.height) + "px";
    }
  });
})();
