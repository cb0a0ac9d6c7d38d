// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  // Visual-analogue lines: swap the number field for a slider that starts unanswered. The
  // slider writes into the number field (the one that is sent) only once the client touches,
  // drags or arrow-keys it, so an untouched line is sent empty and the server asks for it.
  document.querySelectorAll("[data-vas]").forEach(function (box) {
    var typed = document.getElementById(box.dataset.vas);
    var typedBox = document.querySelector("[data-vas-typed='" + box.dataset.vas + "']");
    var slider = box.querySelector("input[type=range]");
    var out = box.querySelector("output");
    var state = document.getElementById(slider.getAttribute("aria-describedby"));
    if (!typed || !typedBox || !state) { return; }
    var show = function (answered) {
      box.classList.toggle("unanswered", !answered);
      state.classList.toggle("unanswered", !answered);
      if (answered) {
        var shown = Number(slider.value).toFixed(1);
        out.value = shown;
        state.textContent = "Your answer: " + shown;
        slider.removeAttribute("aria-valuetext");
      } else {
        out.value = "\u2013";
        state.textContent = "Not answered yet: touch or drag the line, or use the arrow keys.";
        slider.setAttribute("aria-valuetext", "not answered yet");
      }
    };
    var answer = function () {
      typed.value = slider.value;
      show(true);
    };
    if (typed.value !== "") { slider.value = typed.value; }
    show(typed.value !== "");
    typedBox.hidden = true;
    box.hidden = false;
    state.hidden = false;
    slider.addEventListener("input", answer);
    slider.addEventListener("change", answer);
    // A tap exactly on the hidden middle changes nothing, so no input event: count it anyway.
    slider.addEventListener("pointerup", answer);
  });
  // Copy-link buttons: shown only where the script runs; without it the address is plain
  // selectable text in a read-only field.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.dataset.copy);
    var status = document.querySelector("[data-copy-status='" + button.dataset.copy + "']");
    if (!field) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var said = function (text) { if (status) { status.textContent = text; } };
      field.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(
          function () { said("Link copied."); },
          function () { said("Press Ctrl+C (or Cmd+C) to copy the selected link."); }
        );
      } else {
        // Plain http on a clinic network has no clipboard API: the older command still works.
        said(document.execCommand("copy") ? "Link copied." : "Press Ctrl+C to copy the selected link.");
      }
    });
  });
  // A refused form: bring the first field in error into view and put the cursor in it, so the
  // message is where the eye is, not at the top of a long page.
  var invalid = document.querySelector("[aria-invalid='true']");
  if (invalid) {
    invalid.scrollIntoView({ block: "center" });
    invalid.focus({ preventScroll: true });
  }
  // Draw each chart from its inline Vega-Lite spec with the vendored bundle.
  document.querySelectorAll("script[type='application/vnd.vegalite+json']").forEach(function (node) {
    var target = document.getElementById(node.dataset.target);
    if (!target || typeof vegaEmbed !== "function") { return; }
    vegaEmbed(target, JSON.parse(node.textContent), { actions: false, renderer: "svg" })
      .then(function () { target.setAttribute("data-rendered", "1"); })
      .catch(function () { target.setAttribute("data-rendered", "error"); });
  });
})();
