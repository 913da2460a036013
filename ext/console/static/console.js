// berth web console: the little script it needs, no build step. Buttons
// with data-copy copy their text (the pull command, a robot's secret) to
// the clipboard and say so in the nearest live region.
"use strict";
document.addEventListener("click", function (ev) {
  var b = ev.target.closest("button[data-copy]");
  if (!b) return;
  var text = b.getAttribute("data-copy");
  var status = document.querySelector(".copied");
  var done = function (msg) { if (status) status.textContent = msg; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(function () { done("Copied: " + text); }, function () { fallback(); });
  } else {
    fallback();
  }
  function fallback() {
    var t = document.createElement("textarea");
    t.value = text;
    t.setAttribute("readonly", "");
    t.style.position = "absolute";
    t.style.left = "-9999px";
    document.body.appendChild(t);
    t.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(t);
    done(ok ? "Copied: " + text : "Copy this: " + text);
    b.focus();
  }
});
