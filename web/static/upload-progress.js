// Shows how far an upload has gone, for forms marked data-upload-progress, when htmx sends them
// (the page boosts its forms). Without JavaScript the form posts as usual and nothing here runs.
//
// It also keeps USWDS's file inputs enhanced after htmx swaps. htmx "settles" an element whose id
// was on the page before the swap: it gives the new element the old one's class while USWDS's
// script runs again, then puts the new class back. A file input that USWDS had enhanced thus
// comes back plain after a swap (the documents page after an upload, the case page after a poll),
// so once the swap has settled, USWDS's script runs once more to enhance it. USWDS has no API to
// enhance one element; its script only enhances what is not enhanced yet.
(function () {
  "use strict";
  // htmx runs the scripts of every page it swaps in: listen once.
  if (window.caselineUploadsReady) { return; }
  window.caselineUploadsReady = true;

  var USWDS_SCRIPT = "/static/uswds/js/uswds.min.js";

  function progressOf(event) {
    var form = event.target && event.target.closest ? event.target.closest("form[data-upload-progress]") : null;
    return form ? form.querySelector(".caseline-upload-progress") : null;
  }

  document.body.addEventListener("htmx:xhr:progress", function (event) {
    var box = progressOf(event);
    if (!box || !event.detail || !event.detail.lengthComputable || !event.detail.total) { return; }
    var percent = Math.floor((event.detail.loaded / event.detail.total) * 100);
    box.hidden = false;
    box.querySelector("progress").value = percent;
    box.querySelector(".caseline-upload-progress__text").textContent = percent + "%";
  });

  var enhancing = false;
  document.body.addEventListener("htmx:afterSettle", function () {
    // USWDS renames an input it enhances to .usa-file-input__input: a plain one is not enhanced.
    if (enhancing || !window.uswdsPresent || !document.querySelector("input.usa-file-input")) { return; }
    enhancing = true;
    var script = document.createElement("script");
    script.src = USWDS_SCRIPT;
    script.onload = script.onerror = function () {
      enhancing = false;
      script.remove();
    };
    document.body.appendChild(script);
  });
})();
