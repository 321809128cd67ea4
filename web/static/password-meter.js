/*
 * Password meter: a hint while a new password is typed. It never blocks or changes submission;
 * the server's check (models/passwords.py) decides. No dependencies, no inline script.
 *
 * Markup:
 *   <input class="usa-input" id="password" name="password" type="password" autocomplete="new-password"
 *          data-password-meter="password-strength" aria-describedby="password-hint password-strength">
 *   <span id="password-strength" class="usa-hint" aria-live="polite"
 *         data-label-short="Too short" data-label-weak="Weak"
 *         data-label-fair="Fair" data-label-strong="Strong"></span>
 *
 * The words come from the data-label-* attributes (translated by the template). The element also
 * gets data-strength="short|weak|fair|strong" (removed when the field is empty) for styling.
 * Length counts characters as the server does (NFKC, one per code point); no composition rules.
 */
(function () {
  "use strict";

  var MIN_LENGTH = 12;
  var SEQUENCES = ["0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm"];
  var CLASSES = [/\p{Ll}/u, /\p{Lu}/u, /\p{N}/u, /\s/u, /[^\p{L}\p{N}\s]/u];

  function characters(value) {
    return Array.from(value.normalize ? value.normalize("NFKC") : value);
  }

  // How much of the password walks along a sequence or repeats the character before it.
  function predictable(chars) {
    var steps = 0;
    for (var i = 1; i < chars.length; i++) {
      var pair = (chars[i - 1] + chars[i]).toLowerCase();
      var reversed = pair.charAt(1) + pair.charAt(0);
      if (pair.charAt(0) === pair.charAt(1)) {
        steps++;
        continue;
      }
      for (var s = 0; s < SEQUENCES.length; s++) {
        if (SEQUENCES[s].indexOf(pair) !== -1 || SEQUENCES[s].indexOf(reversed) !== -1) {
          steps++;
          break;
        }
      }
    }
    return chars.length > 1 ? steps / (chars.length - 1) : 1;
  }

  function rate(value) {
    var chars = characters(value);
    if (chars.length === 0) return "";
    if (chars.length < MIN_LENGTH) return "short";
    var unique = new Set(chars.map(function (c) { return c.toLowerCase(); })).size;
    if (unique < 5 || predictable(chars) > 0.6) return "weak";
    var kinds = CLASSES.filter(function (re) { return re.test(value); }).length;
    var points = 0;
    if (chars.length >= 16) points++;
    if (chars.length >= 20) points++;
    if (unique >= 10) points++;
    if (kinds >= 2) points++;
    return points >= 3 ? "strong" : points >= 1 ? "fair" : "weak";
  }

  function update(input) {
    var output = document.getElementById(input.getAttribute("data-password-meter"));
    if (!output) return;
    var level = rate(input.value || "");
    if ((output.getAttribute("data-strength") || "") === level) return; // announce changes only
    if (level) {
      output.setAttribute("data-strength", level);
      output.textContent = output.getAttribute("data-label-" + level) || "";
    } else {
      output.removeAttribute("data-strength");
      output.textContent = "";
    }
  }

  function scan(root) {
    var inputs = (root || document).querySelectorAll("input[data-password-meter]");
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].value) update(inputs[i]);
    }
  }

  // Delegated, so fields that htmx swaps in work without binding again.
  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target && target.matches && target.matches("input[data-password-meter]")) update(target);
  });
  document.addEventListener("htmx:load", function (event) { scan(event.target); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { scan(document); });
  } else {
    scan(document);
  }
})();
