// The requests pages' live updates: follow the page's event stream and,
// when something happened, fetch the page again and put its live part in
// place of this one's. No framework, no build step.
(function () {
  "use strict";
  var main = document.querySelector("main[data-live]");
  var status = document.getElementById("live-status");
  if (!main || !window.EventSource) {
    if (status) status.textContent = "not live";
    return;
  }
  var pending = null;
  function refresh() {
    pending = null;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        var cur = document.getElementById("live");
        if (next && cur) {
          cur.replaceWith(document.importNode(next, true));
          document.body.setAttribute("data-updated", String(Date.now()));
        }
      })
      .catch(function () { /* the next event tries again */ });
  }
  var source = new EventSource(main.getAttribute("data-live"));
  source.onopen = function () {
    if (status) { status.textContent = "live"; status.className = "live on"; }
  };
  source.onerror = function () {
    if (status) { status.textContent = "reconnecting…"; status.className = "live"; }
  };
  source.onmessage = function () {
    if (pending === null) pending = window.setTimeout(refresh, 250);
  };
})();
