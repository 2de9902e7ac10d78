// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // Region select submits itself on change (the Apply button stays for keyboard users who prefer it).
    document.querySelectorAll("select.js-autosubmit").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    // Confirmation before destructive actions.
    document.querySelectorAll("form.js-confirm").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
      });
    });
    // Copy buttons.
    document.querySelectorAll(".js-copy").forEach(function (button) {
      if (!navigator.clipboard) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        var target = document.getElementById(button.dataset.copy);
        if (target) { navigator.clipboard.writeText(target.textContent.trim()); }
      });
    });
    // Generate statement: show only the fields of the chosen policy type.
    var types = document.querySelectorAll("input.js-policy-type");
    function showPolicyType() {
      var chosen = document.querySelector("input.js-policy-type:checked");
      document.querySelectorAll(".policy-section").forEach(function (section) {
        section.hidden = !!chosen && section.dataset.policyType !== chosen.value;
      });
    }
    types.forEach(function (radio) { radio.addEventListener("change", showPolicyType); });
    if (types.length) { showPolicyType(); }
    // Creation template: the prefix field only for "a specific prefix".
    var scopes = document.querySelectorAll("input.js-scope");
    function showPrefix() {
      var chosen = document.querySelector("input.js-scope:checked");
      var field = document.getElementById("prefix-field");
      if (field) { field.hidden = !!chosen && chosen.value === "root"; }
    }
    scopes.forEach(function (radio) { radio.addEventListener("change", showPrefix); });
    if (scopes.length) { showPrefix(); }
  });
})();
