// Progressive enhancement only: every form works without this file.
(function () {
  "use strict";
  // People-count stepper: − and + around a number input.
  document.querySelectorAll("[data-stepper]").forEach(function (box) {
    var input = box.querySelector("input");
    box.querySelectorAll("button[data-step]").forEach(function (button) {
      button.addEventListener("click", function () {
        var min = parseInt(input.min || "1", 10), max = parseInt(input.max || "500", 10);
        var value = (parseInt(input.value, 10) || min) + parseInt(button.dataset.step, 10);
        input.value = Math.min(max, Math.max(min, value));
      });
    });
  });
})();
