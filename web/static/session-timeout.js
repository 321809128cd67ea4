// Warns a signed-in person five minutes before the idle sign-out, with a "Stay signed in" button.
// Without JavaScript nothing changes: the session simply ends after the idle time.
(function () {
  "use strict";
  var body = document.body;
  var minutes = parseInt(body.getAttribute("data-session-idle-minutes") || "", 10);
  var warning = document.getElementById("session-warning");
  if (!minutes || !warning) { return; }
  var warnAfter = Math.max(minutes - 5, 1) * 60 * 1000;
  var timer = null;

  function restart() {
    warning.hidden = true;
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(function () { warning.hidden = false; }, warnAfter);
  }

  // Any request that reaches the server (a page, an htmx swap, the button) restarts the idle time.
  body.addEventListener("htmx:afterRequest", function (event) {
    var path = event.detail && event.detail.pathInfo && event.detail.pathInfo.requestPath;
    // The case page's automatic polling does not count as activity on the server either.
    if (path && path.indexOf("since=") !== -1) { return; }
    restart();
  });
  restart();
})();
