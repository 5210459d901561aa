// Parapet operator UI: small progressive enhancement; every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // A form posts once: its button is disabled while the next page loads (double taps on a phone).
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        window.setTimeout(function () { b.disabled = true; }, 0);
      });
    });
  });
  // A page waiting for something (a mitigation's run) checks again by itself; without JavaScript, its link does.
  document.querySelectorAll("[data-reload-after]").forEach(function (el) {
    var seconds = parseFloat(el.getAttribute("data-reload-after")) || 2;
    window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
  });
  // The retrospective's copy button (hidden without JavaScript: the text area can be selected by hand).
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    var status = button.parentNode.querySelector(".copy-status");
    if (!source || !navigator.clipboard) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.value).then(function () {
        if (status) { status.textContent = "Copied."; }
      }, function () {
        source.select();
        if (status) { status.textContent = "Select and copy the text below."; }
      });
    });
  });
});
