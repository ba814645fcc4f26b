// motcua reports: the print button (no inline script: the pages' CSP allows scripts from files only).
(function () {
  "use strict";
  const button = document.getElementById("print");
  if (button) button.addEventListener("click", () => window.print());
})();
